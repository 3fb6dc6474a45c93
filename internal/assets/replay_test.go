package assets_test

import (
	"fmt"
	"testing"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// A poll that sees a reboot sends an EVENT and a CHANGE with the same observedAt. A
// collector replaying its spool after a cmdb crash sends both again, in order: neither
// may be applied twice, before or after the cmdb reloads its working set.
func TestReplayOfObservationsWithTheSameTime(t *testing.T) {
	f := newFixture(t)
	f.apply(f.obs(snmp("10.0.0.9", "pump-9")))
	ev := f.obs(func(o *observation.Observation) {
		snmp("10.0.0.9", "pump-9")(o)
		o.Kind, o.Condition, o.Conditions = observation.KindEvent, observation.CondDeviceRebooted, nil
	})
	chg := f.obs(func(o *observation.Observation) {
		snmp("10.0.0.9", "pump-9")(o)
		o.ObservedAt, o.ValidUntil = ev.ObservedAt, ev.ValidUntil
		o.State, o.Condition, o.Conditions = observation.StateDegraded, observation.CondUPSOnBattery, []string{observation.CondUPSOnBattery}
	})
	first := f.apply(ev, chg)
	if first[0].Duplicate || first[1].Duplicate || first[0].Event != observation.CondDeviceRebooted {
		t.Fatalf("first delivery: %+v", first)
	}
	id := first[1].Asset.ID
	check := func(when string) {
		t.Helper()
		again := f.apply(ev, chg)
		for i, o := range again {
			if !o.Duplicate {
				t.Errorf("%s: observation %d (%s) applied twice", when, i, o.Observation.Kind)
			}
		}
		// Alone and in the other order too.
		for _, o := range [][]observation.Observation{{ev}, {chg}, {chg, ev}} {
			for _, out := range f.apply(o...) {
				if !out.Duplicate {
					t.Errorf("%s: %s applied twice", when, out.Observation.Kind)
				}
			}
		}
	}
	check("before a restart")
	f.open()
	check("after a restart")

	a, _ := f.svc.Get(id)
	if a.Status != assets.StatusDegraded {
		t.Fatalf("status %s, want DEGRADED", a.Status)
	}
	hist, err := f.svc.History(t.Context(), a, 100)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, h := range hist {
		if h.Field == "event" {
			events++
		}
	}
	if events != 1 {
		t.Fatalf("%d reboot events in the history, want 1: %s", events, fmt.Sprint(hist))
	}
}
