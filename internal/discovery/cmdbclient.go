package discovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// CMDBClient sends observation batches to the cmdb's GraphQL endpoint.
type CMDBClient struct {
	url       string
	token     Secret
	collector string
	http      *http.Client
	// OnAssigned, when set, learns which asset each delivered observation belongs to.
	OnAssigned func(batch []observation.Observation, assetIDs []string)
}

// NewCMDBClient builds a client from the collector's cmdb settings.
func NewCMDBClient(cfg CMDBConfig, collector string) (*CMDBClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cmdb.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cmdb.ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &CMDBClient{url: cfg.URL, token: cfg.Token, collector: collector, http: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

const reportMutation = `mutation Report($batch: ObservationBatch!) {
  reportObservations(batch: $batch) { accepted duplicates rejected { id reason } assetIds }
}`

// Send implements Sender. A rejected observation is not retried (it will never be
// accepted); the batch as a whole counts as delivered.
func (c *CMDBClient) Send(ctx context.Context, batch []observation.Observation) error {
	res, err := c.Report(ctx, batch)
	if err != nil {
		return err
	}
	if c.OnAssigned != nil && len(res.AssetIDs) == len(batch) {
		c.OnAssigned(batch, res.AssetIDs)
	}
	if len(res.Rejected) > 0 {
		return &RejectedError{Rejected: len(res.Rejected), First: res.Rejected[0].ID + ": " + res.Rejected[0].Reason}
	}
	return nil
}

// RejectedError says the cmdb refused some observations as invalid. It is not a
// delivery failure: resending would be refused again.
type RejectedError struct {
	Rejected int
	First    string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("cmdb rejected %d observation(s), first: %s", e.Rejected, e.First)
}

// Report sends a batch and returns the cmdb's result.
func (c *CMDBClient) Report(ctx context.Context, batch []observation.Observation) (*observation.ReportResult, error) {
	body, err := json.Marshal(map[string]any{
		"query":     reportMutation,
		"variables": map[string]any{"batch": map[string]any{"collector": c.collector, "observations": batch}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posting to cmdb: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading cmdb answer: %w", err)
	}
	var out struct {
		Data struct {
			ReportObservations *observation.ReportResult `json:"reportObservations"`
		} `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("cmdb answered HTTP %d with %q", resp.StatusCode, truncate(string(raw), 200))
	}
	if len(out.Errors) > 0 {
		msgs := make([]string, 0, len(out.Errors))
		for _, e := range out.Errors {
			msgs = append(msgs, e.Message)
		}
		err := fmt.Errorf("cmdb answered HTTP %d: %s", resp.StatusCode, strings.Join(msgs, "; "))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return nil, &ClientError{Status: resp.StatusCode, Err: err}
		}
		return nil, err
	}
	if out.Data.ReportObservations == nil {
		return nil, fmt.Errorf("cmdb answered HTTP %d without a result", resp.StatusCode)
	}
	return out.Data.ReportObservations, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ClientError is a 4xx answer from the cmdb.
type ClientError struct {
	Status int
	Err    error
}

func (e *ClientError) Error() string { return e.Err.Error() }
func (e *ClientError) Unwrap() error { return e.Err }

// Permanent reports whether resending the same batch can never succeed: a bad request
// can not, whereas a token problem (401/403), a timeout (408) or rate limiting (429)
// can clear up.
func (e *ClientError) Permanent() bool {
	switch e.Status {
	case 401, 403, 408, 429:
		return false
	}
	return true
}
