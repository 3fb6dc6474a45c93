package incidents_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// fakeAssets is a recording asset source for engine logic tests.
type fakeAssets struct {
	mu sync.Mutex
	m  map[string]*assets.Asset
}

func (f *fakeAssets) Get(id string) (*assets.Asset, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.m[id]
	return a, ok
}

func (f *fakeAssets) Each(fn func(*assets.Asset)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.m {
		fn(a)
	}
}

func (f *fakeAssets) Dependents(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.m {
		for _, r := range a.Upstream {
			if r.Target == id {
				out = append(out, a.ID)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeAssets) set(a *assets.Asset) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[a.ID] = a
}

func asset(id string, class assets.Class, area string, conds ...string) *assets.Asset {
	return &assets.Asset{ID: id, Name: id, Class: class, Site: "main", Location: assets.Location{CareArea: area, Unit: area + "-1"},
		Channels: []*assets.Channel{{Collector: "c", Channel: "snmp", State: "DOWN", Conditions: conds}}}
}

func TestEngineOneIncidentPerConditionAndResolve(t *testing.T) {
	onEachBackend(t, func(t *testing.T, st *incidents.Store, _ *incidents.Outbox) {
		ctx := context.Background()
		src := &fakeAssets{m: map[string]*assets.Asset{}}
		now := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		e, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Logger: testkit.Logger(), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		vent := asset("vent-1", assets.ClassVentilator, "ICU", "snmp.unreachable")
		src.set(vent)
		for range 5 { // repeated failures never duplicate
			if err := e.Reconcile(ctx, vent); err != nil {
				t.Fatal(err)
			}
		}
		open := true
		list, total := e.List(incidents.Filter{Open: &open}, 0, 10)
		if total != 1 {
			t.Fatalf("%d open incidents, want 1", total)
		}
		inc := list[0]
		if inc.Priority != incidents.P1 || !strings.Contains(inc.PriorityReason, "VENTILATOR") || inc.Number != "INC0000001" {
			t.Fatalf("incident %+v", inc)
		}
		if !inc.AckDueAt.Equal(now.Add(5 * time.Minute)) {
			t.Errorf("ack due %s, want P1's 5 min", inc.AckDueAt)
		}
		// A second engine on the same store (another replica) adopts it, never duplicates.
		e2, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Logger: testkit.Logger(), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := e2.Reconcile(ctx, vent); err != nil {
			t.Fatal(err)
		}
		if _, total := e2.List(incidents.Filter{}, 0, 10); total != 1 {
			t.Fatalf("second engine sees %d incidents", total)
		}

		if _, err := e.Acknowledge(ctx, inc.ID, "user:alice", "on my way"); err != nil {
			t.Fatal(err)
		}
		// The condition clears: auto-resolved, with a timeline.
		vent = asset("vent-1", assets.ClassVentilator, "ICU")
		src.set(vent)
		now = now.Add(time.Minute)
		if err := e.Reconcile(ctx, vent); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Get(inc.ID)
		if got.State != incidents.StateResolved || got.ResolvedAt == nil {
			t.Fatalf("state %s", got.State)
		}
		var kinds []string
		for _, ev := range got.Timeline {
			kinds = append(kinds, ev.Kind)
		}
		if strings.Join(kinds, ",") != "opened,acknowledged,auto_resolved" {
			t.Fatalf("timeline %v", kinds)
		}
		if _, err := e.Acknowledge(ctx, inc.ID, "user:bob", ""); err == nil {
			t.Fatal("acknowledging a resolved incident must fail")
		}
		// Failing again opens a new incident.
		vent = asset("vent-1", assets.ClassVentilator, "ICU", "snmp.unreachable")
		src.set(vent)
		if err := e.Reconcile(ctx, vent); err != nil {
			t.Fatal(err)
		}
		if _, total := e.List(incidents.Filter{Open: &open}, 0, 10); total != 1 {
			t.Fatalf("%d open after recurrence", total)
		}
	})
}

func TestManualResolveWhileActiveStaysQuiet(t *testing.T) {
	onEachBackend(t, func(t *testing.T, st *incidents.Store, _ *incidents.Outbox) {
		ctx := context.Background()
		src := &fakeAssets{m: map[string]*assets.Asset{}}
		clk := newClock()
		e, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Logger: testkit.Logger(), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		p := asset("printer-1", assets.ClassPrinter, "ADMIN", "snmp.unreachable")
		src.set(p)
		if err := e.Reconcile(ctx, p); err != nil {
			t.Fatal(err)
		}
		// Printers wait out a two-minute hold before an incident opens.
		if _, total := e.List(incidents.Filter{}, 0, 10); total != 0 {
			t.Fatalf("printer incident opened before its hold")
		}
		clk.Advance(2 * time.Minute)
		if err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		list, _ := e.List(incidents.Filter{}, 0, 10)
		if len(list) != 1 {
			t.Fatalf("%d incidents after the hold, want 1", len(list))
		}
		if list[0].Priority != incidents.P5 {
			t.Errorf("admin printer down: %s (%s), want P5", list[0].Priority, list[0].PriorityReason)
		}
		res, err := e.Resolve(ctx, list[0].ID, "user:desk", "known, replacing toner board")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Timeline[len(res.Timeline)-1].Note, "still active") {
			t.Errorf("timeline does not say the condition is still active: %+v", res.Timeline)
		}
		if err := e.Reconcile(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, total := e.List(incidents.Filter{}, 0, 10); total != 1 {
			t.Fatalf("reopened while still active: %d incidents", total)
		}
	})
}
