package incidents_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// edge is one condition change of a device, as an applied observation reports it.
type edge struct {
	asset *assets.Asset
	at    time.Duration // after the start of the scenario
	on    bool
}

func outcome(e edge, start time.Time) assets.Outcome {
	o := assets.Outcome{Asset: e.asset, Observation: &observation.Observation{ID: fmt.Sprint(e.asset.ID, e.at), ObservedAt: start.Add(e.at)}}
	if e.on {
		o.Raised = []string{observation.CondSNMPUnreachable}
	} else {
		o.Cleared = []string{observation.CondSNMPUnreachable}
	}
	return o
}

// summary lists (asset, state, flapping, reopened) of every incident, sorted.
func summary(e *incidents.Engine) []string {
	list, _ := e.List(incidents.Filter{}, 0, 100)
	var out []string
	for _, i := range list {
		recurred := 0
		for _, ev := range i.Timeline {
			if ev.Kind == incidents.EventRecurred {
				recurred++
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s flapping=%v recurred=%d", i.AssetID, i.Condition, i.State, i.Flapping, recurred))
	}
	slices.Sort(out)
	return out
}

// TestReplayedBatchGivesTheIncidentsOfALiveRun: a collector that could not reach the
// cmdb sends what it saw afterwards, in one batch. The incidents must be those the
// cmdb would have raised had it received each observation as it happened: a pump down
// and up again during the outage has its incident, a printer down for less than its
// hold has none, one down for longer than its hold has one, a flapping ventilator is
// flagged as flapping.
func TestReplayedBatchGivesTheIncidentsOfALiveRun(t *testing.T) {
	pump := asset("pump-1", assets.ClassInfusionPump, "ICU")
	shortPrinter := asset("printer-short", assets.ClassPrinter, "ADMIN")
	longPrinter := asset("printer-long", assets.ClassPrinter, "ADMIN")
	vent := asset("vent-1", assets.ClassVentilator, "ICU")
	var scenario []edge
	add := func(a *assets.Asset, down, up time.Duration) {
		scenario = append(scenario, edge{a, down, true}, edge{a, up, false})
	}
	add(pump, 10*time.Second, 40*time.Second)
	add(shortPrinter, 5*time.Second, 65*time.Second)
	add(longPrinter, 5*time.Second, 185*time.Second)
	for k := range 4 {
		add(vent, time.Duration(20+20*k)*time.Second, time.Duration(30+20*k)*time.Second)
	}
	slices.SortStableFunc(scenario, func(a, b edge) int { return int(a.at - b.at) })
	end := 4 * time.Minute

	run := func(live bool) []string {
		ctx := context.Background()
		st := incidents.NewMemStore()
		src := &fakeAssets{m: map[string]*assets.Asset{}}
		for _, a := range []*assets.Asset{pump, shortPrinter, longPrinter, vent} {
			src.set(a)
		}
		clk := newClock()
		start := clk.Now()
		e, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Logger: testkit.Logger(), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		var batch []assets.Outcome
		for _, ev := range scenario {
			if live {
				// Time passes second by second, as the engine's ticker sees it.
				for clk.Now().Before(start.Add(ev.at)) {
					clk.Advance(time.Second)
					if err := e.Tick(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			cur := *ev.asset
			cur.Channels = nil
			if ev.on {
				cur.Channels = asset(cur.ID, cur.Class, cur.Location.CareArea, observation.CondSNMPUnreachable).Channels
			}
			src.set(&cur)
			o := outcome(ev, start)
			o.Asset = &cur
			if live {
				if err := e.Handle(ctx, []assets.Outcome{o}); err != nil {
					t.Fatal(err)
				}
			} else {
				batch = append(batch, o)
			}
		}
		if !live {
			// The cmdb comes back after the whole scenario and gets it in one batch.
			clk.Advance(end)
			if err := e.Handle(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		for clk.Now().Before(start.Add(end + 10*time.Minute)) {
			clk.Advance(5 * time.Second)
			if err := e.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return summary(e)
	}
	live, replayed := run(true), run(false)
	t.Logf("live run: %q", live)
	want := []string{
		"printer-long snmp.unreachable RESOLVED flapping=false recurred=0",
		"pump-1 snmp.unreachable RESOLVED flapping=false recurred=0",
		"vent-1 snmp.unreachable RESOLVED flapping=true recurred=2",
	}
	if !slices.Equal(live, want) {
		t.Fatalf("live run gives %q, want %q", live, want)
	}
	if !slices.Equal(replayed, live) {
		t.Fatalf("replayed batch gives %q, live run %q", replayed, live)
	}
}
