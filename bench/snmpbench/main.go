// Command snmpbench measures the SNMP collector on this machine: sweeps, sustained
// polling, the collector next to Prometheus' snmp_exporter, detection latency and trap
// bursts. The agents are the project's simulated hospital (internal/devicesim, in
// this process or as a cmd/devicesim process); see bench/snmp.md for the figures and
// the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: snmpbench sweep|poll|exporter|latency|traps [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
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

func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ExitOnError) }

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
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

// liveHeap is the heap in use after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// sink is a Sender that counts and optionally timestamps observations.
type sink struct {
	n      atomic.Int64
	onDown func(ip string, at time.Time)
}

func (s *sink) Send(_ context.Context, batch []observation.Observation) error {
	s.n.Add(int64(len(batch)))
	if s.onDown != nil {
		now := time.Now()
		for _, o := range batch {
			if o.State == observation.StateDown && o.Kind == observation.KindChange {
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

var benchCred = &discovery.Credential{Name: "v2", Version: "2c", Community: "public"}

func found(a string, port int) discovery.Found {
	return discovery.Found{Target: discovery.Target{Host: a, Port: uint16(port)}, Cred: benchCred,
		Sys: discovery.SystemInfo{Name: "x"}}
}
