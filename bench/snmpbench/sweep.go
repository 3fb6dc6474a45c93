package main

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/devicesim"
)

// sweep discovers a range sparsely populated by a simulated hospital laid out with
// -spacing (a unit's devices that many addresses apart, and units in aligned
// power-of-two blocks: about one address in 2 x spacing answers), with the collector's sweeper and with the
// walking skeleton's sweeper as the baseline, in the same invocation.
func sweep(args []string) error {
	fs := newFlagSet("sweep")
	cidr := fs.String("cidr", "127.70.0.0/16", "range to sweep")
	spacing := fs.Int("spacing", 8, "addresses between two devices of a unit (devicesim LayoutOptions.Spacing)")
	rate := fs.Int("rate", 5000, "sweep_rate (probes/s)")
	baseline := fs.Bool("baseline", true, "also run the synchronous per-address-session baseline")
	workers := fs.Int("baseline-workers", 256, "baseline workers")
	fs.Parse(args)
	prefix, err := netip.ParsePrefix(*cidr)
	if err != nil || !prefix.Addr().Is4() || prefix.Bits() < 8 {
		return fmt.Errorf("-cidr %q: want an IPv4 range inside 127.0.0.0/8", *cidr)
	}
	prefix = prefix.Masked()
	size := 1 << (32 - prefix.Bits())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Enough devices to fill the range at that spacing (unit blocks leave gaps; the
	// devices beyond the range are not swept).
	sim, err := startSim(ctx, devicesim.LayoutOptions{Seed: simSeed, Devices: size / *spacing, Base: prefix.Addr(), Spacing: *spacing})
	if err != nil {
		return err
	}
	want := 0
	for _, d := range sim.Hospital().Devices {
		if prefix.Contains(d.IP()) && d.IP() != prefix.Addr() {
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
`, sim.Port(), *rate, prefix), snk, nil)
	if err != nil {
		return err
	}
	cpu0 := selfCPU()
	res := c.Sweeper().Sweep(ctx)
	fmt.Printf("sweep %s: %d addresses, %d responders found of %d (one address in %.1f), %.1f s wall, %.1f s CPU with the in-process simulator (sweep_rate %d, timeout 1s, retries 1)\n",
		prefix, res.Probed, res.Responded, want, float64(size)/float64(max(want, 1)), res.Elapsed.Seconds(), selfCPU()-cpu0, *rate)
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
				g := &gosnmp.GoSNMP{Target: a.String(), Port: uint16(sim.Port()), Community: "public", Version: gosnmp.Version2c,
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
		prefix, found.Load(), el.Seconds(), selfCPU()-cpu0, *workers)
	fmt.Printf("ratio: baseline/new wall time = %.1fx\n", el.Seconds()/res.Elapsed.Seconds())
	return nil
}
