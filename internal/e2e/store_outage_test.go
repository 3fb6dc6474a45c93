package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestStoreOutage is issue 9's second resilience proof. The cmdb runs on --mongo-uri
// against `cmdb store` (the embedded FerretDB as its own process); the store process
// is killed in the middle of a failure scenario and restarted 40 s later on the same
// socket and data dir. While it is down: /readyz answers 503 and medcmdb_store_up is 0,
// reads are still served from the working set, a mutation gets 503
// SERVICE_UNAVAILABLE with a plain message, and the collector's reports fail with 503
// so it spools. After the restart the cmdb recovers by itself and the outcome is the
// scenario's ground truth, as in TestCMDBOutage.
func TestStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	// Mostly waiting: it runs next to the other outage test.
	t.Parallel()
	storeDir := t.TempDir()
	// The store's socket, at the same path after its restart.
	socket := filepath.Join(storeDir, "run", store.SocketName)
	startStore := func() *testkit.Proc {
		p := testkit.Start(t, testkit.Binary(t, "cmdb"), "store", "--socket", socket, "--data-dir", storeDir)
		p.WaitFor(`msg="embedded store listening"`, 30*time.Second)
		return p
	}
	st := startStore()
	r := newOutageRig(t, 60, "--mongo-uri", store.SocketURI(socket))
	r.startCollector()
	r.waitAllUp(60 * time.Second)
	devs := r.pickDevices(4)
	const outage = 40 * time.Second

	start := time.Now()
	a := failure{dev: devs[0]}
	r.sim.SetDown(a.dev, true)
	var aIncident string
	testkit.Eventually(t, 30*time.Second, func() error {
		list, err := r.incidents()
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Asset.Name != a.dev.Name {
			return fmt.Errorf("incidents before the outage: %v", summarise(list))
		}
		aIncident = list[0].Number
		return nil
	})
	st.Kill()
	killed := time.Now()
	k := killed.Sub(start)
	t.Logf("store killed %.1fs after %s went down", k.Seconds(), a.dev.Name)
	a.spans = [][2]time.Duration{{0, k + 3*time.Second}}
	b := failure{dev: devs[1], spans: [][2]time.Duration{{k + 5*time.Second, k + 20*time.Second}}}
	c := failure{dev: devs[2], spans: [][2]time.Duration{{k + 8*time.Second, k + outage + 25*time.Second}}}
	d := failure{dev: devs[3], spans: [][2]time.Duration{{k + 6*time.Second, k + 16*time.Second}, {k + 24*time.Second, k + 34*time.Second}}}
	fs := []failure{a, b, c, d}
	scenario := make(chan struct{})
	go func() {
		defer close(scenario)
		steps := append([]simStep{{a.spans[0][1], a.dev, false}}, stepsOf([]failure{b, c, d})...)
		slices.SortStableFunc(steps, func(x, y simStep) int { return int(x.at - y.at) })
		r.play(start, steps)
	}()

	// While the store is down.
	testkit.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get(r.cmdbURL + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz: HTTP %d %s", resp.StatusCode, body)
		}
		return nil
	})
	if m, err := scrapeURL(r.cmdbURL + "/metrics"); err != nil || m["medcmdb_store_up"] != 0 {
		t.Errorf("medcmdb_store_up while the store is down: %v (%v)", m["medcmdb_store_up"], err)
	}
	if _, err := r.statuses(); err != nil {
		t.Errorf("reading assets while the store is down: %v", err)
	}
	var incID string
	if list, err := r.incidents(); err == nil {
		for _, i := range list {
			if i.Number == aIncident {
				incID = i.Number
			}
		}
	}
	if incID == "" {
		t.Errorf("incident %s not readable while the store is down", aIncident)
	}
	var ids struct {
		Incidents struct {
			Nodes []struct{ ID string } `json:"nodes"`
		} `json:"incidents"`
	}
	r.g.Query(t, `{ incidents(first: 1) { nodes { id } } }`, nil, &ids)
	resp, err := r.g.Do(`mutation($id: ID!) { acknowledgeIncident(id: $id, note: "looking") { id } }`, map[string]any{"id": ids.Incidents.Nodes[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusServiceUnavailable || resp.Code() != "SERVICE_UNAVAILABLE" {
		t.Errorf("mutation while the store is down: HTTP %d %q %+v", resp.Status, resp.Code(), resp.Errors)
	}
	for _, e := range resp.Errors {
		if strings.Contains(e.Message, "server selection") || strings.Contains(e.Message, "connection refused") {
			t.Errorf("driver detail in an API error: %q", e.Message)
		}
	}
	// The collector's reports fail with 503 and it spools.
	testkit.Eventually(t, 30*time.Second, func() error {
		m, err := scrapeURL(r.metrics)
		if err != nil {
			return err
		}
		if m[`medcmdb_reports_total{result="failure"}`] == 0 || m["medcmdb_spool_observations"] == 0 {
			return fmt.Errorf("collector: %v failed reports, %v spooled", m[`medcmdb_reports_total{result="failure"}`], m["medcmdb_spool_observations"])
		}
		return nil
	})

	time.Sleep(time.Until(killed.Add(outage)))
	startStore() // testkit stops it at cleanup
	t.Logf("store restarted after %.1fs", time.Since(killed).Seconds())
	recovered := testkit.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(r.cmdbURL + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	t.Logf("cmdb ready again %.1fs after the store came back", recovered.Seconds())
	<-scenario

	testkit.Eventually(t, 90*time.Second, func() error {
		list, err := r.incidents()
		if err != nil {
			return err
		}
		if got, want := summarise(list), expected(fs); !slices.Equal(got, want) {
			return fmt.Errorf("incidents\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		return nil
	})
	r.waitAllUp(30 * time.Second)
	r.checkTrails(start, fs)
	m := r.checkCollectorAccounts()
	cm, err := scrapeURL(r.cmdbURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if cm["medcmdb_store_up"] != 1 {
		t.Errorf("medcmdb_store_up after recovery: %v", cm["medcmdb_store_up"])
	}
	// Requests fail either at the token check (when the token cache ran out) or in
	// the resolver; both say so in the log, with the driver's detail.
	if out := r.cmdb.Output(); !strings.Contains(out, "store unavailable") && !strings.Contains(out, "msg=authenticating") {
		t.Error("the cmdb did not log the store outage")
	}
	if strings.Contains(r.collector.Output(), "dropping") {
		t.Error("the collector dropped observations")
	}
	t.Logf("collector: %v emitted, %v delivered, %v failed reports; cmdb: %v applied, %v duplicates; data dir %s",
		sum(m, "medcmdb_observations_emitted_total"), sum(m, "medcmdb_observations_delivered_total"),
		m[`medcmdb_reports_total{result="failure"}`],
		cm[`medcmdb_observations_applied_total{result="applied"}`], cm[`medcmdb_observations_applied_total{result="duplicate"}`],
		filepath.Base(storeDir))
}
