package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// poll keeps -devices devices polled every -interval by one collector and reports
// polls per second, late and missed polls, CPU and memory per device. The agents are
// a devicesim process, so the CPU measured here is the collector's alone.
func poll(args []string) error {
	fs := newFlagSet("poll")
	n := fs.Int("devices", 300000, "devices")
	interval := fs.Duration("interval", 30*time.Second, "poll_interval")
	measure := fs.Duration("measure", 60*time.Second, "measurement window after one warm-up interval")
	workers := fs.Int("workers", 64, "poll_workers")
	bin := fs.String("devicesim", "", "devicesim binary (default: go build ./cmd/devicesim)")
	fs.Parse(args)
	port, err := freePort()
	if err != nil {
		return err
	}
	sim, err := startSimProcess(*bin, *n, port)
	if err != nil {
		return err
	}
	defer sim.stop()
	addrs := make([]string, len(sim.addrs))
	for i, a := range sim.addrs {
		addrs[i] = a.String()
	}
	sim.addrs = nil

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
`, port, *interval, *workers), snk, reg)
	if err != nil {
		return err
	}
	heap0 := liveHeap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t0 := time.Now()
	for _, a := range addrs {
		c.Poller().Add(found(a, port))
	}
	fmt.Printf("added %d devices in %.1f s\n", *n, time.Since(t0).Seconds())
	addrs = nil
	time.Sleep(*interval)
	heap1 := liveHeap()
	p0 := metric(reg, "medcmdb_snmp_polls_total", "")
	ok0 := metric(reg, "medcmdb_snmp_polls_total", "result=success")
	late0 := metric(reg, "medcmdb_snmp_polls_late_total", "")
	cpu0, scpu0 := selfCPU(), cpuOf(sim.pid())
	start := time.Now()
	time.Sleep(*measure)
	el := time.Since(start).Seconds()
	polls := metric(reg, "medcmdb_snmp_polls_total", "") - p0
	okp := metric(reg, "medcmdb_snmp_polls_total", "result=success") - ok0
	late := metric(reg, "medcmdb_snmp_polls_late_total", "") - late0
	cpu, scpu := selfCPU()-cpu0, cpuOf(sim.pid())-scpu0
	expected := float64(*n) * el / interval.Seconds()
	missed := max(0, expected-okp)
	fmt.Printf("poll: %d devices every %s, %d workers, window %.0f s\n", *n, *interval, *workers, el)
	fmt.Printf("  polls %.0f (%.0f/s), successful %.0f, expected %.0f; late %.2f%%, missed or failed %.2f%%\n",
		polls, polls/el, okp, expected, 100*late/max(polls, 1), 100*missed/expected)
	fmt.Printf("  collector CPU %.2f cores (%.1f µs per poll); devicesim CPU %.2f cores\n", cpu/el, 1e6*cpu/max(polls, 1), scpu/el)
	fmt.Printf("  heap: %.0f bytes per device (heap in use %.1f MiB after GC; before adding %.1f MiB); RSS %.1f MiB\n",
		float64(heap1-heap0)/float64(*n), float64(heap1)/(1<<20), float64(heap0)/(1<<20), rssMiB())
	fmt.Printf("  observations sent to the (counting) sender: %d\n", snk.n.Load())
	cancel()
	<-done
	return nil
}
