package incidents_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func withUpstream(a *assets.Asset, rels ...assets.Relation) *assets.Asset {
	a.Upstream = rels
	return a
}

func rel(kind assets.RelationKind, target string) assets.Relation {
	return assets.Relation{Kind: kind, Target: target, Source: "TEST"}
}

func (r *rig) openOf(assetID string) *incidents.Incident {
	r.t.Helper()
	open := true
	list, _ := r.e.List(incidents.Filter{AssetID: assetID, Open: &open}, 0, 10)
	if len(list) != 1 {
		r.t.Fatalf("%s: %d open incidents, want 1", assetID, len(list))
	}
	return list[0]
}

const p5s = 5 * time.Second // the default correlation wait

func TestDeviceWithSeveralParentsIsSuppressedOnlyWhileAllAreDown(t *testing.T) {
	r := newRig(t, "")
	// Two uplinks: parents of one kind are alternatives.
	sw := asset("sw", assets.ClassNetworkSwitch, "ICU")
	sw2 := asset("sw2", assets.ClassNetworkSwitch, "ICU")
	dev := func(id string, conds ...string) *assets.Asset {
		return withUpstream(asset(id, assets.ClassPatientMonitor, "ICU", conds...),
			rel(assets.RelConnectedTo, "sw"), rel(assets.RelConnectedTo, "sw2"))
	}
	r.src.set(sw)
	r.src.set(sw2)
	r.src.set(dev("mon1"))
	r.src.set(dev("mon2"))

	// Only one switch is down: the monitor still has its other uplink, so its failure
	// is its own.
	r.set(asset("sw", assets.ClassNetworkSwitch, "ICU", "snmp.unreachable"))
	r.set(dev("mon1", "snmp.unreachable"))
	if m := r.openOf("mon1"); m.Suppressed {
		t.Fatalf("suppressed while one parent is up: %+v", m)
	}
	// Now the second switch goes too: mon2 is explained.
	r.set(asset("sw2", assets.ClassNetworkSwitch, "ICU", "snmp.unreachable"))
	r.set(dev("mon2", "snmp.unreachable"))
	swInc := r.openOf("sw")
	m2 := r.openOf("mon2")
	if !m2.Suppressed || m2.SuppressedBy != swInc.ID {
		t.Fatalf("mon2 suppressed=%v by %q, want by the switch's %s", m2.Suppressed, m2.SuppressedBy, swInc.ID)
	}
	// mon1, already open, is re-judged when the second parent fails.
	if m := r.openOf("mon1"); !m.Suppressed {
		t.Fatalf("mon1 not suppressed once both parents are down")
	}
	r.advance(10 * time.Second)
	if ev := r.sink.events(m2.ID); len(ev) != 0 {
		t.Fatalf("a suppressed incident was notified: %v", ev)
	}
	// The second switch comes back; the first is still down: not every parent is
	// down any more. After the correlation wait (the device might have come back with it),
	// mon2 is un-suppressed and notified.
	r.set(asset("sw2", assets.ClassNetworkSwitch, "ICU"))
	if m := r.openOf("mon2"); !m.Suppressed {
		t.Fatal("un-suppressed before the wait")
	}
	r.advance(p5s)
	m2 = r.openOf("mon2")
	if m2.Suppressed || m2.SuppressedBy != "" || m2.RootID != swInc.ID {
		t.Fatalf("after one parent recovered: suppressed=%v by %q root %q", m2.Suppressed, m2.SuppressedBy, m2.RootID)
	}
	if k := kinds(m2); !slices.Contains(k, incidents.EventUnsuppressed) {
		t.Fatalf("timeline %v", k)
	}
	if ev := r.sink.events(m2.ID); !slices.Equal(ev, []string{"opened"}) {
		t.Fatalf("un-suppressed incident notifications %v, want opened", ev)
	}
	// What the switch took down stays countable.
	st := r.e.RootStats(swInc.ID)
	if st.Impacted != 2 || st.Suppressed != 0 {
		t.Fatalf("root stats %+v", st)
	}
}

// TestRelationKindsAreInSeries: a device needs its network, its power and (for HL7)
// its gateway, so any one kind whose parents are all down explains it; the gateway
// explains HL7 conditions only.
func TestRelationKindsAreInSeries(t *testing.T) {
	r := newRig(t, "")
	r.src.set(asset("sw", assets.ClassNetworkSwitch, "ED"))
	r.src.set(asset("ups", assets.ClassUPS, "ED"))
	r.src.set(asset("gw", assets.ClassHL7Gateway, ""))
	dev := func(id string, conds ...string) *assets.Asset {
		return withUpstream(asset(id, assets.ClassInfusionPump, "ED", conds...),
			rel(assets.RelConnectedTo, "sw"), rel(assets.RelPoweredBy, "ups"), rel(assets.RelReportsThrough, "gw"))
	}
	r.src.set(dev("pump1"))
	r.src.set(dev("pump2"))

	// The switch fails; power and gateway are fine: both of the pump's conditions are
	// the switch's doing.
	r.set(asset("sw", assets.ClassNetworkSwitch, "ED", "snmp.unreachable"))
	r.set(dev("pump1", "snmp.unreachable", "hl7.heartbeat_lost"))
	swInc := r.openOf("sw")
	open := true
	list, _ := r.e.List(incidents.Filter{AssetID: "pump1", Open: &open}, 0, 10)
	if len(list) != 2 {
		t.Fatalf("pump1: %d open incidents, want 2", len(list))
	}
	for _, i := range list {
		if !i.Suppressed || i.SuppressedBy != swInc.ID {
			t.Fatalf("pump1 %s: suppressed=%v by %q, want by the switch", i.Condition, i.Suppressed, i.SuppressedBy)
		}
	}
	r.set(asset("sw", assets.ClassNetworkSwitch, "ED"))
	r.set(dev("pump1"))

	// The gateway fails: pump2's silence over HL7 is explained, an SNMP failure is not.
	r.set(asset("gw", assets.ClassHL7Gateway, "", "hl7.heartbeat_lost"))
	r.set(dev("pump2", "hl7.heartbeat_lost", "snmp.unreachable"))
	gwInc := r.openOf("gw")
	list, _ = r.e.List(incidents.Filter{AssetID: "pump2", Open: &open}, 0, 10)
	if len(list) != 2 {
		t.Fatalf("pump2: %d open incidents, want 2", len(list))
	}
	for _, i := range list {
		want := i.Condition == "hl7.heartbeat_lost"
		if i.Suppressed != want || (want && i.SuppressedBy != gwInc.ID) {
			t.Fatalf("pump2 %s: suppressed=%v by %q, want suppressed %v", i.Condition, i.Suppressed, i.SuppressedBy, want)
		}
	}
}

func TestTransitiveRootAndBlastRadius(t *testing.T) {
	r := newRig(t, "")
	r.src.set(asset("core", assets.ClassRouter, ""))
	r.src.set(withUpstream(asset("access", assets.ClassNetworkSwitch, "ICU"), rel(assets.RelConnectedTo, "core")))
	for _, id := range []string{"m1", "m2", "m3"} {
		r.src.set(withUpstream(asset(id, assets.ClassPatientMonitor, "ICU"), rel(assets.RelConnectedTo, "access")))
	}
	r.src.set(withUpstream(asset("pr", assets.ClassPrinter, "ADMIN"), rel(assets.RelConnectedTo, "core")))

	// Children report first, then the access switch, then the core.
	r.set(withUpstream(asset("m1", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"), rel(assets.RelConnectedTo, "access")))
	r.set(withUpstream(asset("access", assets.ClassNetworkSwitch, "ICU", "snmp.unreachable"), rel(assets.RelConnectedTo, "core")))
	r.set(asset("core", assets.ClassRouter, "", "snmp.unreachable"))
	r.set(withUpstream(asset("m2", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"), rel(assets.RelConnectedTo, "access")))

	core := r.openOf("core")
	if core.Priority != incidents.P1 || core.Dependents != 5 || !strings.Contains(core.PriorityReason, "blast radius: 5 dependent devices") {
		t.Fatalf("core router: %s, %d dependents, %q", core.Priority, core.Dependents, core.PriorityReason)
	}
	for _, id := range []string{"access", "m1", "m2"} {
		if i := r.openOf(id); !i.Suppressed || i.SuppressedBy != core.ID {
			t.Errorf("%s: suppressed=%v by %q, want root %s", id, i.Suppressed, i.SuppressedBy, core.ID)
		}
	}
	st := r.e.RootStats(core.ID)
	if st.Suppressed != 3 || !strings.HasPrefix(st.Worst, "P1: PATIENT_MONITOR in ICU") {
		t.Fatalf("root stats %+v", st)
	}
	r.advance(10 * time.Second)
	// The root is notified as soon as it is seen, carrying what was linked to it by
	// then (the access switch and m1; m2 came after).
	all := r.sink.all()
	if len(all) != 1 || all[0].Incident.ID != core.ID || all[0].Incident.SuppressedCount != 2 || all[0].Incident.Dependents != 5 {
		t.Fatalf("notifications: %d, want only the core's carrying 2 suppressed and 5 dependents", len(all))
	}
	// A cycle in the relations never makes an incident its own root.
	r.set(withUpstream(asset("core", assets.ClassRouter, "", "snmp.unreachable"), rel(assets.RelConnectedTo, "access")))
	if c := r.openOf("core"); c.Suppressed {
		t.Fatalf("core suppressed through a cycle")
	}
}

func TestInfrastructurePriorityFollowsWhatDependsOnIt(t *testing.T) {
	r := newRig(t, "")
	for i, area := range []string{"ICU", "ADMIN"} {
		sw := "sw-" + area
		r.src.set(asset(sw, assets.ClassNetworkSwitch, area))
		for k := range 14 {
			class := assets.ClassPatientMonitor
			if i == 1 {
				class = assets.ClassWorkstation
			}
			id := sw + "-dev" + string(rune('a'+k))
			r.src.set(withUpstream(asset(id, class, area), rel(assets.RelConnectedTo, sw)))
		}
		r.set(asset(sw, assets.ClassNetworkSwitch, area, "snmp.unreachable"))
	}
	if p := r.openOf("sw-ICU").Priority; p != incidents.P1 {
		t.Errorf("switch feeding 14 ICU monitors: %s, want P1", p)
	}
	if p := r.openOf("sw-ADMIN").Priority; p != incidents.P4 {
		t.Errorf("the same switch in admin: %s, want P4", p)
	}
}

func TestFreeSparesInTheUnitLowerUrgency(t *testing.T) {
	r := newRig(t, "")
	spare := asset("pump-spare", assets.ClassInfusionPump, "WARD")
	spare.Status = assets.StatusOperational
	r.src.set(spare)
	busy := asset("pump-busy", assets.ClassInfusionPump, "WARD")
	busy.Status, busy.PatientConnected = assets.StatusOperational, true
	r.src.set(busy)
	r.set(asset("pump", assets.ClassInfusionPump, "WARD", "hl7.heartbeat_lost"))
	inc := r.openOf("pump")
	if inc.Priority != incidents.P3 || !strings.Contains(inc.PriorityReason, "1 spare INFUSION_PUMP free") {
		t.Fatalf("%s: %s", inc.Priority, inc.PriorityReason)
	}
}

func TestRootRecoveryNotifiesOnlyDevicesStillDown(t *testing.T) {
	r := newRig(t, "reopen_window: 0s")
	r.src.set(asset("sw", assets.ClassNetworkSwitch, "WARD"))
	mon := func(k int, conds ...string) *assets.Asset {
		return withUpstream(asset(fmt.Sprintf("mon%d", k), assets.ClassPatientMonitor, "WARD", conds...), rel(assets.RelConnectedTo, "sw"))
	}
	for k := range 10 {
		r.src.set(mon(k))
	}
	r.set(asset("sw", assets.ClassNetworkSwitch, "WARD", "snmp.unreachable"))
	for k := range 10 {
		r.set(mon(k, "snmp.unreachable"))
	}
	r.advance(10 * time.Second)
	if n := len(r.sink.all()); n != 1 {
		t.Fatalf("%d notifications during the outage, want the switch's only", n)
	}
	// The switch comes back; three seconds later the poller has seen 7 monitors back.
	r.set(asset("sw", assets.ClassNetworkSwitch, "WARD"))
	r.advance(3 * time.Second)
	for k := 3; k < 10; k++ {
		r.set(mon(k))
	}
	r.advance(3 * time.Second)
	var got []string
	for _, n := range r.sink.all()[1:] {
		got = append(got, n.Event+" "+n.Asset.ID)
	}
	slices.Sort(got)
	if want := []string{"opened mon0", "opened mon1", "opened mon2", "resolved sw"}; !slices.Equal(got, want) {
		t.Fatalf("notifications after recovery %v, want %v", got, want)
	}
	for k := 3; k < 10; k++ {
		list, _ := r.e.List(incidents.Filter{AssetID: fmt.Sprintf("mon%d", k)}, 0, 5)
		if len(list) != 1 || list[0].Notified || list[0].State != incidents.StateResolved || list[0].RootID == "" {
			t.Fatalf("mon%d: %+v", k, list)
		}
	}
}

// One device down over two paths (SNMP unreachable, then its HL7 heartbeat lost) is one
// failure: the second condition is recorded but suppressed under the first and not
// notified; if the first clears while the second stays, the second becomes news.
func TestSecondDownConditionOfOneDeviceIsSuppressedUnderTheFirst(t *testing.T) {
	r := newRig(t, "")
	vent := func(conds ...string) *assets.Asset { return asset("vent", assets.ClassVentilator, "ICU", conds...) }
	r.set(vent("snmp.unreachable"))
	r.set(vent("hl7.heartbeat_lost", "snmp.unreachable"))
	open := true
	list, _ := r.e.List(incidents.Filter{AssetID: "vent", Open: &open}, 0, 10)
	if len(list) != 2 {
		t.Fatalf("%d open incidents, want 2 (one per condition)", len(list))
	}
	byCond := map[string]*incidents.Incident{}
	for _, i := range list {
		byCond[i.Condition] = i
	}
	snmp, hl7 := byCond["snmp.unreachable"], byCond["hl7.heartbeat_lost"]
	if snmp.Suppressed || !hl7.Suppressed || hl7.SuppressedBy != snmp.ID {
		t.Fatalf("snmp suppressed=%v, hl7 suppressed=%v by %q: want hl7 under snmp", snmp.Suppressed, hl7.Suppressed, hl7.SuppressedBy)
	}
	r.advance(2 * p5s)
	if ev := r.sink.events(hl7.ID); len(ev) != 0 {
		t.Fatalf("the suppressed condition was notified: %v", ev)
	}
	if ev := r.sink.events(snmp.ID); len(ev) != 1 || ev[0] != "opened" {
		t.Fatalf("the device's incident was not notified once: %v", ev)
	}
	// SNMP comes back, HL7 stays silent: the HL7 incident stands on its own now.
	r.set(vent("hl7.heartbeat_lost"))
	r.advance(2 * p5s)
	h, _ := r.e.Get(hl7.ID)
	if h.Suppressed || len(r.sink.events(hl7.ID)) == 0 {
		t.Fatalf("after the first condition cleared: hl7 suppressed=%v, notifications %v", h.Suppressed, r.sink.events(hl7.ID))
	}
}

// TestSwitchSeenAliveSkipsTheCorrelationWait: the collector says the device's switch
// answered after the device went silent, so the failure is the device's own and
// reaches the service desk without the correlation wait. Without that word, or with
// another kind of upstream (power) that could still explain it, the wait stays.
func TestSwitchSeenAliveSkipsTheCorrelationWait(t *testing.T) {
	for _, c := range []struct {
		name     string
		answered bool
		rels     []assets.Relation
		wait     bool
	}{
		{"switch answered", true, []assets.Relation{rel(assets.RelConnectedTo, "sw")}, false},
		{"no word on the switch", false, []assets.Relation{rel(assets.RelConnectedTo, "sw")}, true},
		{"switch answered, but a UPS could explain it", true, []assets.Relation{rel(assets.RelConnectedTo, "sw"), rel(assets.RelPoweredBy, "ups")}, true},
		{"switch answered; the HL7 gateway does not explain SNMP", true, []assets.Relation{rel(assets.RelConnectedTo, "sw"), rel(assets.RelReportsThrough, "gw")}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "")
			r.src.set(asset("sw", assets.ClassNetworkSwitch, "ICU"))
			r.src.set(asset("ups", assets.ClassUPS, "ICU"))
			r.src.set(asset("gw", assets.ClassHL7Gateway, "ICU"))
			mon := withUpstream(asset("mon", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"), c.rels...)
			r.src.set(mon)
			o := &observation.Observation{ID: "o1", Collector: "c", ObservedAt: r.clk.Now(), State: observation.StateDown,
				Condition: "snmp.unreachable", Conditions: []string{"snmp.unreachable"}}
			if c.answered {
				at := r.clk.Now().Add(-time.Second)
				o.UpstreamAnsweredAt = &at
			}
			if err := r.e.Handle(r.ctx, []assets.Outcome{{Observation: o, Asset: mon, StatusBefore: assets.StatusOperational, Raised: []string{"snmp.unreachable"}}}); err != nil {
				t.Fatal(err)
			}
			r.tick()
			inc := r.openOf("mon")
			if got := inc.NotifyAt.After(inc.OpenedAt); got != c.wait {
				t.Fatalf("waits=%v (notifyAt %v, opened %v), want %v", got, inc.NotifyAt, inc.OpenedAt, c.wait)
			}
			if ev := r.sink.events(inc.ID); c.wait == (len(ev) > 0) {
				t.Fatalf("notifications at once: %v (wait=%v)", ev, c.wait)
			}
			r.advance(p5s)
			if ev := r.sink.events(inc.ID); !slices.Equal(ev, []string{"opened"}) {
				t.Fatalf("notifications after the wait %v, want opened", ev)
			}
		})
	}
}
