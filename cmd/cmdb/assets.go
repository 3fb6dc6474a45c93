package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/cli"
)

// apiFlags say which running cmdb to talk to: import and export go through its API,
// so the server that owns the working set applies and audits every change.
type apiFlags struct {
	url, token, dataDir string
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", cli.Env("CMDB_URL", "http://127.0.0.1:8080/graphql"), "GraphQL endpoint of the running cmdb")
	fs.StringVar(&f.token, "token", cli.Env("CMDB_TOKEN", ""), "bearer token (biomed or admin); default: <data-dir>/admin.token")
	fs.StringVar(&f.dataDir, "data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "where to find admin.token when --token is not given")
}

func (f *apiFlags) client() (*apiClient, error) {
	tok := strings.TrimSpace(f.token)
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(f.dataDir, "admin.token"))
		if err != nil {
			return nil, fmt.Errorf("no --token (or CMDB_TOKEN) and no admin token: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	return &apiClient{url: f.url, token: tok, http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

type apiClient struct {
	url, token string
	http       *http.Client
}

func (c *apiClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--url %s: %w", c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cmdb at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("cmdb at %s: %w", c.url, err)
	}
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("cmdb at %s: HTTP %d, not a GraphQL answer", c.url, resp.StatusCode)
	}
	if len(res.Errors) > 0 {
		var msgs []string
		for _, e := range res.Errors {
			msgs = append(msgs, e.Message)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return json.Unmarshal(res.Data, out)
}

const (
	startImportMutation = `mutation Import($csv: String!) {
  startAssetImport(csv: $csv) { id rows }
}`
	importProgressQuery = `query Progress($id: ID!) { assetImport(id: $id) { state processed rows } }`
	importResultQuery   = `query Result($id: ID!) {
  assetImport(id: $id) { state rows created updated unchanged error errors { line message } }
}`
)

// importCSV sends a CSV file to the cmdb, which imports it as a job (a file within the
// limits can take minutes, longer than one request may last), follows the job and
// reports each line not imported. Interrupted, it says where the job goes on.
func importCSV(args []string) error {
	var f apiFlags
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	f.register(fs)
	path := fs.String("csv", "", "CSV file to import (columns: see cmdb export --csv)")
	every := fs.Duration("poll", 500*time.Millisecond, "how often to ask the cmdb how the import is going")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("import: --csv FILE is required")
	}
	if *every <= 0 {
		return fmt.Errorf("import: --poll %s: must be positive", *every)
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	var started struct {
		StartAssetImport struct {
			ID   string
			Rows int
		}
	}
	if err := c.do(ctx, startImportMutation, map[string]any{"csv": string(data)}, &started); err != nil {
		return fmt.Errorf("import %s: %w", *path, err)
	}
	job := started.StartAssetImport.ID
	begun, said := time.Now(), time.Now()
	for {
		var p struct {
			AssetImport *struct {
				State           string
				Processed, Rows int
			}
		}
		if err := c.do(ctx, importProgressQuery, map[string]any{"id": job}, &p); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("import %s: interrupted; the import goes on in the cmdb as job %s (see assetImport or the audit log)", *path, job)
			}
			return fmt.Errorf("import %s (job %s): %w", *path, job, err)
		}
		if p.AssetImport == nil {
			return fmt.Errorf("import %s: the cmdb no longer knows job %s (restarted, or another replica answered)", *path, job)
		}
		if p.AssetImport.State != "RUNNING" {
			break
		}
		if time.Since(said) >= 10*time.Second {
			said = time.Now()
			fmt.Fprintf(os.Stderr, "%s: %d of %d lines done (%s)\n", *path, p.AssetImport.Processed, p.AssetImport.Rows, time.Since(begun).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("import %s: interrupted; the import goes on in the cmdb as job %s (see assetImport or the audit log)", *path, job)
		case <-time.After(*every):
		}
	}
	var out struct {
		AssetImport struct {
			State                             string
			Rows, Created, Updated, Unchanged int
			Error                             *string
			Errors                            []struct {
				Line    int
				Message string
			}
		}
	}
	if err := c.do(ctx, importResultQuery, map[string]any{"id": job}, &out); err != nil {
		return fmt.Errorf("import %s (job %s): %w", *path, job, err)
	}
	r := out.AssetImport
	for _, e := range r.Errors {
		fmt.Fprintf(os.Stderr, "%s:%d: %s\n", *path, e.Line, e.Message)
	}
	fmt.Printf("%s: %d created, %d updated, %d unchanged, %d rows not imported\n", *path, r.Created, r.Updated, r.Unchanged, len(r.Errors))
	if r.State != "DONE" {
		why := "stopped"
		if r.Error != nil {
			why = *r.Error
		}
		return fmt.Errorf("import %s: %s: %d rows not imported (listed above; importing the file again applies them)", *path, why, len(r.Errors))
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("import %s: %d rows not imported (listed above; the others were)", *path, len(r.Errors))
	}
	return nil
}

const exportQuery = `query Export($filter: AssetFilter) { assetsCSV(filter: $filter) }`

// exportCSV writes the cmdb's assets as CSV.
func exportCSV(args []string) error {
	var f apiFlags
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	f.register(fs)
	_ = fs.Bool("csv", true, "CSV format (the only one)")
	outPath := fs.String("out", "", "output file (default: standard output)")
	site := fs.String("site", "", "only assets of this site")
	area := fs.String("care-area", "", "only assets of this care area")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	filter := map[string]any{}
	if *site != "" {
		filter["site"] = *site
	}
	if *area != "" {
		filter["careArea"] = *area
	}
	var out struct{ AssetsCSV string }
	if err := c.do(ctx, exportQuery, map[string]any{"filter": filter}, &out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if *outPath == "" {
		_, err = io.WriteString(os.Stdout, out.AssetsCSV)
		return err
	}
	if err := os.WriteFile(*outPath, []byte(out.AssetsCSV), 0o600); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
