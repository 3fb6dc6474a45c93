package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// exporter runs Prometheus' snmp_exporter and the collector one after the other in
// the same invocation, each as fast as it goes, for the same five OIDs against the
// same devicesim process, and reports throughput and CPU per device poll of both and
// their ratio.
func exporter(args []string) error {
	fs := newFlagSet("exporter")
	n := fs.Int("devices", 30000, "devices to spread polls over")
	conc := fs.Int("concurrency", 64, "concurrent snmp_exporter scrapes")
	workers := fs.Int("workers", 64, "collector poll_workers")
	interval := fs.Duration("interval", 100*time.Millisecond, "collector poll_interval: short enough to saturate it")
	dur := fs.Duration("duration", 30*time.Second, "measurement window of each phase")
	rounds := fs.Int("rounds", 1, "exporter+collector rounds (alternating, against machine drift)")
	bin := fs.String("bin", "prometheus-snmp-exporter", "snmp_exporter binary")
	simBin := fs.String("devicesim", "", "devicesim binary (default: go build ./cmd/devicesim)")
	fs.Parse(args)
	port, err := freePort()
	if err != nil {
		return err
	}
	sim, err := startSimProcess(*simBin, *n, port)
	if err != nil {
		return err
	}
	defer sim.stop()
	fmt.Printf("devicesim process: %d devices; phases of %s; snmp_exporter %d concurrent scrapes; collector %d poll workers, poll_interval %s\n",
		*n, *dur, *conc, *workers, *interval)
	var ex, co []phase
	for range *rounds {
		e, err := runExporter(*bin, sim, port, *conc, *dur)
		if err != nil {
			return err
		}
		ex = append(ex, e)
		fmt.Println(e)
		c, err := runCollectorSaturated(sim, port, *workers, *interval, *dur)
		if err != nil {
			return err
		}
		co = append(co, c)
		fmt.Println(c)
	}
	e, c := best(ex), best(co)
	fmt.Printf("ratio collector/snmp_exporter (best round of each): %.1fx polls per second; %.1fx less CPU per device poll (%.1f vs %.1f µs)\n",
		c.rate/e.rate, e.cpuPer/c.cpuPer, c.cpuPer, e.cpuPer)
	return nil
}

// phase is one measured run.
type phase struct {
	name           string
	rate           float64 // successful device polls per second
	failed         float64
	cpu, simCPU    float64 // cores
	cpuPer, simPer float64 // µs per successful poll
	extra          string
}

func (p phase) String() string {
	return fmt.Sprintf("  %-14s %8.0f polls/s ok, %.0f failed; CPU %.2f cores = %.1f µs per poll; devicesim %.2f cores = %.1f µs per answer%s",
		p.name+":", p.rate, p.failed, p.cpu, p.cpuPer, p.simCPU, p.simPer, p.extra)
}

func best(ps []phase) phase {
	b := ps[0]
	for _, p := range ps[1:] {
		if p.rate > b.rate {
			b = p
		}
	}
	return b
}

func measured(name string, ok, failed, cpu, simCPU, el float64) phase {
	return phase{name: name, rate: ok / el, failed: failed, cpu: cpu / el, simCPU: simCPU / el,
		cpuPer: 1e6 * cpu / max(ok, 1), simPer: 1e6 * simCPU / max(ok, 1)}
}

// runCollectorSaturated polls every device every interval (more than the collector
// can do) and measures what it does.
func runCollectorSaturated(sim *simProcess, port, workers int, interval, dur time.Duration) (phase, error) {
	reg := prometheus.NewRegistry()
	c, err := newCollector(fmt.Sprintf(`snmp:
  port: %d
  timeout: 1s
  retries: 1
  poll_interval: %s
  poll_workers: %d
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
`, port, interval, workers), &sink{}, reg)
	if err != nil {
		return phase{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for _, a := range sim.addrs {
		c.Poller().Add(found(a.String(), port))
	}
	time.Sleep(3 * time.Second) // warm-up: first polls, identity changes reported
	ok0 := metric(reg, "medcmdb_snmp_polls_total", "result=success")
	bad0 := metric(reg, "medcmdb_snmp_polls_total", "result=failure")
	cpu0, scpu0 := selfCPU(), cpuOf(sim.pid())
	start := time.Now()
	time.Sleep(dur)
	el := time.Since(start).Seconds()
	ok := metric(reg, "medcmdb_snmp_polls_total", "result=success") - ok0
	bad := metric(reg, "medcmdb_snmp_polls_total", "result=failure") - bad0
	p := measured("collector", ok, bad, selfCPU()-cpu0, cpuOf(sim.pid())-scpu0, el)
	cancel()
	return p, <-done
}

const exporterConfig = `sys5:
  version: 2
  auth:
    community: public
  timeout: 1s
  retries: 1
  get:
    - 1.3.6.1.2.1.1.1.0
    - 1.3.6.1.2.1.1.2.0
    - 1.3.6.1.2.1.1.3.0
    - 1.3.6.1.2.1.1.5.0
    - 1.3.6.1.2.1.1.6.0
  metrics:
    - {name: sysDescr, oid: 1.3.6.1.2.1.1.1, type: DisplayString, help: sysDescr}
    - {name: sysObjectID, oid: 1.3.6.1.2.1.1.2, type: OctetString, help: sysObjectID}
    - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge, help: sysUpTime}
    - {name: sysName, oid: 1.3.6.1.2.1.1.5, type: DisplayString, help: sysName}
    - {name: sysLocation, oid: 1.3.6.1.2.1.1.6, type: DisplayString, help: sysLocation}
`

// runExporter starts snmp_exporter and scrapes it with conc concurrent clients, each
// scrape one device at random, for dur.
func runExporter(bin string, sim *simProcess, port, conc int, dur time.Duration) (phase, error) {
	dir, err := os.MkdirTemp("", "snmpbench")
	if err != nil {
		return phase{}, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "snmp.yml")
	if err := os.WriteFile(cfgPath, []byte(exporterConfig), 0o600); err != nil {
		return phase{}, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return phase{}, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--web.listen-address="+addr, "--log.level=error")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return phase{}, fmt.Errorf("starting %s: %w", bin, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		if r, err := client.Get("http://" + addr + "/"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			return phase{}, fmt.Errorf("snmp_exporter did not start on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ok, bad atomic.Int64
	scrape := func() {
		a := netip.AddrPortFrom(sim.addrs[rand.IntN(len(sim.addrs))], uint16(port))
		r, err := client.Get(fmt.Sprintf("http://%s/snmp?module=sys5&target=%s", addr, a))
		if err != nil {
			bad.Add(1)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == 200 && strings.Contains(string(body), "\nsysUpTime ") {
			ok.Add(1)
		} else {
			bad.Add(1)
		}
	}
	// Warm-up: connections open, the exporter's pools filled.
	warm, cancelWarm := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelWarm()
	var wg sync.WaitGroup
	run := func(ctx context.Context) {
		for range conc {
			wg.Go(func() {
				for ctx.Err() == nil {
					scrape()
				}
			})
		}
		wg.Wait()
	}
	run(warm)
	ok.Store(0)
	bad.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	cpu0, scpu0, gen0 := cpuOf(cmd.Process.Pid), cpuOf(sim.pid()), selfCPU()
	start := time.Now()
	run(ctx)
	el := time.Since(start).Seconds()
	p := measured("snmp_exporter", float64(ok.Load()), float64(bad.Load()), cpuOf(cmd.Process.Pid)-cpu0, cpuOf(sim.pid())-scpu0, el)
	p.extra = fmt.Sprintf("; the HTTP clients scraping it %.2f cores", (selfCPU()-gen0)/el)
	return p, nil
}
