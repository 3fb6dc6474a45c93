// Command soak runs the cmdb, a collector and the device simulator as three processes
// for a long time with random device failures, and samples each process every minute:
// goroutines, live heap after each garbage collection (GODEBUG=gctrace=1 in the
// process's log), Go heap in use, RSS, and the observation accounts (emitted and
// delivered by the collector, received, applied and replayed by the cmdb). At the end it stops
// the failures, waits for the collector's spool to drain, checks that nothing was lost,
// fits a line through each resource series after the warm-up, and writes a Markdown
// report (bench/soak.md).
//
//	go run ./bench/soak --devices 5000 --duration 30m --out bench/soak.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/bench/internal/procfs"
)

type options struct {
	devices      int
	duration     time.Duration
	sample       time.Duration
	warmup       time.Duration
	pollInterval time.Duration
	eventEvery   time.Duration
	seed         uint64
	out          string
	work         string
	dumpStacks   bool
	// incidentBytes is what the cmdb keeps in memory per incident until retention
	// prunes it (BenchmarkRetainedMemory in internal/incidents): data, not a leak.
	incidentBytes float64
}

func main() {
	var o options
	flag.IntVar(&o.devices, "devices", 5000, "simulated devices")
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long failures are injected after discovery")
	flag.DurationVar(&o.sample, "sample", time.Minute, "sampling period")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Minute, "samples before this are left out of the trend fit")
	flag.DurationVar(&o.pollInterval, "poll-interval", 30*time.Second, "collector poll interval")
	flag.DurationVar(&o.eventEvery, "event-every", 4*time.Second, "one random failure this often")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the failures")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here (default: stdout)")
	flag.Float64Var(&o.incidentBytes, "incident-bytes", 2600, "bytes the cmdb keeps per incident until retention (go test ./internal/incidents -bench RetainedMemory -benchtime 1x); allowed for in the cmdb's live-heap trend")
	flag.BoolVar(&o.dumpStacks, "dump-stacks", false, "end the cmdb with SIGQUIT and summarise its goroutines by creator in the report")
	flag.StringVar(&o.work, "work-dir", "", "binaries, data, spool and logs (default: a temporary directory, removed at the end)")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s soak: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func run(ctx context.Context, o options) error {
	work := o.work
	if work == "" {
		d, err := os.MkdirTemp("", "medcmdb-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	bins := map[string]string{}
	for _, name := range []string{"cmdb", "collector", "devicesim"} {
		bins[name] = filepath.Join(work, "bin", name)
		cmd := exec.Command("go", "build", "-o", bins[name], "./cmd/"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	}

	sim, err := startProc(ctx, work, "devicesim", bins["devicesim"], "--devices", strconv.Itoa(o.devices),
		"--listen", "0.0.0.0:0", "--control-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sim.stop()
	control, err := sim.waitFor(`msg="devicesim ready".* control=(http://\S+)`, 2*time.Minute)
	if err != nil {
		return err
	}
	dataDir := filepath.Join(work, "data")
	cmdb, err := startProc(ctx, work, "cmdb", bins["cmdb"], "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	if err != nil {
		return err
	}
	defer cmdb.stop()
	cmdbURL, err := cmdb.waitFor(`msg="cmdb listening" url=(http://\S+)`, 2*time.Minute)
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(tok))
	ranges, err := get(control + "/collector.yaml")
	if err != nil {
		return err
	}
	snmp := fmt.Sprintf("snmp:\n  poll_interval: %s\n  down_after: 2\n  timeout: 1s\n  retries: 1\n  discovery_schedule: \"@every 6h\"\n", o.pollInterval)
	cfg := fmt.Sprintf("site: soak\nname: soak-collector\ncmdb: {url: %s/graphql, token: %s}\nspool_dir: %s\n%s",
		cmdbURL, token, filepath.Join(work, "spool"), strings.Replace(string(ranges), "snmp:\n", snmp, 1))
	cfgFile := filepath.Join(work, "collector.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	col, err := startProc(ctx, work, "collector", bins["collector"], "--config", cfgFile, "--metrics-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer col.stop()
	colAddr, err := col.waitFor(`msg="collector metrics listening" addr=(\S+)`, time.Minute)
	if err != nil {
		return err
	}
	s := &soak{o: o, cmdbURL: cmdbURL, token: token, control: control, collectorMetrics: "http://" + colAddr + "/metrics",
		procs: []*proc{cmdb, col, sim}}

	logf("waiting for %d devices to be discovered", o.devices)
	began := time.Now()
	for {
		n, err := s.assetCount()
		if err == nil && n >= o.devices {
			break
		}
		if time.Since(began) > 15*time.Minute {
			return fmt.Errorf("only %d of %d devices discovered after 15 min (%v)", n, o.devices, err)
		}
		if err := sleep(ctx, 5*time.Second); err != nil {
			return err
		}
	}
	discovered := time.Since(began)
	logf("%d devices discovered in %s", o.devices, discovered.Round(time.Second))

	devs, err := s.devices()
	if err != nil {
		return err
	}
	fctx, stopFailures := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var injected failureCounts
	wg.Go(func() { s.inject(fctx, devs, &injected) })
	start := time.Now()
	tick := time.NewTicker(o.sample)
	s.take(start)
	for time.Since(start) < o.duration {
		select {
		case <-ctx.Done():
			stopFailures()
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
			s.take(start)
		}
	}
	tick.Stop()
	stopFailures()
	wg.Wait()
	logf("failures stopped; waiting for reverts and the spool to drain")
	// Reverts (for) run in the simulator up to 2 min after the last event; then the
	// collector sees the recoveries and the spool drains.
	if err := sleep(ctx, 2*time.Minute+3*o.pollInterval); err != nil {
		return err
	}
	// Refreshes keep flowing (the spool always holds the last few seconds' worth), so
	// the accounts are checked between two instants: all that was emitted by the first
	// must have been delivered and persisted by the second (delivery is in order).
	first := s.take(start)
	var final *sample
	for range 60 {
		if err := sleep(ctx, 5*time.Second); err != nil {
			return err
		}
		final = s.take(start)
		if final.delivered >= first.emitted && final.applied+final.duplicates >= first.emitted {
			break
		}
	}
	r := s.report(discovered, &injected, first, final)
	if o.dumpStacks {
		r.stacks = dumpStacks(cmdb)
	}
	for _, p := range []*proc{col, cmdb, sim} {
		r.exits = append(r.exits, fmt.Sprintf("%s: %v", p.name, p.stop()))
	}
	out := io.Writer(os.Stdout)
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	r.write(out)
	if !r.ok {
		return errors.New("the soak found a problem: see the report")
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// proc is a child process with its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error

	gcOffset int64   // how far gcTrace has read the log
	gcLive   float64 // the last live heap seen, bytes
}

// gcLine is a gctrace line: "gc 12 @3.4s 2%: ... ms cpu, 41->43->35 MB, 48 MB goal, ...";
// the third figure is the heap marked live by that collection.
var gcLine = regexp.MustCompile(`(?m)^gc \d+ @[\d.]+s \d+%: .* (\d+)->(\d+)->(\d+) MB, \d+ MB goal`)

// gcTrace returns the lowest live heap (bytes) of the collections logged since the
// previous call, or the last one seen when there was none, and how many there were.
func (p *proc) gcTrace() (float64, int) {
	f, err := os.Open(p.log)
	if err != nil {
		return p.gcLive, 0
	}
	defer f.Close()
	if _, err := f.Seek(p.gcOffset, io.SeekStart); err != nil {
		return p.gcLive, 0
	}
	b, _ := io.ReadAll(f)
	// Only whole lines: a line being written is read next time.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	p.gcOffset += int64(len(b))
	low, n := 0.0, 0
	for _, m := range gcLine.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[3]), 64)
		v *= 1 << 20
		if n == 0 || v < low {
			low = v
		}
		p.gcLive = v
		n++
	}
	if n == 0 {
		return p.gcLive, 0
	}
	return low, n
}

func startProc(ctx context.Context, work, name, bin string, args ...string) (*proc, error) {
	logFile := filepath.Join(work, name+".log")
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Each collection prints the live heap it found: the one memory figure that is not
	// blurred by where between two collections a sample falls.
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) waitFor(re string, d time.Duration) (string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		if m := rx.FindSubmatch(b); m != nil {
			return string(m[1]), nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(p.log)
	return "", fmt.Errorf("%s did not print %q within %s:\n%s", p.name, re, d, b)
}

// stop sends SIGTERM and reports how the process ended.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30 s", p.name)
	}
}

// fds counts the process's open sockets (a pooled store connection to the embedded
// FerretDB counts twice: both ends live in the cmdb) and its open SQLite database files
// (one per SQLite connection of the embedded store: each keeps its own page cache).
func (p *proc) fds() (sockets, dbFiles int) {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case err != nil:
		case strings.HasPrefix(l, "socket:"):
			sockets++
		case strings.HasSuffix(l, ".sqlite"):
			dbFiles++
		}
	}
	return sockets, dbFiles
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return b, err
}

// metrics reads a Prometheus text exposition into series → value.
func metrics(url string) (map[string]float64, error) {
	b, err := get(url)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

func sum(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

type soak struct {
	o                options
	cmdbURL, token   string
	control          string
	collectorMetrics string
	procs            []*proc // cmdb, collector, devicesim
	mu               sync.Mutex
	samples          []*sample
}

func (s *soak) graphql(query string, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, s.cmdbURL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return errors.New(r.Errors[0].Message)
	}
	return json.Unmarshal(r.Data, out)
}

func (s *soak) assetCount() (int, error) {
	var out struct {
		Assets struct{ TotalCount int } `json:"assets"`
	}
	err := s.graphql(`{ assets(first: 1) { totalCount } }`, &out)
	return out.Assets.TotalCount, err
}

type device struct {
	Name  string `json:"name"`
	Class string `json:"class"`
}

func (s *soak) devices() ([]device, error) {
	b, err := get(s.control + "/devices")
	if err != nil {
		return nil, err
	}
	var list []device
	return list, json.Unmarshal(b, &list)
}

type failureCounts struct {
	mu     sync.Mutex
	byKind map[string]int
	errors int
}

// inject posts one random failure to the simulator every eventEvery until ctx ends:
// mostly devices switched off for 20 s to 2 min (they come back by themselves),
// reboots, UPSs on battery, and now and then an access switch taking its unit down.
func (s *soak) inject(ctx context.Context, devs []device, c *failureCounts) {
	rng := rand.New(rand.NewPCG(s.o.seed, 0x50a4))
	var ups, switches, leaves []device
	for _, d := range devs {
		switch d.Class {
		case "UPS":
			ups = append(ups, d)
		case "NETWORK_SWITCH":
			if !strings.Contains(d.Name, "core") {
				switches = append(switches, d)
			}
		default:
			leaves = append(leaves, d)
		}
	}
	c.byKind = map[string]int{}
	t := time.NewTicker(s.o.eventEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ev map[string]any
		kind := ""
		switch x := rng.IntN(100); {
		case x < 75:
			d := leaves[rng.IntN(len(leaves))]
			ev = map[string]any{"action": "down", "target": map[string]string{"name": d.Name}, "for": fmt.Sprintf("%ds", 20+rng.IntN(100))}
			kind = "device down (20 s - 2 min)"
		case x < 90:
			d := leaves[rng.IntN(len(leaves))]
			ev = map[string]any{"action": "reboot", "target": map[string]string{"name": d.Name}}
			kind = "reboot"
		case x < 97 && len(ups) > 0:
			d := ups[rng.IntN(len(ups))]
			ev = map[string]any{"action": "ups_on_battery", "target": map[string]string{"name": d.Name}, "for": "90s"}
			kind = "UPS on battery (90 s)"
		case len(switches) > 0:
			d := switches[rng.IntN(len(switches))]
			ev = map[string]any{"action": "down", "target": map[string]string{"name": d.Name}, "for": "45s"}
			kind = "access switch down (45 s)"
		default:
			continue
		}
		body, _ := json.Marshal(ev)
		resp, err := http.Post(s.control+"/events", "application/json", bytes.NewReader(body))
		c.mu.Lock()
		if err != nil || resp.StatusCode >= 300 {
			c.errors++
		} else {
			c.byKind[kind]++
		}
		c.mu.Unlock()
		if resp != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// sample is one minute's figures.
type sample struct {
	at                    time.Duration
	goroutines            [3]float64 // cmdb, collector, devicesim
	heap                  [3]float64 // bytes in use
	live                  [3]float64 // lowest live heap after a collection since the last sample
	gcs                   [3]int
	rss                   [3]float64
	idle                  [3]float64 // Go heap idle but not yet returned to the OS (counted in RSS)
	goHeld                [3]float64 // what the Go runtime holds from the OS (sys − released)
	threads               [3]int
	sockets               [3]int
	dbFiles               [3]int  // SQLite database files open (cmdb: its embedded store's connections)
	emitted, delivered    float64 // collector
	spool, dropped        float64
	failedReports         float64
	received, applied     float64 // cmdb
	duplicates, invalid   float64
	openIncidents, assets float64
	incidents             float64 // every incident kept, open or resolved
	errs                  []string
}

func (s *soak) take(start time.Time) *sample {
	sm := &sample{at: time.Since(start)}
	cm, err := metrics(s.cmdbURL + "/metrics")
	if err != nil {
		sm.errs = append(sm.errs, "cmdb: "+err.Error())
	}
	colm, err := metrics(s.collectorMetrics)
	if err != nil {
		sm.errs = append(sm.errs, "collector: "+err.Error())
	}
	var st struct {
		Goroutines     float64 `json:"goroutines"`
		HeapInuseBytes float64 `json:"heapInuseBytes"`
	}
	if b, err := get(s.control + "/stats"); err != nil {
		sm.errs = append(sm.errs, "devicesim: "+err.Error())
	} else {
		_ = json.Unmarshal(b, &st)
	}
	for i, m := range []map[string]float64{cm, colm} {
		sm.goroutines[i] = m["go_goroutines"]
		sm.heap[i] = m["go_memstats_heap_inuse_bytes"]
		sm.idle[i] = max(m["go_memstats_heap_idle_bytes"]-m["go_memstats_heap_released_bytes"], 0)
		sm.goHeld[i] = m["go_memstats_sys_bytes"] - m["go_memstats_heap_released_bytes"]
	}
	sm.goroutines[2], sm.heap[2] = st.Goroutines, st.HeapInuseBytes
	for i, p := range s.procs {
		sm.live[i], sm.gcs[i] = p.gcTrace()
		rss, th := procfs.Status(p.cmd.Process.Pid)
		sm.rss[i], sm.threads[i] = float64(rss), th
		sm.sockets[i], sm.dbFiles[i] = p.fds()
	}
	sm.emitted = sum(colm, "medcmdb_observations_emitted_total")
	sm.delivered = sum(colm, "medcmdb_observations_delivered_total")
	sm.spool = colm["medcmdb_spool_observations"]
	sm.dropped = sum(colm, "medcmdb_spool_dropped_total")
	sm.failedReports = colm[`medcmdb_reports_total{result="failure"}`]
	sm.received = sum(cm, "medcmdb_observations_received_total")
	sm.invalid = cm[`medcmdb_observations_received_total{source="invalid"}`]
	sm.applied = cm[`medcmdb_observations_applied_total{result="applied"}`]
	sm.duplicates = cm[`medcmdb_observations_applied_total{result="duplicate"}`]
	sm.openIncidents = sum(cm, "medcmdb_incidents_open")
	sm.assets = sum(cm, "medcmdb_assets")
	var inc struct {
		Incidents struct{ TotalCount float64 } `json:"incidents"`
	}
	if err := s.graphql(`{ incidents(first: 1) { totalCount } }`, &inc); err != nil {
		sm.errs = append(sm.errs, "incidents: "+err.Error())
	}
	sm.incidents = inc.Incidents.TotalCount
	s.mu.Lock()
	s.samples = append(s.samples, sm)
	s.mu.Unlock()
	logf("%5.1f min: sockets %d/%d/%d sqlite %d goroutines %v/%v/%v live %.0f/%.0f/%.0f heap %.0f/%.0f/%.0f MiB rss %.0f/%.0f/%.0f MiB; emitted %.0f delivered %.0f applied %.0f dup %.0f spool %.0f incidents %.0f (open %.0f) %v",
		sm.at.Minutes(), sm.sockets[0], sm.sockets[1], sm.sockets[2], sm.dbFiles[0], sm.goroutines[0], sm.goroutines[1], sm.goroutines[2],
		mib(sm.live[0]), mib(sm.live[1]), mib(sm.live[2]), mib(sm.heap[0]), mib(sm.heap[1]), mib(sm.heap[2]),
		mib(sm.rss[0]), mib(sm.rss[1]), mib(sm.rss[2]), sm.emitted, sm.delivered, sm.applied, sm.duplicates, sm.spool, sm.incidents, sm.openIncidents, sm.errs)
	return sm
}

func mib(b float64) float64 { return b / (1 << 20) }
