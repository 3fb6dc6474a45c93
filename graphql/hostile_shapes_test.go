package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/gqlhostile"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestHostileShapesAreCheap: every hostile shape, at the sizes issue 16 measured and
// at 1 MiB, gets a short answer (served, or refused with a code) without the handler
// allocating more than a few tens of megabytes. Before the document limits the issue's
// four took 0.4 to 13 s of CPU and up to a gigabyte each, and a 1.6 KB chain of
// fragments never answered. (internal/e2e runs the shapes against the binary
// at the 16 MiB body limit; bench/gqlhostile measures them all.)
func TestHostileShapesAreCheap(t *testing.T) {
	srv, _ := newAssetServer(t) // the real inventory: assetHealth needs it
	client := &http.Client{Timeout: 20 * time.Second}
	for _, s := range gqlhostile.Shapes() {
		sizes := []int{5000, gqlhostile.Fit(s, 1<<20)}
		if s.Name == "fragment-fanout" {
			sizes = []int{40} // 2^40 expansions
		}
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s×%d", s.Name, n), func(t *testing.T) {
				body := s.Body(n)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer viewer-tok")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				alloc := after.TotalAlloc - before.TotalAlloc

				var out struct {
					Errors []struct {
						Message    string         `json:"message"`
						Extensions map[string]any `json:"extensions"`
					} `json:"errors"`
				}
				if err := json.Unmarshal(raw, &out); err != nil {
					t.Fatalf("answer is not JSON: %v", err)
				}
				t.Logf("%d bytes: %d in %v, %d MiB allocated, %d errors, %d bytes answered", len(body), resp.StatusCode, took, alloc>>20, len(out.Errors), len(raw))
				if resp.StatusCode >= 500 || (resp.StatusCode != 200 && len(out.Errors) == 0) {
					t.Fatalf("status %d: %s", resp.StatusCode, cut(string(raw), 300))
				}
				for _, e := range out.Errors {
					if e.Extensions["code"] == nil {
						t.Errorf("error without a code: %q", cut(e.Message, 200))
					}
					if len(e.Message) > maxErrorBytes+len("…") {
						t.Errorf("error message of %d bytes", len(e.Message))
					}
				}
				// Bounds with a wide margin over what the limits allow (a few MiB,
				// a few ms), far under what the shapes cost without them.
				if len(raw) > 64<<10 || len(out.Errors) > MaxErrors {
					t.Errorf("answer of %d bytes, %d errors: errors must not echo the request", len(raw), len(out.Errors))
				}
				if alloc > 100<<20 {
					t.Errorf("the request allocated %d MiB", alloc>>20)
				}
				if took > 5*time.Second {
					t.Errorf("answered in %v", took)
				}
			})
		}
	}
}

// slowAssets is an inventory whose List takes a while and counts its calls.
type slowAssets struct {
	fakeAssets
	calls atomic.Int32
}

func (s *slowAssets) List(f assets.Filter, off, lim int) ([]*assets.Asset, int) {
	s.calls.Add(1)
	time.Sleep(20 * time.Millisecond)
	return s.fakeAssets.List(f, off, lim)
}

// TestDisconnectStopsTheWork: when the client goes away, the request's work stops.
// graphql-go's Execute returns when the context ends but leaves its goroutine resolving
// every remaining field; here 200 slow root fields, of which a client that waits 100 ms
// sees about five.
func TestDisconnectStopsTheWork(t *testing.T) {
	inv := &slowAssets{}
	reg := prometheus.NewRegistry()
	h, err := NewHandler(Deps{Assets: inv, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer}, reg, testkit.Logger(), unlimited())
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(t, h)
	var q strings.Builder
	q.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&q, " a%d: assets(first: 1) { totalCount }", i)
	}
	q.WriteString(" }")
	body, _ := json.Marshal(map[string]string{"query": q.String()})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer viewer-tok")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request finished within 100 ms: the fields are not slow enough for this test")
	}
	// 200 fields × 20 ms: had the work gone on, it would end about 4 s from now.
	time.Sleep(2 * time.Second)
	calls := inv.calls.Load()
	time.Sleep(2 * time.Second)
	if later := inv.calls.Load(); later != calls || calls > 50 {
		t.Fatalf("after the client left, the request went on: %d fields resolved 2 s later, %d 4 s later (of 200)", calls, later)
	}
	if n := testutil.ToFloat64(h.cancelled); n != 1 {
		t.Errorf("medcmdb_graphql_cancelled_total = %v, want 1", n)
	}
}

// TestStoppingAnswers503: when the cmdb stops (the server cancels the contexts of the
// requests in flight), a client still waiting is told to try again, at once.
func TestStoppingAnswers503(t *testing.T) {
	inv := &slowAssets{}
	h, err := NewHandler(Deps{Assets: inv, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer}, nil, testkit.Logger(), unlimited())
	if err != nil {
		t.Fatal(err)
	}
	stopping, stop := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return stopping }
	srv.Start()
	defer srv.Close()
	var q strings.Builder
	q.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&q, " a%d: assets(first: 1) { totalCount }", i)
	}
	q.WriteString(" }")
	body, _ := json.Marshal(map[string]string{"query": q.String()})
	time.AfterFunc(100*time.Millisecond, stop)
	start := time.Now()
	status, out := post(t, srv.URL, "viewer-tok", string(body))
	if status != http.StatusServiceUnavailable || firstCode(out) != CodeUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("stopping: %d %v after %v, want 503 %s at once", status, out, time.Since(start), CodeUnavailable)
	}
}

// BenchmarkHostileShapes: every hostile shape at the 16 MiB body limit against the
// handler (B/op is what the handler and the test's client allocate per request).
//
//	go test -run '^$' -bench HostileShapes -benchtime 3x ./graphql
func BenchmarkHostileShapes(b *testing.B) {
	srv, _ := newAssetServerWith(b, unlimited())
	for _, s := range gqlhostile.Shapes() {
		n := gqlhostile.Fit(s, int(DefaultLimits().MaxBodyBytes)-512)
		if s.Name == "fragment-fanout" {
			n = 40
		}
		body := s.Body(n)
		b.Run(s.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer admin-tok")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
