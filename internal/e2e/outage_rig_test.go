package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// outageRig is a simulated hospital watched by the collector binary (with a spool)
// and reported to the cmdb binary on a fixed port, so that the cmdb, or the store
// under it, can die and come back at the same address while the devices fail.
type outageRig struct {
	t         *testing.T
	sim       *devicesim.Sim
	h         *devicesim.Hospital
	cmdbArgs  []string
	cmdbURL   string
	dataDir   string
	cmdb      *testkit.Proc
	g         *testkit.GraphQL
	collector *testkit.Proc
	metrics   string // the collector's /metrics URL
	poll      string // the collector's poll interval (default 2s)
}

// freeTCPAddr returns a loopback address nothing listens on now.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newOutageRig starts the simulator (devices agents in-process) and the cmdb with
// extra flags; startCollector follows once the cmdb is up.
func newOutageRig(t *testing.T, devices int, cmdbArgs ...string) *outageRig {
	t.Helper()
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: 9, Devices: devices})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := devicesim.New(h, devicesim.Config{Listen: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sim.Run(ctx) }()
	t.Cleanup(func() { cancel(); sim.Close(); <-done })
	addr := freeTCPAddr(t)
	r := &outageRig{t: t, sim: sim, h: h, dataDir: t.TempDir(), cmdbURL: "http://" + addr}
	r.cmdbArgs = append([]string{"serve", "--listen", addr, "--data-dir", r.dataDir}, cmdbArgs...)
	r.startCMDB()
	return r
}

// startCMDB (re)starts the cmdb on its address and data dir.
func (r *outageRig) startCMDB() {
	r.t.Helper()
	r.cmdb = testkit.Start(r.t, testkit.Binary(r.t, "cmdb"), r.cmdbArgs...)
	r.cmdb.WaitFor(`msg="cmdb listening"`, 60*time.Second)
	if r.g == nil {
		token, err := os.ReadFile(filepath.Join(r.dataDir, "admin.token"))
		if err != nil {
			r.t.Fatalf("admin token: %v", err)
		}
		r.g = &testkit.GraphQL{URL: r.cmdbURL + "/graphql", Token: strings.TrimSpace(string(token))}
	}
}

// startCollector runs the collector binary over the simulated hospital: polls every
// r.poll (2 s by default), a device is DOWN after 2 failed polls, observations spooled
// on disk.
func (r *outageRig) startCollector() {
	r.t.Helper()
	poll := r.poll
	if poll == "" {
		poll = "2s"
	}
	snmp := fmt.Sprintf("snmp:\n  port: %d\n  timeout: 500ms\n  retries: 0\n  poll_interval: %s\n  down_after: 2\n  discovery_schedule: \"@every 1h\"\n", r.sim.Port(), poll)
	ranges := strings.Replace(r.h.CollectorRanges(r.sim.Port()), fmt.Sprintf("snmp:\n  port: %d\n", r.sim.Port()), snmp, 1)
	cfg := filepath.Join(r.t.TempDir(), "collector.yaml")
	writeFile(r.t, cfg, fmt.Sprintf("site: outage\nname: outage-collector\ncmdb: {url: %s, token: %s, flush_interval: 500ms}\nspool_dir: %s\n%s",
		r.g.URL, r.g.Token, filepath.Join(r.t.TempDir(), "spool"), ranges))
	r.collector = testkit.Start(r.t, testkit.Binary(r.t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	r.metrics = "http://" + r.collector.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 30*time.Second) + "/metrics"
}

// waitAllUp waits until every simulated device is an OPERATIONAL asset.
func (r *outageRig) waitAllUp(d time.Duration) {
	r.t.Helper()
	testkit.Eventually(r.t, d, func() error {
		st, err := r.statuses()
		if err != nil {
			return err
		}
		up := 0
		for _, s := range st {
			if s == "OPERATIONAL" {
				up++
			}
		}
		if up != len(r.h.Devices) {
			return fmt.Errorf("%d of %d devices OPERATIONAL", up, len(r.h.Devices))
		}
		return nil
	})
}

// statuses returns asset status by name.
func (r *outageRig) statuses() (map[string]string, error) {
	var out struct {
		Assets struct {
			Nodes []struct{ Name, Status string } `json:"nodes"`
		} `json:"assets"`
	}
	if err := r.g.Try(`{ assets(first: 500) { nodes { name status } } }`, nil, &out); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, a := range out.Assets.Nodes {
		m[a.Name] = a.Status
	}
	return m, nil
}

// failure is one device's scripted outages, as offsets from the scenario's start.
type failure struct {
	dev   *devicesim.Device
	spans [][2]time.Duration // [down at, up at)
}

// pickDevices returns n clinical leaf devices, of distinct classes first (no switch,
// UPS or gateway: their failures take others with them, another test's business).
func (r *outageRig) pickDevices(n int) []*devicesim.Device {
	var first, rest []*devicesim.Device
	seen := map[devicesim.Class]bool{}
	for _, d := range r.h.Devices {
		switch d.Class {
		case devicesim.PatientMonitor, devicesim.InfusionPump, devicesim.Ventilator, devicesim.LabAnalyzer,
			devicesim.AnesthesiaMachine, devicesim.Imaging:
		default:
			continue
		}
		if seen[d.Class] {
			rest = append(rest, d)
		} else {
			seen[d.Class] = true
			first = append(first, d)
		}
	}
	out := append(first, rest...)
	if len(out) < n {
		r.t.Fatalf("only %d clinical leaf devices in the hospital", len(out))
	}
	return out[:n]
}

// simStep is one scripted state change of a device.
type simStep struct {
	at   time.Duration // from the scenario's start
	dev  *devicesim.Device
	down bool
}

// stepsOf lists the state changes of failures, in time order.
func stepsOf(fs []failure) []simStep {
	var steps []simStep
	for _, f := range fs {
		for _, s := range f.spans {
			steps = append(steps, simStep{s[0], f.dev, true}, simStep{s[1], f.dev, false})
		}
	}
	slices.SortStableFunc(steps, func(a, b simStep) int { return int(a.at - b.at) })
	return steps
}

// play applies the steps at their offsets from start.
func (r *outageRig) play(start time.Time, steps []simStep) {
	for _, s := range steps {
		time.Sleep(time.Until(start.Add(s.at)))
		r.sim.SetDown(s.dev, s.down)
		r.t.Logf("%6.1fs %s %s", time.Since(start).Seconds(), map[bool]string{true: "down", false: "up"}[s.down], s.dev.Name)
	}
}

type incidentRecord struct {
	Number    string `json:"number"`
	State     string `json:"state"`
	Condition string `json:"condition"`
	Asset     struct {
		Name string `json:"name"`
	} `json:"asset"`
	Timeline []struct {
		Kind string `json:"kind"`
	} `json:"timeline"`
}

func (r *outageRig) incidents() ([]incidentRecord, error) {
	var out struct {
		Incidents struct {
			Nodes []incidentRecord `json:"nodes"`
		} `json:"incidents"`
	}
	err := r.g.Try(`{ incidents(first: 500) { nodes { number state condition asset { name } timeline { kind } } } }`, nil, &out)
	return out.Incidents.Nodes, err
}

// summarise turns incidents into sorted "device condition state recurred=N" lines.
func summarise(list []incidentRecord) []string {
	var out []string
	for _, i := range list {
		n := 0
		for _, e := range i.Timeline {
			if e.Kind == "recurred" {
				n++
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s recurred=%d", i.Asset.Name, i.Condition, i.State, n))
	}
	slices.Sort(out)
	return out
}

// expected is the ground truth of a scenario: each failed device has one
// snmp.unreachable incident, resolved, reopened once per outage after the first
// (every gap in these scenarios is shorter than the policy's 2-minute reopen window).
func expected(fs []failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s snmp.unreachable RESOLVED recurred=%d", f.dev.Name, len(f.spans)-1))
	}
	slices.Sort(out)
	return out
}

type statusChange struct {
	At     time.Time `json:"at"`
	Field  string    `json:"field"`
	Before string    `json:"before"`
	After  string    `json:"after"`
}

// statusTrail returns a device's status changes, oldest first.
func (r *outageRig) statusTrail(name string) ([]statusChange, error) {
	var out struct {
		Assets struct {
			Nodes []struct {
				Name    string         `json:"name"`
				History []statusChange `json:"history"`
			} `json:"nodes"`
		} `json:"assets"`
	}
	if err := r.g.Try(`query($s: String) { assets(filter: {search: $s}, first: 5) { nodes { name history(first: 200) { at field before after } } } }`,
		map[string]any{"s": name}, &out); err != nil {
		return nil, err
	}
	for _, a := range out.Assets.Nodes {
		if a.Name != name {
			continue
		}
		var trail []statusChange
		for i := len(a.History) - 1; i >= 0; i-- {
			if a.History[i].Field == "status" {
				trail = append(trail, a.History[i])
			}
		}
		return trail, nil
	}
	return nil, fmt.Errorf("no asset named %s", name)
}

// checkTrails asserts that each failed device went through exactly its scripted
// outages — no transition lost, none applied twice — and that the changes carry the
// time the collector saw them (inside [from, to) for the ones in window).
func (r *outageRig) checkTrails(start time.Time, fs []failure) {
	r.t.Helper()
	for _, f := range fs {
		trail, err := r.statusTrail(f.dev.Name)
		if err != nil {
			r.t.Fatal(err)
		}
		var got []string
		for _, c := range trail {
			got = append(got, c.After)
		}
		want := []string{"OPERATIONAL"}
		for range f.spans {
			want = append(want, "DOWN", "OPERATIONAL")
		}
		if !slices.Equal(got, want) {
			r.t.Errorf("%s went through %v, want %v", f.dev.Name, got, want)
			continue
		}
		// Each DOWN was seen within 15 s of the device going down (2 polls of 2 s, plus
		// scheduling on a busy machine), and recorded at that time, not at delivery.
		for k, s := range f.spans {
			at := trail[1+2*k].At
			if at.Before(start.Add(s[0])) || at.After(start.Add(s[0]+15*time.Second)) {
				r.t.Errorf("%s: DOWN #%d recorded at %+.1fs, went down at %+.1fs", f.dev.Name, k+1,
					at.Sub(start).Seconds(), s[0].Seconds())
			}
		}
	}
}

// scrape reads a Prometheus text exposition into series → value.
func scrapeURL(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds every series of a metric name.
func sum(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// checkCollectorAccounts asserts that the collector lost nothing and its spool
// drained: what it had emitted by now is delivered a little later (refreshes keep
// coming, so the two are compared at two instants; delivery is in order), and
// nothing was dropped.
func (r *outageRig) checkCollectorAccounts() map[string]float64 {
	r.t.Helper()
	first, err := scrapeURL(r.metrics)
	if err != nil {
		r.t.Fatal(err)
	}
	emitted := sum(first, "medcmdb_observations_emitted_total")
	var m map[string]float64
	testkit.Eventually(r.t, 30*time.Second, func() error {
		var err error
		if m, err = scrapeURL(r.metrics); err != nil {
			return err
		}
		delivered := sum(m, "medcmdb_observations_delivered_total")
		if delivered < emitted {
			return fmt.Errorf("collector: %v emitted earlier, %v delivered since, %v in the spool", emitted, delivered, m["medcmdb_spool_observations"])
		}
		return nil
	})
	if d := sum(m, "medcmdb_spool_dropped_total"); d != 0 {
		r.t.Errorf("collector dropped %v observations", d)
	}
	return m
}
