package replay_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// A simulated hospital week, generated deterministically and run through the live
// pieces of the cmdb (asset registry, incident engine, observation log) on a
// compressed clock: what a cmdb would have recorded.

var weekStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const week = 7 * 24 * time.Hour

// device is one simulated device; each is alone of its class in its unit, so no
// spare lowers its urgency and the expected priorities follow from class and area.
type device struct {
	name, class, area, unit, ip string
}

// episode is one failure: the device is unreachable from start for dur.
type episode struct {
	dev        *device
	start, end time.Time
}

func (e episode) blip() bool { return e.end.Sub(e.start) < 2*time.Minute }

func hospital() []*device {
	var out []*device
	add := func(n int, class, area, unitPrefix string) {
		for i := range n {
			k := len(out) + 10
			out = append(out, &device{name: fmt.Sprintf("%s-%s-%d", class, area, i+1), class: class, area: area,
				unit: fmt.Sprintf("%s-%d", unitPrefix, i+1), ip: fmt.Sprintf("10.9.%d.%d", k/200, k%200+10)})
		}
	}
	add(4, "VENTILATOR", "ICU", "ICU")
	add(4, "PATIENT_MONITOR", "ICU", "ICU-M")
	add(3, "INFUSION_PUMP", "ICU", "ICU-P")
	add(4, "PATIENT_MONITOR", "WARD", "W")
	add(3, "INFUSION_PUMP", "WARD", "WP")
	add(2, "LAB_ANALYZER", "LAB", "LAB")
	add(4, "PRINTER", "ADMIN", "ADM")
	add(2, "WORKSTATION", "ADMIN", "ADW")
	return out
}

// schedule draws each device's failures (10 min .. 3 h) and, for printers, one-minute
// blips, in separate slots of the week so episodes never overlap or flap.
func schedule(devs []*device, seed uint64) []episode {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []episode
	for _, d := range devs {
		failures := rng.IntN(4)
		blips := 0
		if d.class == "PRINTER" {
			blips = 1 + rng.IntN(3)
		}
		kinds := make([]bool, 0, failures+blips) // true: blip
		for range failures {
			kinds = append(kinds, false)
		}
		for range blips {
			kinds = append(kinds, true)
		}
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		if len(kinds) == 0 {
			continue
		}
		slot := (week - 2*time.Hour) / time.Duration(len(kinds))
		for k, blip := range kinds {
			// Minute-aligned starts, in the first half of the slot.
			start := weekStart.Add(time.Hour + time.Duration(k)*slot + time.Duration(rng.IntN(int(slot/2/time.Minute)))*time.Minute)
			dur := time.Minute
			if !blip {
				dur = time.Duration(10+rng.IntN(170)) * time.Minute
			}
			out = append(out, episode{dev: d, start: start, end: start.Add(dur)})
		}
	}
	return out
}

// live is the part of a cmdb the week runs through, on a simulated clock.
type live struct {
	t     *testing.T
	store *store.Store
	now   time.Time
	reg   *assets.Service
	eng   *incidents.Engine
	log   *obslog.Log
	seq   int
	// busy: tick the engine every second until then, as the live one does.
	busy, nextFull time.Time
	recorded       int // observations the log kept
	refreshes      int // REFRESH observations sent (none may be kept)
}

func newLive(t *testing.T, p *incidents.Policy) *live {
	ctx := context.Background()
	l := &live{t: t, store: testkit.Store(t), now: weekStart.Add(-time.Minute)}
	clk := func() time.Time { return l.now }
	ast, err := assets.OpenStore(ctx, l.store)
	if err != nil {
		t.Fatal(err)
	}
	if l.reg, err = assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger(), Now: clk}); err != nil {
		t.Fatal(err)
	}
	ist, err := incidents.OpenStore(ctx, l.store)
	if err != nil {
		t.Fatal(err)
	}
	if l.eng, err = incidents.NewEngine(ctx, ist, l.reg, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(), Now: clk}); err != nil {
		t.Fatal(err)
	}
	l.log = obslog.Open(l.store.DB, testkit.Logger())
	return l
}

// advance runs the engine's timers up to t: every second for ten minutes after each
// batch (longer than any hold of the policies here), then straight to t.
func (l *live) advance(t time.Time) {
	ctx := context.Background()
	for l.now.Before(t) {
		if !l.now.Before(l.busy) {
			l.now = t
			break
		}
		l.now = l.now.Add(time.Second)
		if err := l.eng.Tick(ctx); err != nil {
			l.t.Fatal(err)
		}
		if !l.now.Before(l.nextFull) {
			l.nextFull = l.now.Add(10 * time.Second)
			if err := l.eng.ReconcileAll(ctx); err != nil {
				l.t.Fatal(err)
			}
		}
	}
}

// apply is the cmdb's ingest at time at: apply, record, then incidents.
func (l *live) apply(at time.Time, obs []observation.Observation) {
	ctx := context.Background()
	l.advance(at)
	outs, err := l.reg.Apply(ctx, obs, fmt.Sprintf("req-%d", l.seq))
	if err != nil {
		l.t.Fatal(err)
	}
	for _, o := range outs {
		if obslog.Keep(o) {
			l.recorded++
		}
	}
	if err := l.log.Record(ctx, at, "", outs); err != nil {
		l.t.Fatal(err)
	}
	if err := l.eng.Handle(ctx, outs); err != nil {
		l.t.Fatal(err)
	}
	l.busy = at.Add(10 * time.Minute)
}

func (l *live) obs(d *device, at time.Time, kind observation.Kind, down bool) observation.Observation {
	l.seq++
	o := observation.Observation{
		ID: fmt.Sprintf("o%06d", l.seq), Collector: "sim", Site: "main", ObservedAt: at, ValidUntil: at.Add(24 * time.Hour),
		Source: observation.SourceSNMPPoll, Kind: kind,
		Address:  &observation.Address{IP: d.ip, Port: 161},
		Identity: observation.Identity{SysName: d.name, Class: d.class, Manufacturer: "Acme", Model: d.class + "-9"},
		Location: &observation.Location{CareArea: d.area, Unit: d.unit},
		State:    observation.StateUp, Conditions: []string{},
	}
	if down {
		o.State, o.Condition, o.Conditions = observation.StateDown, observation.CondSNMPUnreachable, []string{observation.CondSNMPUnreachable}
	}
	return o
}

// recordWeek runs the week: discovery, failures and recoveries, and a refresh of
// every device every six hours (which the log must not keep).
func recordWeek(t *testing.T, p *incidents.Policy, devs []*device, eps []episode) *live {
	l := newLive(t, p)
	type event struct {
		at   time.Time
		dev  *device
		kind observation.Kind
		down bool
	}
	var evs []event
	for _, d := range devs {
		evs = append(evs, event{weekStart, d, observation.KindDiscovered, false})
	}
	down := map[*device][]episode{}
	for _, e := range eps {
		evs = append(evs, event{e.start, e.dev, observation.KindChange, true}, event{e.end, e.dev, observation.KindChange, false})
		down[e.dev] = append(down[e.dev], e)
	}
	isDown := func(d *device, at time.Time) bool {
		return slices.ContainsFunc(down[d], func(e episode) bool { return !at.Before(e.start) && at.Before(e.end) })
	}
	for at := weekStart.Add(6 * time.Hour); at.Before(weekStart.Add(week)); at = at.Add(6 * time.Hour) {
		for _, d := range devs {
			// Half a minute off the hour: never at the same instant as a change.
			evs = append(evs, event{at.Add(30 * time.Second), d, observation.KindRefresh, isDown(d, at.Add(30*time.Second))})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	for i := 0; i < len(evs); {
		j := i
		var batch []observation.Observation
		for ; j < len(evs) && evs[j].at.Equal(evs[i].at); j++ {
			batch = append(batch, l.obs(evs[j].dev, evs[j].at, evs[j].kind, evs[j].down))
			if evs[j].kind == observation.KindRefresh {
				l.refreshes++
			}
		}
		l.apply(evs[i].at, batch)
		i = j
	}
	l.busy = weekStart.Add(week)
	l.advance(weekStart.Add(week))
	return l
}
