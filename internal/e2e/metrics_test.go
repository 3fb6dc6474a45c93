package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/server"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// declared returns every metric family a registry can expose (from the descriptors,
// so metrics without data yet count too), with histogram/summary series names.
func declared(reg *prometheus.Registry) map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	go func() { reg.Describe(ch); close(ch) }()
	out := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				out[m[1]+suffix] = true
			}
		}
	}
	return out
}

func promtoolCheck(t *testing.T, name string, body []byte) {
	t.Helper()
	promtool := testkit.RequireTool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics (%s): %v\n%s", name, err, out)
	}
}

func scrape(t *testing.T, h http.Handler) []byte {
	t.Helper()
	rec := &responseRecorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	h.ServeHTTP(rec, req)
	return rec.body
}

type responseRecorder struct {
	header http.Header
	body   []byte
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}
func (r *responseRecorder) WriteHeader(int) {}

// TestMetricsAndDashboards: both processes' /metrics pass promtool, and every
// medcmdb_* name in the Grafana dashboards and alert rules is one they expose.
func TestMetricsAndDashboards(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	promtoolCheck(t, "cmdb", body)

	cfg, err := discovery.ParseConfig([]byte(`site: s
cmdb: {url: "http://127.0.0.1:1/graphql", token: t}
snmp: {credentials: [{name: p, version: 2c, community: public}]}
traps: {listen: "127.0.0.1:0"}
hl7: {listen: "127.0.0.1:0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	creg := prometheus.NewRegistry()
	if _, err := discovery.New(cfg, discovery.Options{Logger: testkit.Logger(), Registerer: creg}); err != nil {
		t.Fatal(err)
	}
	promtoolCheck(t, "collector", scrape(t, promhttp.HandlerFor(creg, promhttp.HandlerOpts{})))

	known := declared(srv.Registry())
	for k := range declared(creg) {
		known[k] = true
	}
	root := testkit.ModuleRoot(t)
	var exprs []string
	dashboards, _ := filepath.Glob(filepath.Join(root, "deploy/grafana/dashboards/*.json"))
	if len(dashboards) < 2 {
		t.Fatalf("want the NOC and biomed dashboards, found %v", dashboards)
	}
	for _, f := range dashboards {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s is not valid dashboard JSON: %v", f, err)
		}
		if d.UID == "" || len(d.Panels) == 0 {
			t.Errorf("%s: no uid or no panels", f)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", filepath.Base(f), p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	rules, _ := os.ReadFile(filepath.Join(root, "deploy/prometheus/rules.yml"))
	exprs = append(exprs, string(rules))
	var missing []string
	metricRef := regexp.MustCompile(`\bmedcmdb_[a-z0-9_]+`)
	for _, e := range exprs {
		for _, name := range metricRef.FindAllString(e, -1) {
			if !known[name] {
				missing = append(missing, name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("dashboards or rules use metrics nobody exposes: %v", missing)
	}
	for _, must := range []string{"medcmdb_assets", "medcmdb_incidents_open", "medcmdb_observations_received_total",
		"medcmdb_graphql_request_duration_seconds", "medcmdb_snmp_polls_total", "medcmdb_snmp_poll_duration_seconds",
		"medcmdb_hl7_messages_total", "medcmdb_spool_observations", "medcmdb_devices_tracked", "medcmdb_device_up", "medcmdb_build_info"} {
		if !known[must] {
			t.Errorf("contract metric %s is not exposed", must)
		}
	}
}
