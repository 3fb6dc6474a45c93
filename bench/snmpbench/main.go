// Command snmpbench measures the SNMP collector on this machine: sweeps, sustained
// polling (next to Prometheus' snmp_exporter), and detection latency. Agents are
// simulated by bench/snmpresponder; see bench/snmp.md for the figures and commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/bench/snmpresponder"
	"github.com/medcmdb/medcmdb/internal/discovery"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: snmpbench responder|sweep|poll|exporter|latency [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "responder":
		err = responder(os.Args[2:])
	case "sweep":
		err = sweep(os.Args[2:])
	case "poll":
		err = poll(os.Args[2:])
	case "exporter":
		err = exporter(os.Args[2:])
	case "traps":
		err = traps(os.Args[2:])
	case "latency":
		err = latency(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "snmpbench:", err)
		os.Exit(1)
	}
}

// addrAt returns base + i.
func addrAt(base netip.Addr, i int) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func inRange(base netip.Addr, n int) func(netip.Addr) bool {
	lo := addrAt(base, 0)
	hi := addrAt(base, n)
	return func(a netip.Addr) bool { return a.Compare(lo) >= 0 && a.Compare(hi) < 0 }
}

// responder runs the simulator as its own process, so its CPU is not the collector's.
func responder(args []string) error {
	fs := flag.NewFlagSet("responder", flag.ExitOnError)
	base := fs.String("base", "127.64.0.1", "first alive address")
	n := fs.Int("n", 1000, "alive addresses")
	port := fs.Int("port", 16161, "UDP port")
	readers := fs.Int("readers", 2, "reader goroutines")
	fs.Parse(args)
	r, err := snmpresponder.Start(*port, "public", inRange(netip.MustParseAddr(*base), *n), *readers)
	if err != nil {
		return err
	}
	fmt.Println("READY", r.Port())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
	fmt.Fprintln(os.Stderr, "served", r.Served.Load(), "ignored", r.Ignored.Load())
	return r.Close()
}

// child starts this program as a responder process.
func child(base string, n, port int) (*exec.Cmd, error) {
	cmd := exec.Command(os.Args[0], "responder", "-base", base, "-n", strconv.Itoa(n), "-port", strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	buf := make([]byte, 64)
	k, _ := out.Read(buf)
	if !strings.HasPrefix(string(buf[:k]), "READY") {
		cmd.Process.Kill()
		return nil, fmt.Errorf("responder did not start: %q", buf[:k])
	}
	return cmd, nil
}

// cpuOf returns user+system CPU seconds of a process from /proc.
func cpuOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// sink is a Sender that counts and optionally timestamps observations.
type sink struct {
	n      atomic.Int64
	onDown func(ip string, at time.Time)
}

func (s *sink) Send(_ context.Context, batch []discovery.Observation) error {
	s.n.Add(int64(len(batch)))
	if s.onDown != nil {
		now := time.Now()
		for _, o := range batch {
			if o.State == discovery.StateDown && o.Kind == discovery.KindChange {
				s.onDown(o.Address.IP, now)
			}
		}
	}
	return nil
}

func newCollector(yaml string, snk *sink, reg prometheus.Registerer) (*discovery.Collector, error) {
	cfg, err := discovery.ParseConfig([]byte("site: bench\nname: bench\ncmdb: {url: 'http://127.0.0.1:1/graphql', token: x}\n" + yaml))
	if err != nil {
		return nil, err
	}
	return discovery.New(cfg, discovery.Options{Sender: snk, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// metric sums a counter/histogram-count family from a registry.
func metric(g prometheus.Gatherer, name, label string) float64 {
	mfs, _ := g.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName()+"="+lp.GetValue() == label {
					ok = true
				}
			}
			if !ok {
				continue
			}
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Histogram != nil:
				total += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return total
}

func sweep(args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ExitOnError)
	cidr := fs.String("cidr", "127.70.0.0/16", "range to sweep")
	every := fs.Int("every", 16, "one address in N answers")
	rate := fs.Int("rate", 5000, "sweep_rate (probes/s)")
	baseline := fs.Bool("baseline", true, "also run the synchronous per-address-session baseline")
	workers := fs.Int("baseline-workers", 256, "baseline workers")
	fs.Parse(args)
	prefix := netip.MustParsePrefix(*cidr)
	alive := func(a netip.Addr) bool {
		if !prefix.Contains(a) {
			return false
		}
		h := fnv.New32a()
		b := a.As4()
		h.Write(b[:])
		return h.Sum32()%uint32(*every) == 0
	}
	r, err := snmpresponder.Start(0, "public", alive, 2)
	if err != nil {
		return err
	}
	defer r.Close()
	want := 0
	for a := prefix.Addr().Next(); prefix.Contains(a.Next()); a = a.Next() {
		if alive(a) {
			want++
		}
	}
	snk := &sink{}
	c, err := newCollector(fmt.Sprintf(`snmp:
  port: %d
  timeout: 1s
  retries: 1
  sweep_rate: %d
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: %s}]
`, r.Port(), *rate, *cidr), snk, nil)
	if err != nil {
		return err
	}
	cpu0 := selfCPU()
	res := c.Sweeper().Sweep(context.Background())
	fmt.Printf("sweep %s: %d addresses, %d responders of %d, %.1f s wall, %.1f s CPU (sweep_rate %d, timeout 1s, retries 1)\n",
		*cidr, res.Probed, res.Responded, want, res.Elapsed.Seconds(), selfCPU()-cpu0, *rate)
	if !*baseline {
		return nil
	}
	// Baseline: the walking skeleton's sweeper — a gosnmp session (connected socket)
	// per address, synchronous Get of the system group, N workers.
	start := time.Now()
	cpu0 = selfCPU()
	var found atomic.Int64
	jobs := make(chan netip.Addr)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for a := range jobs {
				g := &gosnmp.GoSNMP{Target: a.String(), Port: uint16(r.Port()), Community: "public", Version: gosnmp.Version2c,
					Timeout: time.Second, Retries: 1, MaxOids: gosnmp.MaxOids}
				if g.Connect() != nil {
					continue
				}
				if p, err := g.Get([]string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0"}); err == nil && p.Error == gosnmp.NoError {
					found.Add(1)
				}
				g.Conn.Close()
			}
		})
	}
	for a := prefix.Addr().Next(); prefix.Contains(a.Next()); a = a.Next() {
		jobs <- a
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("baseline %s: %d responders, %.1f s wall, %.1f s CPU (%d workers, session per address, timeout 1s, retries 1)\n",
		*cidr, found.Load(), el.Seconds(), selfCPU()-cpu0, *workers)
	fmt.Printf("ratio: baseline/new wall time = %.1fx\n", el.Seconds()/res.Elapsed.Seconds())
	return nil
}

func poll(args []string) error {
	fs := flag.NewFlagSet("poll", flag.ExitOnError)
	n := fs.Int("devices", 300000, "devices")
	interval := fs.Duration("interval", 30*time.Second, "poll_interval")
	measure := fs.Duration("measure", 60*time.Second, "measurement window after one warm-up interval")
	workers := fs.Int("workers", 32, "poll_workers")
	port := fs.Int("port", 16162, "responder port")
	base := fs.String("base", "127.64.0.1", "first device address")
	fs.Parse(args)
	cmd, err := child(*base, *n, *port)
	if err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()

	reg := prometheus.NewRegistry()
	snk := &sink{}
	c, err := newCollector(fmt.Sprintf(`snmp:
  port: %d
  timeout: 1s
  retries: 1
  poll_interval: %s
  poll_workers: %d
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
`, *port, *interval, *workers), snk, reg)
	if err != nil {
		return err
	}
	var ms0 runtimeMem
	ms0.read()
	cred := &discovery.Credential{Name: "v2", Version: "2c", Community: "public"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	b := netip.MustParseAddr(*base)
	t0 := time.Now()
	for i := range *n {
		c.Poller().Add(discovery.Found{Target: discovery.Target{Host: addrAt(b, i).String(), Port: uint16(*port)},
			Cred: cred, Sys: discovery.SystemInfo{Name: "x"}})
	}
	fmt.Printf("added %d devices in %.1f s\n", *n, time.Since(t0).Seconds())
	time.Sleep(*interval)
	var ms1 runtimeMem
	ms1.read()
	p0 := metric(reg, "medcmdb_snmp_polls_total", "")
	ok0 := metric(reg, "medcmdb_snmp_polls_total", "result=success")
	late0 := metric(reg, "medcmdb_snmp_polls_late_total", "")
	cpu0, rcpu0 := selfCPU(), cpuOf(cmd.Process.Pid)
	start := time.Now()
	time.Sleep(*measure)
	el := time.Since(start).Seconds()
	polls := metric(reg, "medcmdb_snmp_polls_total", "") - p0
	okp := metric(reg, "medcmdb_snmp_polls_total", "result=success") - ok0
	late := metric(reg, "medcmdb_snmp_polls_late_total", "") - late0
	cpu, rcpu := selfCPU()-cpu0, cpuOf(cmd.Process.Pid)-rcpu0
	expected := float64(*n) * el / interval.Seconds()
	missed := max(0, expected-okp)
	fmt.Printf("poll: %d devices every %s, %d workers, window %.0f s\n", *n, *interval, *workers, el)
	fmt.Printf("  polls %.0f (%.0f/s), successful %.0f, expected %.0f; late %.2f%%, missed or failed %.2f%%\n",
		polls, polls/el, okp, expected, 100*late/max(polls, 1), 100*missed/expected)
	fmt.Printf("  collector CPU %.2f cores (%.1f µs per poll); responder CPU %.2f cores\n", cpu/el, 1e6*cpu/max(polls, 1), rcpu/el)
	fmt.Printf("  heap: %.0f bytes per device (heap in use %.1f MiB after GC; before adding %.1f MiB); RSS %.1f MiB\n",
		float64(ms1.heap-ms0.heap)/float64(*n), float64(ms1.heap)/(1<<20), float64(ms0.heap)/(1<<20), rssMiB())
	fmt.Printf("  observations sent to the (counting) sender: %d\n", snk.n.Load())
	cancel()
	<-done
	return nil
}

func rssMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// exporter drives Prometheus' snmp_exporter against the same simulated agents for the
// same five OIDs, as fast as it answers, and reports scrapes per second and per CPU.
func exporter(args []string) error {
	fs := flag.NewFlagSet("exporter", flag.ExitOnError)
	n := fs.Int("devices", 10000, "devices to spread scrapes over")
	conc := fs.Int("concurrency", 64, "concurrent scrapes")
	dur := fs.Duration("duration", 30*time.Second, "measurement window")
	port := fs.Int("port", 16163, "responder port")
	base := fs.String("base", "127.64.0.1", "first device address")
	bin := fs.String("bin", "prometheus-snmp-exporter", "snmp_exporter binary")
	fs.Parse(args)
	cmd, err := child(*base, *n, *port)
	if err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	return runExporter(*bin, *base, *n, *port, *conc, *dur)
}

type runtimeMem struct{ heap uint64 }
