package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

type fakeAuth map[string]auth.Role

// fakeCollectorOf binds the fake collector tokens to the collector their tests report as.
var fakeCollectorOf = map[string]string{"col-tok": "c1", "tok-collector": "c"}

func (f fakeAuth) Authenticate(_ context.Context, s string) (*auth.Principal, error) {
	if r, ok := f[s]; ok {
		return &auth.Principal{Name: s, Role: r, Collector: fakeCollectorOf[s]}, nil
	}
	return nil, auth.ErrUnauthenticated
}

type fakeAssets struct{ list []*assets.Asset }

func (f *fakeAssets) List(_ assets.Filter, off, lim int) ([]*assets.Asset, int) {
	end := min(off+lim, len(f.list))
	if off > end {
		return nil, len(f.list)
	}
	return f.list[off:end], len(f.list)
}
func (f *fakeAssets) Get(id string) (*assets.Asset, bool) {
	for _, a := range f.list {
		if a.ID == id {
			return a, true
		}
	}
	return nil, false
}
func (f *fakeAssets) History(context.Context, *assets.Asset, int) ([]assets.Change, error) {
	return nil, nil
}

type fakeIncidents struct{}

func (fakeIncidents) List(incidents.Filter, int, int) ([]*incidents.Incident, int) { return nil, 0 }
func (fakeIncidents) Get(string) (*incidents.Incident, bool)                       { return nil, false }
func (fakeIncidents) Acknowledge(_ context.Context, id, _, _ string) (*incidents.Incident, error) {
	return nil, incidents.ErrNotFound
}
func (fakeIncidents) Resolve(_ context.Context, id, _, _ string) (*incidents.Incident, error) {
	return nil, incidents.ErrNotFound
}

type recordingReporter struct{ got []observation.Observation }

func (r *recordingReporter) Report(_ context.Context, _ string, obs []observation.Observation) (*observation.ReportResult, error) {
	r.got = append(r.got, obs...)
	return &observation.ReportResult{Accepted: len(obs)}, nil
}

func newTestServer(t testing.TB) (*httptest.Server, *recordingReporter) {
	rep := &recordingReporter{}
	fa := &fakeAssets{}
	for _, id := range []string{"a1", "a2", "a3"} {
		fa.list = append(fa.list, &assets.Asset{ID: id, Name: id, Class: assets.ClassVentilator, Status: assets.StatusOperational})
	}
	h, err := NewHandler(Deps{Assets: fa, Incidents: fakeIncidents{}, Reporter: rep},
		fakeAuth{"viewer-tok": auth.RoleViewer, "col-tok": auth.RoleCollector, "admin-tok": auth.RoleAdmin},
		nil, testkit.Logger(), unlimited())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, rep
}

func newHTTP(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func firstCode(out map[string]any) string {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	c, _ := ext["code"].(string)
	return c
}

func TestHostileAndUnauthorisedRequests(t *testing.T) {
	srv, _ := newTestServer(t)
	q := `{"query":"{ assets { totalCount } }"}`
	cases := []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no token", "", q, 401, CodeUnauthenticated},
		{"unknown token", "nope", q, 401, CodeUnauthenticated},
		{"collector reads assets", "col-tok", q, 403, CodeForbidden},
		{"viewer reports observations", "viewer-tok", `{"query":"mutation { reportObservations(batch:{collector:\"x\", observations:[]}) { accepted } }"}`, 403, CodeForbidden},
		{"malformed JSON", "viewer-tok", `{"query": `, 400, CodeBadUserInput},
		{"empty body", "viewer-tok", ``, 400, CodeBadUserInput},
		{"syntax error", "viewer-tok", `{"query":"{ assets { "}`, 400, ""},
		{"unknown field", "viewer-tok", `{"query":"{ patients { name } }"}`, 400, CodeBadUserInput},
		{"page too large", "viewer-tok", `{"query":"{ assets(first: 100000) { totalCount } }"}`, 400, CodeBadUserInput},
		{"bad cursor", "viewer-tok", `{"query":"{ assets(after: \"!!\") { totalCount } }"}`, 400, CodeBadUserInput},
		{"ack unknown incident", "admin-tok", `{"query":"mutation { acknowledgeIncident(id: \"x\") { id } }"}`, 404, CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := post(t, srv.URL, c.token, c.body)
			if status != c.status {
				t.Errorf("status %d, want %d (%v)", status, c.status, out)
			}
			if c.code != "" && firstCode(out) != c.code {
				t.Errorf("code %q, want %q (%v)", firstCode(out), c.code, out)
			}
			if _, ok := out["errors"]; !ok {
				t.Errorf("no errors in %v", out)
			}
		})
	}
}

func TestPaginationAndReport(t *testing.T) {
	srv, rep := newTestServer(t)
	status, out := post(t, srv.URL, "viewer-tok", `{"query":"{ assets(first: 2) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } }"}`)
	if status != 200 {
		t.Fatalf("status %d %v", status, out)
	}
	conn := out["data"].(map[string]any)["assets"].(map[string]any)
	pi := conn["pageInfo"].(map[string]any)
	if conn["totalCount"].(float64) != 3 || len(conn["nodes"].([]any)) != 2 || pi["hasNextPage"] != true {
		t.Fatalf("first page %v", conn)
	}
	body, _ := json.Marshal(map[string]any{"query": `query($a: String) { assets(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage } } }`,
		"variables": map[string]any{"a": pi["endCursor"]}})
	_, out = post(t, srv.URL, "viewer-tok", string(body))
	conn = out["data"].(map[string]any)["assets"].(map[string]any)
	nodes := conn["nodes"].([]any)
	if len(nodes) != 1 || nodes[0].(map[string]any)["id"] != "a3" || conn["pageInfo"].(map[string]any)["hasNextPage"] != false {
		t.Fatalf("second page %v", conn)
	}

	batch := map[string]any{"collector": "c1", "observations": []any{map[string]any{
		"id": "c1-x-1", "collector": "c1", "observedAt": "2026-01-02T03:04:05Z", "source": "SNMP_POLL", "state": "DOWN",
		"condition": "snmp.unreachable", "conditions": []string{"snmp.unreachable"},
		"address": map[string]any{"ip": "10.1.2.3", "port": 161}, "identity": map[string]any{"sysName": "sw1"},
	}}}
	body, _ = json.Marshal(map[string]any{"query": `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }`,
		"variables": map[string]any{"b": batch}})
	status, out = post(t, srv.URL, "col-tok", string(body))
	if status != 200 || len(rep.got) != 1 {
		t.Fatalf("report: %d %v", status, out)
	}
	o := rep.got[0]
	if o.State != observation.StateDown || o.Address.IP != "10.1.2.3" || o.Identity.SysName != "sw1" || o.ObservedAt.Year() != 2026 || len(o.Conditions) != 1 {
		t.Fatalf("observation decoded as %+v", o)
	}
}

func TestExplorerServedToBrowsers(t *testing.T) {
	srv, _ := newTestServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(buf.String(), "GraphQL explorer") || strings.Contains(buf.String(), "https://") {
		t.Fatalf("explorer: %d, self-contained=%v", resp.StatusCode, !strings.Contains(buf.String(), "https://"))
	}
	// Never framed by another site (clickjacking), in both the old and the new way.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("explorer CSP %q: no frame-ancestors 'none'", csp)
	}
	if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
		t.Errorf("explorer X-Frame-Options %q, want DENY", xfo)
	}
}

// unlimited is DefaultLimits without rate limits, which have their own test and would
// otherwise turn most of a fuzzing run into 429s.
func unlimited() Limits {
	l := DefaultLimits()
	l.Rate, l.CollectorRate = 0, 0
	return l
}
