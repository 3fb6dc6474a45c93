package graphql

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzGraphQLRequest: any request body gets a JSON answer with a status below 500 (a
// 500 would be a bug of ours, not of the input), and never takes the handler down.
func FuzzGraphQLRequest(f *testing.F) {
	f.Add(`{"query":"{ assets { totalCount } }"}`)
	f.Add(`{"query":"mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }","variables":{"b":{"collector":"c","observations":[{"id":"x","collector":"c","observedAt":"2026-01-01T00:00:00Z","source":"SNMP_POLL","state":"UP"}]}}}`)
	f.Add(`{"query":"{ assets(first: 5, after: \"bzox\") { nodes { id history(first: 3) { field } } } }"}`)
	f.Add(`{"query":"query { ...F } fragment F on Query { ...F }"}`)
	f.Add(`{"query": 12, "variables": [1,2]}`)
	f.Add(`{"query":"{ incidents(filter: {priority: P9}) { totalCount } }"}`)
	srv, _ := newTestServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin-tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("HTTP %d for body %q", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("content type %q", ct)
		}
	})
}
