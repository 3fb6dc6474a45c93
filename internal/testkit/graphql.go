package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// GraphQL is a minimal client for tests.
type GraphQL struct {
	URL   string
	Token string
}

// GQLError is one error of a GraphQL answer.
type GQLError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a raw GraphQL answer.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []GQLError      `json:"errors"`
}

// Code returns the extensions.code of the first error.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Do sends a query and returns the raw answer.
func (g *GraphQL) Do(query string, vars map[string]any) (*Response, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("HTTP %d, not JSON: %s", resp.StatusCode, raw)
	}
	return out, nil
}

// Query runs a query that must succeed and decodes data into out.
func (g *GraphQL) Query(t testing.TB, query string, vars map[string]any, out any) {
	t.Helper()
	if err := g.Try(query, vars, out); err != nil {
		t.Fatal(err)
	}
}

// Try runs a query and decodes data into out, returning any error.
func (g *GraphQL) Try(query string, vars map[string]any, out any) error {
	r, err := g.Do(query, vars)
	if err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s (%s)", r.Errors[0].Message, r.Code())
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}
