// Command cmdbbench measures the cmdb's dashboard queries and observation batches at
// a given inventory size, on the embedded store or on a MongoDB (--mongo-uri, or
// MEDCMDB_BENCH_MONGO_URI). It starts a real cmdb server in-process, seeds it with
// simulated devices, and times GraphQL requests over HTTP. See bench/cmdb.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/graphql"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/server"
)

func main() {
	sizes := flag.String("assets", "5000", "comma-separated inventory sizes")
	mongo := flag.String("mongo-uri", os.Getenv("MEDCMDB_BENCH_MONGO_URI"), "MongoDB URI; empty = embedded store")
	querySamples := flag.Int("query-samples", 200, "samples per dashboard query")
	batchSamples := flag.Int("batch-samples", 10, "samples per 1,000-observation batch")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cmdbbench:", err)
			os.Exit(2)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1000 {
			fmt.Fprintf(os.Stderr, "cmdbbench: --assets %q: want sizes of at least 1000\n", s)
			os.Exit(2)
		}
		if err := run(n, *mongo, *querySamples, *batchSamples); err != nil {
			fmt.Fprintln(os.Stderr, "cmdbbench:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}

var careAreas = []string{"ICU", "NICU", "ED", "OR", "STEPDOWN", "WARD", "WARD", "WARD", "OUTPATIENT", "LAB", "ADMIN"}
var classes = []string{"PATIENT_MONITOR", "PATIENT_MONITOR", "INFUSION_PUMP", "INFUSION_PUMP", "INFUSION_PUMP", "VENTILATOR",
	"LAB_ANALYZER", "IMAGING", "NETWORK_SWITCH", "WIRELESS_AP", "UPS", "PRINTER", "WORKSTATION"}

// device is the i-th simulated device.
func device(i int, at time.Time, id string, state observation.State) observation.Observation {
	area := careAreas[i%len(careAreas)]
	o := observation.Observation{
		ID: id, Collector: "bench", Site: fmt.Sprintf("site-%d", i%3), ObservedAt: at, ValidUntil: at.Add(time.Hour),
		Source: observation.SourceSNMPPoll, Kind: observation.KindChange, State: state, Conditions: []string{},
		Address: &observation.Address{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff), Port: 161},
		Identity: observation.Identity{
			SysName: fmt.Sprintf("dev-%06d", i), Class: classes[i%len(classes)],
			MACs:     []string{fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)},
			SysDescr: "simulated device", Manufacturer: "Acme", Model: fmt.Sprintf("M%d", i%20), Serial: fmt.Sprintf("SN%07d", i),
		},
		Location: &observation.Location{Building: "Tower " + string(rune('A'+i%4)), Floor: strconv.Itoa(i % 9), Unit: fmt.Sprintf("%s-%d", area, i%5), CareArea: area},
	}
	if state == observation.StateDown {
		o.Condition = observation.CondSNMPUnreachable
		o.Conditions = []string{observation.CondSNMPUnreachable}
	}
	return o
}

type client struct {
	url, token string
	http       *http.Client
}

func (c *client) do(query string, vars map[string]any) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	if len(out.Errors) > 0 {
		return nil, fmt.Errorf("graphql: %s", out.Errors[0].Message)
	}
	return out.Data, nil
}

type timing struct {
	name string
	d    []time.Duration
}

func (t *timing) String() string {
	slices.Sort(t.d)
	q := func(p float64) time.Duration { return t.d[min(len(t.d)-1, int(p*float64(len(t.d))))] }
	return fmt.Sprintf("| %s | %d | %s | %s | %s |", t.name, len(t.d), q(0.50).Round(10*time.Microsecond),
		q(0.99).Round(10*time.Microsecond), t.d[len(t.d)-1].Round(10*time.Microsecond))
}

func measure(name string, n int, fn func(i int) error) (*timing, error) {
	fmt.Fprintf(os.Stderr, "cmdbbench: %s ...\n", name)
	t := &timing{name: name}
	for i := range n {
		start := time.Now()
		if err := fn(i); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t.d = append(t.d, time.Since(start))
		if n <= 20 {
			fmt.Fprintf(os.Stderr, "cmdbbench:   %s\n", t.d[len(t.d)-1].Round(time.Millisecond))
		}
	}
	return t, nil
}

func run(n int, mongoURI string, querySamples, batchSamples int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "cmdbbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dbName := fmt.Sprintf("cmdbbench_%d_%d", n, time.Now().Unix())
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", MongoURI: mongoURI, DataDir: dir, Database: dbName, Logger: log, Limits: benchLimits()})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return err
	}
	c := &client{url: srv.URL() + "/graphql", token: strings.TrimSpace(string(tok)), http: &http.Client{Timeout: 5 * time.Minute}}
	svc := srv.Assets()
	store := "embedded FerretDB/SQLite"
	if mongoURI != "" {
		store = "MongoDB"
	}
	fmt.Printf("\n### %d assets, %s\n\n", n, store)

	// Seed through the registry directly: 1,000 new devices per batch.
	t0 := time.Now()
	seed := &timing{name: "Apply: 1,000 new devices (seeding)"}
	for start := 0; start < n; start += 1000 {
		var obs []observation.Observation
		for i := start; i < min(start+1000, n); i++ {
			obs = append(obs, device(i, t0, fmt.Sprintf("seed-%d", i), observation.StateUp))
		}
		s := time.Now()
		if _, err := svc.Apply(ctx, obs, "seed"); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		seed.d = append(seed.d, time.Since(s))
	}
	seedTime := time.Since(t0)
	// One asset with 60 history entries.
	for k := range 60 {
		o := device(0, t0.Add(time.Duration(k+1)*time.Second), fmt.Sprintf("hist-%d", k), observation.StateUp)
		o.Identity.SysDescr = fmt.Sprintf("simulated device fw %d", k)
		if _, err := svc.Apply(ctx, []observation.Observation{o}, "hist"); err != nil {
			return err
		}
	}
	first, _ := svc.List(assets.Filter{Search: "dev-000000"}, 0, 1)
	histID := first[0].ID
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	var results []*timing
	add := func(t *timing, err error) error {
		if err != nil {
			return err
		}
		results = append(results, t)
		return nil
	}
	at := t0.Add(time.Hour)
	seq := 0
	// State-change batches come in pairs over the same 1,000 devices: DOWN, then UP
	// again, so every sample is 1,000 real state changes (each a status change with a
	// history entry and, through the API, an incident opened or resolved) and the
	// inventory ends healthy. Refresh batches go to devices no batch touched.
	toMaps := func(obs []observation.Observation) []map[string]any {
		b, _ := json.Marshal(obs)
		var m []map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	batch := func(first int, state observation.State) []observation.Observation {
		at = at.Add(time.Second)
		var obs []observation.Observation
		for k := range 1000 {
			seq++
			obs = append(obs, device((first+k)%n, at, fmt.Sprintf("b-%d", seq), state))
		}
		return obs
	}
	flip := func(i int) observation.State {
		if i%2 == 0 {
			return observation.StateDown
		}
		return observation.StateUp
	}
	if err := add(measure("Apply: 1,000 state changes (assets only)", batchSamples, func(i int) error {
		_, err := svc.Apply(ctx, batch(n/2+i/2*1000, flip(i)), "bench")
		return err
	})); err != nil {
		return err
	}
	const report = `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted duplicates rejected { reason } } }`
	if err := add(measure("reportObservations: 1,000 state changes (API, with incidents)", batchSamples, func(i int) error {
		_, err := c.do(report, map[string]any{"b": map[string]any{"collector": "bench", "observations": toMaps(batch(i/2*1000, flip(i)))}})
		return err
	})); err != nil {
		return err
	}
	if err := add(measure("reportObservations: 1,000 refreshes, no change (API)", batchSamples, func(i int) error {
		_, err := c.do(report, map[string]any{"b": map[string]any{"collector": "bench", "observations": toMaps(batch(n/4+i*1000, observation.StateUp))}})
		return err
	})); err != nil {
		return err
	}
	const list = `query($a: String!) { assets(filter: {careArea: $a}, first: 50) { totalCount
	  nodes { id name class status site ipAddresses riskScore lastSeenAt location { building floor unit careArea room bed } }
	  pageInfo { hasNextPage endCursor } } }`
	if err := add(measure("assets(filter:{careArea}) first 50", querySamples, func(i int) error {
		_, err := c.do(list, map[string]any{"a": careAreas[i%len(careAreas)]})
		return err
	})); err != nil {
		return err
	}
	const one = `query($id: ID!) { asset(id: $id) { id name class status manufacturer model serialNumber firmwareVersion
	  location { building unit careArea room } risk { score managed } upstream { kind asset { name } } dependents { asset { name } }
	  history(first: 50) { at field before after source actor cursor } } }`
	if err := add(measure("asset with 50 history entries", querySamples, func(int) error {
		raw, err := c.do(one, map[string]any{"id": histID})
		if err == nil && strings.Count(string(raw), `"field"`) != 50 {
			err = fmt.Errorf("history: %d entries", strings.Count(string(raw), `"field"`))
		}
		return err
	})); err != nil {
		return err
	}
	const health = `{ assetHealth { site careArea class total operational degraded down unknown maintenance retired } }`
	if err := add(measure("assetHealth (site × care area × class)", querySamples, func(int) error {
		_, err := c.do(health, nil)
		return err
	})); err != nil {
		return err
	}
	// Start-up: stop the server and open the same store again; New loads the whole
	// working set (assets, incidents, tokens) before it answers.
	cancel()
	<-done
	stopped = true
	t1 := time.Now()
	ctx2, cancel2 := context.WithCancel(context.Background())
	srv2, err := server.New(ctx2, server.Config{Listen: "127.0.0.1:0", MongoURI: mongoURI, DataDir: dir, Database: dbName, Logger: log, Limits: benchLimits()})
	startup := time.Since(t1)
	if err != nil {
		cancel2()
		return fmt.Errorf("restarting: %w", err)
	}
	loaded := srv2.Assets().Count()
	done2 := make(chan error, 1)
	go func() { done2 <- srv2.Run(ctx2) }()
	cancel2()
	<-done2
	fmt.Printf("Seeded in %s (%d batches of 1,000 new devices; heap in use after seeding %d MiB). "+
		"Restart (store opened, %d assets and the incidents loaded): %s.\n\n",
		seedTime.Round(time.Millisecond), len(seed.d), ms.HeapInuse>>20, loaded, startup.Round(time.Millisecond))
	fmt.Println("| measurement | samples | p50 | p99 | max |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	fmt.Println(seed)
	for _, r := range results {
		fmt.Println(r)
	}
	return nil
}

// benchLimits are the server's defaults with the per-token rate lifted: the queries are
// timed back to back, faster than one dashboard user's budget of 20 a second.
func benchLimits() graphql.Limits {
	l := graphql.DefaultLimits()
	l.Rate, l.Burst = 1e6, 1e6
	return l
}
