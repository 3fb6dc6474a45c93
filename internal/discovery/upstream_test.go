package discovery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// last returns the newest observation of sysName matching ok.
func (s *captureSender) last(sysName string, ok func(observation.Observation) bool) (observation.Observation, bool) {
	all := s.all()
	for i := len(all) - 1; i >= 0; i-- {
		if o := all[i]; o.Identity.SysName == sysName && ok(o) {
			return o, true
		}
	}
	return observation.Observation{}, false
}

// TestDownBehindALiveSwitchSaysTheSwitchAnswered runs a collector over a simulated
// hospital. A monitor that dies on its own is reported DOWN with the time its switch
// answered after it went silent (the switch was polled ahead of its turn to find
// out); a monitor whose switch dies with it is reported DOWN without it, so the cmdb
// waits and correlates it under the switch.
func TestDownBehindALiveSwitchSaysTheSwitchAnswered(t *testing.T) {
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: 11, Devices: 200})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := devicesim.New(h, devicesim.Config{Listen: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { defer close(simDone); _ = sim.Run(ctx) }()
	t.Cleanup(func() { cancel(); sim.Close(); <-simDone })

	// A long poll interval: without the early switch poll, the switch would most
	// likely not have answered by the time the monitor is confirmed DOWN.
	snmp := fmt.Sprintf("snmp:\n  port: %d\n  timeout: 500ms\n  retries: 0\n  poll_interval: 20s\n  down_after: 2\n  discovery_schedule: \"@every 1h\"\n", sim.Port())
	ranges := strings.Replace(h.CollectorRanges(sim.Port()), fmt.Sprintf("snmp:\n  port: %d\n", sim.Port()), snmp, 1)
	cfg, err := ParseConfig([]byte("site: s\nname: c\ncmdb: {url: 'http://127.0.0.1:1/graphql', token: x, flush_interval: 100ms}\n" + ranges))
	if err != nil {
		t.Fatal(err)
	}
	send := &captureSender{}
	col, err := New(cfg, Options{Logger: testkit.Logger(), Sender: send})
	if err != nil {
		t.Fatal(err)
	}
	colDone := make(chan error, 1)
	go func() { colDone <- col.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-colDone })

	// Two monitors on different access switches, once the collector knows where
	// each is plugged in.
	var mons []*devicesim.Device
	switchOf := map[string]string{}
	testkit.Eventually(t, 60*time.Second, func() error {
		mons, switchOf = nil, map[string]string{}
		used := map[string]bool{}
		for _, d := range h.Devices {
			if d.Class != devicesim.PatientMonitor {
				continue
			}
			o, ok := send.last(d.Name, func(o observation.Observation) bool { return len(o.Neighbors) > 0 })
			if !ok || used[o.Neighbors[0].SysName] {
				continue
			}
			used[o.Neighbors[0].SysName] = true
			switchOf[d.Name] = o.Neighbors[0].SysName
			mons = append(mons, d)
			if len(mons) == 2 {
				return nil
			}
		}
		return fmt.Errorf("%d monitors with a known switch port", len(mons))
	})
	alone, withSwitch := mons[0], mons[1]
	sw := h.Device(switchOf[withSwitch.Name])
	if sw == nil {
		t.Fatalf("no simulated switch %q", switchOf[withSwitch.Name])
	}

	isDown := func(o observation.Observation) bool { return o.State == observation.StateDown }
	wentDown := time.Now()
	sim.SetDown(alone, true)
	var down observation.Observation
	testkit.Eventually(t, 30*time.Second, func() error {
		var ok bool
		if down, ok = send.last(alone.Name, isDown); !ok {
			return fmt.Errorf("%s not reported DOWN yet", alone.Name)
		}
		return nil
	})
	if down.UpstreamAnsweredAt == nil {
		t.Fatalf("%s DOWN behind a live switch (%s) without upstreamAnsweredAt", alone.Name, switchOf[alone.Name])
	}
	if at := *down.UpstreamAnsweredAt; at.Before(wentDown) || at.After(down.ObservedAt) {
		t.Fatalf("upstreamAnsweredAt %v: want after the monitor went silent (%v) and before its DOWN (%v)", at, wentDown, down.ObservedAt)
	}
	if n := testutil.ToFloat64(col.metrics.upstream); n < 1 {
		t.Fatalf("switch confirmations %v, want at least 1", n)
	}
	t.Logf("%s DOWN %.1fs after it went silent; its switch answered %.1fs after",
		alone.Name, down.ObservedAt.Sub(wentDown).Seconds(), down.UpstreamAnsweredAt.Sub(wentDown).Seconds())

	// The switch dies, and with it the monitor behind it.
	sim.SetDown(sw, true)
	testkit.Eventually(t, 30*time.Second, func() error {
		if _, ok := send.last(withSwitch.Name, isDown); !ok {
			return fmt.Errorf("%s not reported DOWN yet", withSwitch.Name)
		}
		return nil
	})
	if o, _ := send.last(withSwitch.Name, isDown); o.UpstreamAnsweredAt != nil {
		t.Fatalf("%s DOWN with a dead switch carries upstreamAnsweredAt %v", withSwitch.Name, o.UpstreamAnsweredAt)
	}
}
