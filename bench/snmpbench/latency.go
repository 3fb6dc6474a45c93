package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/devicesim"
)

// latency measures device silent → DOWN observation delivered, with the reporter in
// the path (a counting sender stands for the cmdb), while other devices are dead
// (steady state) or die all at the same moment (-transient).
func latency(args []string) error {
	fs := newFlagSet("latency")
	live := fs.Int("live", 1000, "live devices")
	dead := fs.Int("dead", 0, "dead devices")
	samples := fs.Int("samples", 200, "live devices silenced, one every -spacing")
	spacing := fs.Duration("spacing", 100*time.Millisecond, "time between silencing two devices")
	transient := fs.Bool("transient", false, "the dead devices are up first and all die at the moment the first sample is silenced")
	fs.Parse(args)
	if *samples > *live {
		return fmt.Errorf("-samples %d is more than -live %d", *samples, *live)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Switches are left out: a switch going down takes its devices with it.
	sim, err := startSim(ctx, devicesim.LayoutOptions{Seed: simSeed, Devices: (*live + *dead) * 11 / 10})
	if err != nil {
		return err
	}
	eps := endpoints(sim.Hospital())
	if len(eps) < *live+*dead {
		return fmt.Errorf("only %d endpoints in the simulated hospital", len(eps))
	}
	rand.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	liveDevs, deadDevs := eps[:*live], eps[*live:*live+*dead]

	var mu sync.Mutex
	silenced := map[string]time.Time{}
	massAt := map[string]time.Time{}
	var lat, massLat []time.Duration
	downs := 0
	snk := &sink{onDown: func(ip string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		downs++
		if t0, ok := silenced[ip]; ok {
			lat = append(lat, at.Sub(t0))
			delete(silenced, ip)
		}
		if t0, ok := massAt[ip]; ok {
			massLat = append(massLat, at.Sub(t0))
			delete(massAt, ip)
		}
	}}
	c, err := newCollector(fmt.Sprintf(`snmp:
  port: %d
  timeout: 1s
  retries: 1
  poll_interval: 5s
  down_after: 2
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
`, sim.Port()), snk, nil)
	if err != nil {
		return err
	}
	if !*transient {
		for _, d := range deadDevs {
			sim.SetDown(d, true)
		}
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for _, d := range append(slices.Clone(liveDevs), deadDevs...) {
		c.Poller().Add(found(d.IP().String(), sim.Port()))
	}
	// Settle: every device polled at least once, and in steady state every dead one
	// DOWN already.
	wstart := time.Now()
	for !*transient && time.Since(wstart) < 2*time.Minute {
		mu.Lock()
		n := downs
		mu.Unlock()
		if n >= *dead {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(6 * time.Second)
	settled := time.Since(wstart)
	if *transient {
		now := time.Now()
		mu.Lock()
		for _, d := range deadDevs {
			massAt[d.IP().String()] = now
		}
		mu.Unlock()
		for _, d := range deadDevs {
			sim.SetDown(d, true)
		}
	}
	for _, d := range liveDevs[:*samples] {
		mu.Lock()
		silenced[d.IP().String()] = time.Now()
		mu.Unlock()
		sim.SetDown(d, true)
		time.Sleep(*spacing)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		left := len(silenced) + len(massAt)
		mu.Unlock()
		if left == 0 {
			break
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("latency: %d live + %d dead devices (settled %.0f s, transient=%v), poll 5s, down_after 2, timeout 1s, retries 1: %s\n",
		*live, *dead, settled.Seconds(), *transient, quantiles(lat, *samples))
	if *transient {
		fmt.Printf("  the %d devices that died together: %s\n", *dead, quantiles(massLat, *dead))
	}
	return nil
}

func quantiles(lat []time.Duration, want int) string {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return fmt.Sprintf("%d/%d detected; p50 %.2f s, p99 %.2f s, max %.2f s",
		len(lat), want, q(0.50).Seconds(), q(0.99).Seconds(), q(1).Seconds())
}
