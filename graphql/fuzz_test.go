package graphql

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/gqlhostile"
)

// FuzzGraphQLRequest: any request body gets a JSON answer with a status below 500 (a
// 500 would be a bug of ours, not of the input), never takes the handler down, and
// costs the process under a second of CPU (bodies here are small: a second is a
// thousand times what one takes; before the document limits, a few kilobytes could
// take minutes).
func FuzzGraphQLRequest(f *testing.F) {
	f.Add(`{"query":"{ assets { totalCount } }"}`)
	f.Add(`{"query":"mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }","variables":{"b":{"collector":"c","observations":[{"id":"x","collector":"c","observedAt":"2026-01-01T00:00:00Z","source":"SNMP_POLL","state":"UP"}]}}}`)
	f.Add(`{"query":"{ assets(first: 5, after: \"bzox\") { nodes { id history(first: 3) { field } } } }"}`)
	f.Add(`{"query":"query { ...F } fragment F on Query { ...F }"}`)
	f.Add(`{"query": 12, "variables": [1,2]}`)
	f.Add(`{"query":"{ incidents(filter: {priority: P9}) { totalCount } }"}`)
	for _, s := range gqlhostile.Shapes() {
		f.Add(string(s.Body(3)))
	}
	// The real inventory (assetHealth and the biomed fields need it), no rate limit.
	srv, _ := newAssetServerWith(f, unlimited())
	f.Fuzz(func(t *testing.T, body string) {
		cpu := processCPU()
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
		if used := processCPU() - cpu; used > time.Second {
			t.Fatalf("%v of CPU for a body of %d bytes: %.300q", used, len(body), body)
		}
	})
}

// processCPU is the CPU time this process has used (a fuzzing worker is a process of
// its own, running one input at a time).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
