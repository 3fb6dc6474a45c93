package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func do(t *testing.T, method, u, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = jsonDecode(resp, &out)
	return resp.StatusCode, out
}

// TestHostileRequestEnvelopes covers what TestHostileAndUnauthorisedRequests and
// TestHostileQueryShapes do not: the HTTP envelope around a query.
func TestHostileRequestEnvelopes(t *testing.T) {
	l := unlimited()
	l.MaxBodyBytes = 64 << 10
	h, err := NewHandler(Deps{Assets: &fakeAssets{}, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer, "col-tok": auth.RoleCollector}, nil, testkit.Logger(), l)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(t, h)
	huge := `{"query":"{ assets { totalCount } }","variables":{"pad":"` + strings.Repeat("x", 100<<10) + `"}}`
	get := func(q url.Values) string { return srv + "?" + q.Encode() }
	mutation := `mutation { reportObservations(batch:{collector:"x", observations:[]}) { accepted } }`
	cases := []struct {
		name, method, url, token, body string
		status                         int
		code                           string
	}{
		{"huge body", "POST", srv, "viewer-tok", huge, 413, CodeBadUserInput},
		{"huge body, no token", "POST", srv, "", huge, 401, CodeUnauthenticated},
		{"unknown operationName", "POST", srv, "viewer-tok", `{"query":"query A { assets { totalCount } }","operationName":"B"}`, 400, CodeBadUserInput},
		{"two operations, none named", "POST", srv, "viewer-tok", `{"query":"query A { assets { totalCount } } query B { assets { totalCount } }"}`, 400, CodeBadUserInput},
		{"mutation over GET", "GET", get(url.Values{"query": {mutation}}), "col-tok", "", 405, CodeBadUserInput},
		{"PUT", "PUT", srv, "viewer-tok", `{"query":"{ assets { totalCount } }"}`, 405, CodeBadUserInput},
		{"query is not a string", "POST", srv, "viewer-tok", `{"query": 12}`, 400, CodeBadUserInput},
		{"variables not an object", "POST", srv, "viewer-tok", `{"query":"{ assets { totalCount } }","variables":[1]}`, 400, CodeBadUserInput},
		{"GET variables not JSON", "GET", get(url.Values{"query": {"{ assets { totalCount } }"}, "variables": {"{"}}), "viewer-tok", "", 400, CodeBadUserInput},
		{"variable of the wrong type", "POST", srv, "viewer-tok", `{"query":"query($n: Int) { assets(first: $n) { totalCount } }","variables":{"n":"many"}}`, 400, CodeBadUserInput},
		{"untyped variable", "POST", srv, "viewer-tok", `{"query":"query($n:) { assets { totalCount } }"}`, 400, CodeBadUserInput},
		{"non-null of nothing", "POST", srv, "viewer-tok", `{"query":"mutation($A:!) {A}"}`, 400, CodeBadUserInput},
		{"list of nothing", "POST", srv, "viewer-tok", `{"query":"query($n:[]) { assets { totalCount } }"}`, 400, CodeBadUserInput},
		{"list of non-null of nothing", "POST", srv, "viewer-tok", `{"query":"query($n:[!]) { assets { totalCount } }"}`, 400, CodeBadUserInput},
		{"untyped variable in an operation not run", "POST", srv, "viewer-tok", `{"query":"query a { assets { totalCount } } query b($n:!) { assets { totalCount } }","operationName":"a"}`, 400, CodeBadUserInput},
		{"not JSON at all", "POST", srv, "viewer-tok", "\x00\xff\xfe garbage", 400, CodeBadUserInput},
		{"token with spaces only", "POST", srv, "   ", `{"query":"{ assets { totalCount } }"}`, 401, CodeUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := do(t, c.method, c.url, c.token, c.body)
			if status != c.status {
				t.Errorf("status %d, want %d (%v)", status, c.status, out)
			}
			if firstCode(out) != c.code {
				t.Errorf("code %q, want %q (%v)", firstCode(out), c.code, out)
			}
		})
	}
	// A query over GET works (browsers and curl use it).
	if status, out := do(t, "GET", get(url.Values{"query": {"{ assets { totalCount } }"}}), "viewer-tok", ""); status != 200 {
		t.Fatalf("GET query: %d %v", status, out)
	}
}

// unavailableReporter fails as the pipeline does when the store cannot be reached.
type unavailableReporter struct{}

func (unavailableReporter) Report(context.Context, string, []observation.Observation) (*observation.ReportResult, error) {
	sel := topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}
	return nil, fmt.Errorf("applying 3 observations from c1: saving asset a1: %w", sel)
}

// failingAuth fails as the token store does when the store cannot be reached.
type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, string) (*auth.Principal, error) {
	return nil, errors.New("looking up token: server selection error: context deadline exceeded")
}

// TestStoreUnavailableIs503: while the store is down, a collector's report gets 503
// SERVICE_UNAVAILABLE (it keeps the batch and retries), with a message that says so
// and no driver detail.
func TestStoreUnavailableIs503(t *testing.T) {
	h, err := NewHandler(Deps{Assets: &fakeAssets{}, Incidents: fakeIncidents{}, Reporter: unavailableReporter{}},
		fakeAuth{"col-tok": auth.RoleCollector}, nil, testkit.Logger(), unlimited())
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(t, h)
	body := `{"query":"mutation { reportObservations(batch:{collector:\"c1\", observations:[{id:\"o1\", collector:\"c1\", observedAt:\"2026-01-02T03:04:05Z\", source: \"SNMP_POLL\", state: \"UP\", identity:{sysName:\"x\"}, address:{ip:\"10.0.0.1\"}}]}) { accepted } }"}`
	status, out := post(t, srv, "col-tok", body)
	if status != http.StatusServiceUnavailable || firstCode(out) != CodeUnavailable {
		t.Fatalf("report while the store is down: %d %v", status, out)
	}
	msg := fmt.Sprint(out["errors"])
	if !strings.Contains(msg, "store is unavailable") || strings.Contains(msg, "selection") || strings.Contains(msg, "deadline") {
		t.Errorf("message %s: want a plain 'store is unavailable', no driver detail", msg)
	}

	h, err = NewHandler(Deps{Assets: &fakeAssets{}, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}},
		failingAuth{}, nil, testkit.Logger(), unlimited())
	if err != nil {
		t.Fatal(err)
	}
	status, out = post(t, newHTTP(t, h), "col-tok", `{"query":"{ assets { totalCount } }"}`)
	if status != http.StatusServiceUnavailable || firstCode(out) != CodeUnavailable {
		t.Fatalf("token check while the store is down: %d %v", status, out)
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
