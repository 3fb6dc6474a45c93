package assets_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func eventsIn(t *testing.T, f *fixture, a *assets.Asset) []assets.Change {
	t.Helper()
	hist, err := f.svc.History(t.Context(), a, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []assets.Change
	for _, h := range hist {
		if h.Field == assets.FieldEvent {
			out = append(out, h)
		}
	}
	return out
}

// Issue 16 item 4: a burst of distinct traps from one device, delivered out of order
// (decoded in parallel) and interleaved with polls, is applied in full: every event
// reaches the history once, none is taken for a duplicate. A replay of the same
// observations, in any order, before or after a restart, is all duplicates and adds
// nothing.
func TestOutOfOrderBurstIsAppliedOnceInFull(t *testing.T) {
	f := newFixture(t)
	dev := snmp("10.0.0.30", "ups-30")
	id := f.apply(f.obs(dev))[0].Asset.ID
	var burst []observation.Observation
	events := 0
	for i := range 300 {
		if i%25 == 0 {
			burst = append(burst, f.obs(dev)) // a poll between the traps
			continue
		}
		o := f.obs(func(o *observation.Observation) {
			dev(o)
			o.Source, o.Kind, o.Condition, o.Conditions = observation.SourceSNMPTrap, observation.KindEvent, observation.CondUnknownTrap, nil
		})
		burst = append(burst, o)
		events++
	}
	// Deliver in batches, each a little out of order.
	rng := rand.New(rand.NewPCG(16, 4))
	sent := slices.Clone(burst)
	for i := range sent {
		j := min(len(sent)-1, i+rng.IntN(3))
		sent[i], sent[j] = sent[j], sent[i]
	}
	dups, stale := 0, 0
	for len(sent) > 0 {
		n := min(len(sent), 1+rng.IntN(40))
		for _, out := range f.apply(sent[:n]...) {
			if out.Duplicate {
				dups++
			}
			if out.Stale {
				stale++
				if out.Observation.Kind == observation.KindEvent {
					t.Errorf("event %s counted stale", out.Observation.ID)
				}
			}
		}
		sent = sent[n:]
	}
	if dups != 0 {
		t.Errorf("%d distinct observations counted as duplicates", dups)
	}
	a, _ := f.svc.Get(id)
	if got := len(eventsIn(t, f, a)); got != events {
		t.Fatalf("%d events in the history, want %d", got, events)
	}
	replay := func(when string) {
		t.Helper()
		order := slices.Clone(burst)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, out := range f.apply(order...) {
			if !out.Duplicate || out.Stale {
				t.Fatalf("%s: replayed %s (%s) not a duplicate", when, out.Observation.ID, out.Observation.Kind)
			}
		}
		a, _ := f.svc.Get(id)
		if got := len(eventsIn(t, f, a)); got != events {
			t.Fatalf("%s: %d events in the history, want %d", when, got, events)
		}
	}
	replay("before a restart")
	f.open()
	replay("after a restart")
}

// A state observation older than the state its channel holds never rolls it back; it
// is stale, not a duplicate, and what it said stays in the history. An event older than
// the state is recorded at its own time without rolling attributes back.
func TestLateObservationsNeverRollStateBack(t *testing.T) {
	f := newFixture(t)
	dev := snmp("10.0.0.31", "ups-31")
	f.apply(f.obs(dev))
	trap := func(st observation.State, at time.Time) observation.Observation {
		return f.obs(func(o *observation.Observation) {
			dev(o)
			o.Source, o.Conditions = observation.SourceSNMPTrap, nil
			o.State, o.Condition = st, observation.CondUPSOnBattery
			o.ObservedAt = at
		})
	}
	onBattery := trap(observation.StateDegraded, f.now.Add(10*time.Second))
	restored := trap(observation.StateUp, f.now.Add(20*time.Second))
	// The power came back first, then the on-battery trap of before arrives.
	out := f.apply(restored)[0]
	if out.Stale || out.Duplicate || out.Asset.Status != assets.StatusOperational {
		t.Fatalf("restored: %+v", out)
	}
	late := f.apply(onBattery)[0]
	if !late.Stale || late.Duplicate || late.Asset.Status != assets.StatusOperational || len(late.Raised) != 0 {
		t.Fatalf("late on-battery: stale=%v duplicate=%v status %s raised %v", late.Stale, late.Duplicate, late.Asset.Status, late.Raised)
	}
	if again := f.apply(onBattery)[0]; !again.Duplicate || again.Stale {
		t.Fatalf("replay of the late trap: %+v", again)
	}

	// An event from before the last state, carrying the firmware of back then.
	f.now = restored.ObservedAt
	f.apply(f.obs(func(o *observation.Observation) { dev(o); o.Identity.Firmware = "2.0" }))
	oldEvent := f.obs(func(o *observation.Observation) {
		dev(o)
		o.Identity.Firmware = "1.0"
		o.Source, o.Kind, o.Condition, o.Conditions = observation.SourceSNMPTrap, observation.KindEvent, observation.CondDeviceRebooted, nil
		o.ObservedAt = o.ObservedAt.Add(-time.Minute)
	})
	ev := f.apply(oldEvent)[0]
	if ev.Stale || ev.Duplicate || ev.Event != observation.CondDeviceRebooted || ev.Asset.FirmwareVersion != "2.0" {
		t.Fatalf("late event: stale=%v duplicate=%v event %q firmware %q", ev.Stale, ev.Duplicate, ev.Event, ev.Asset.FirmwareVersion)
	}
	f.open()
	a, _ := f.svc.Get(ev.Asset.ID)
	hist, err := f.svc.History(t.Context(), a, 100)
	if err != nil {
		t.Fatal(err)
	}
	var lates, events []assets.Change
	for _, h := range hist {
		switch h.Field {
		case assets.FieldLate:
			lates = append(lates, h)
		case assets.FieldEvent:
			events = append(events, h)
		}
	}
	if len(lates) != 1 || lates[0].After != "DEGRADED ups.on_battery" || !lates[0].At.Equal(onBattery.ObservedAt) {
		t.Errorf("late entries %+v, want the on-battery trap at its own time", lates)
	}
	if len(events) != 1 || !events[0].At.Equal(oldEvent.ObservedAt) {
		t.Errorf("events %+v, want the reboot at its own time", events)
	}
	if a.Status != assets.StatusOperational || a.FirmwareVersion != "2.0" {
		t.Errorf("after restart: %s firmware %s", a.Status, a.FirmwareVersion)
	}
	if again := f.apply(oldEvent)[0]; !again.Duplicate {
		t.Error("replayed late event applied again after a restart")
	}
}

// When two records prove to be one device, the survivor knows every id either applied.
func TestMergeKeepsEveryAppliedID(t *testing.T) {
	f := newFixture(t)
	const m1 = "00:11:22:33:44:01"
	steps := []func(*observation.Observation){
		func(o *observation.Observation) {
			hl7()(o)
			o.Identity = observation.Identity{EUI64: "0012A1FFFE000001", Manufacturer: "Baxter", Serial: "SIG-9", HL7App: "PUMP-A"}
		},
		func(o *observation.Observation) { snmp("10.0.5.9", "pump-a")(o); o.Identity.MACs = []string{m1} },
		func(o *observation.Observation) {
			snmp("10.0.5.10", "pump-a")(o)
			o.Identity.MACs = []string{m1}
			o.Identity.Manufacturer, o.Identity.Serial = "Baxter", "SIG-9"
		},
	}
	var sent []observation.Observation
	for _, s := range steps {
		o := f.obs(s)
		sent = append(sent, o)
		f.apply(o)
	}
	if n := len(render(f.svc)); n != 1 {
		t.Fatalf("%d assets after the merge: %v", n, render(f.svc))
	}
	for _, when := range []string{"before a restart", "after a restart"} {
		for _, out := range f.apply(sent...) {
			if !out.Duplicate {
				t.Errorf("%s: %s applied again after the merge", when, out.Observation.ID)
			}
		}
		f.open()
	}
}

// A collector that fails over to another replica sends it the batch the first one
// applied (its answer was lost): the second replica, which reads the first one's
// writes, finds every id applied, events included.
func TestReplayOnAnotherReplicaIsDuplicate(t *testing.T) {
	onSharedStores(t, func(t *testing.T, replicas func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service)) {
		ctx := t.Context()
		f := &fixture{t: t, now: t0}
		a, b := replicas(t, &f.now)
		f.svc = a
		dev := snmp("10.0.0.32", "ups-32")
		batch := []observation.Observation{f.obs(dev)}
		for range 40 {
			batch = append(batch, f.obs(func(o *observation.Observation) {
				dev(o)
				o.Source, o.Kind, o.Condition, o.Conditions = observation.SourceSNMPTrap, observation.KindEvent, observation.CondUnknownTrap, nil
			}))
		}
		f.apply(batch...)
		if _, err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		outs, err := b.Apply(ctx, batch, "req-b")
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range outs {
			if !out.Duplicate {
				t.Fatalf("replica B applied %s (%s) again", out.Observation.ID, out.Observation.Kind)
			}
		}
	})
}
