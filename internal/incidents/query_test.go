package incidents_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// A switch takes two monitors down, each on two paths (SNMP and HL7): the root counts
// two devices and four incidents, and names the devices; the counts of what is
// suppressed now fall as devices come back while the root stays.
func TestImpactCountsDevicesAndIncidentsApart(t *testing.T) {
	r := newRig(t, "")
	r.src.set(asset("sw", assets.ClassNetworkSwitch, "ED"))
	mon := func(id string, conds ...string) *assets.Asset {
		return withUpstream(asset(id, assets.ClassPatientMonitor, "ED", conds...), rel(assets.RelConnectedTo, "sw"))
	}
	r.src.set(mon("mon1"))
	r.src.set(mon("mon2"))
	// As one collector batch would: the devices behind the switch, then the switch.
	r.src.set(mon("mon1", "snmp.unreachable", "hl7.heartbeat_lost"))
	r.src.set(mon("mon2", "snmp.unreachable", "hl7.heartbeat_lost"))
	r.src.set(asset("sw", assets.ClassNetworkSwitch, "ED", "snmp.unreachable"))
	for _, id := range []string{"mon1", "mon2", "sw"} {
		a, _ := r.src.Get(id)
		if err := r.e.Reconcile(r.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	r.advance(2 * p5s)
	root := r.openOf("sw")

	im := r.e.Impact(root.ID)
	if !slices.Equal(im.Devices, []string{"mon1", "mon2"}) || im.Incidents != 4 || im.SuppressedIncidents != 4 || im.SuppressedDevices != 2 {
		t.Fatalf("impact of the switch: %+v, want devices [mon1 mon2], 4 incidents, all suppressed now", im)
	}
	if st := r.e.RootStats(root.ID); st.Suppressed != im.SuppressedIncidents || st.Impacted != im.Incidents {
		t.Fatalf("RootStats %+v disagrees with Impact %+v", st, im)
	}
	// The switch's notification says devices and incidents apart.
	var opened *incidents.Notification
	for _, n := range r.sink.all() {
		if n.Incident.ID == root.ID && n.Event == incidents.NotifyOpened {
			opened = n
		}
	}
	if opened == nil {
		t.Fatal("the root was not notified")
	}
	if i := opened.Incident; i.SuppressedDeviceCount != 2 || i.SuppressedIncidentCount != 4 || i.SuppressedCount != 4 || i.ImpactedDeviceCount != 2 {
		t.Fatalf("notification counts: %+v", i)
	}
	// mon1 comes back on its own (say, moved to another switch): the root still
	// counts it as taken down, but no longer as suppressed now.
	r.set(mon("mon1"))
	r.advance(2 * time.Minute)
	im = r.e.Impact(root.ID)
	if len(im.Devices) != 2 || im.SuppressedDevices != 1 || im.SuppressedIncidents != 2 {
		t.Fatalf("after mon1 recovered: %+v, want 2 devices ever, 1 device (2 incidents) suppressed now", im)
	}
	// A device down on SNMP is the root of its own lost HL7 heartbeat: one incident
	// under it, no other device.
	r.set(asset("vent", assets.ClassVentilator, "ICU", "snmp.unreachable"))
	r.set(asset("vent", assets.ClassVentilator, "ICU", "snmp.unreachable", "hl7.heartbeat_lost"))
	r.advance(2 * p5s)
	var own *incidents.Incident
	for _, i := range r.all() {
		if i.AssetID == "vent" && i.Condition == "snmp.unreachable" {
			own = i
		}
	}
	if im := r.e.Impact(own.ID); len(im.Devices) != 0 || im.SuppressedDevices != 0 || im.Incidents != 1 || im.SuppressedIncidents != 1 {
		t.Fatalf("impact of the ventilator on its own HL7 heartbeat: %+v, want no device, 1 incident", im)
	}
	if im := r.e.Impact("no-such-incident"); len(im.Devices) != 0 || im.Incidents != 0 {
		t.Fatalf("impact of nothing: %+v", im)
	}
}

// OrderPriority puts unresolved before resolved, P1 first, the oldest first within a
// priority, resolved ones newest first; the suppressed filter splits what someone must
// act on from what a root explains; keyset pages neither skip nor repeat when
// incidents open between two pages.
func TestListByPriorityAndSuppressedFilter(t *testing.T) {
	r := newRig(t, "")
	// Opened in this order, a second apart: a ward printer (P5), an ICU ventilator
	// (P1), a ward monitor (P3 or so), an ICU monitor; then the printer is resolved
	// and an ED switch takes an ED monitor down.
	r.set(asset("vent", assets.ClassVentilator, "ICU"))
	steps := []*assets.Asset{
		asset("prn", assets.ClassPrinter, "WARD", "snmp.unreachable"),
		asset("vent", assets.ClassVentilator, "ICU", "snmp.unreachable"),
		asset("wmon", assets.ClassPatientMonitor, "WARD", "snmp.unreachable"),
		asset("imon", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"),
	}
	for _, a := range steps {
		r.set(a)
		r.advance(3 * time.Minute) // past the printer's hold
	}
	r.set(asset("prn", assets.ClassPrinter, "WARD"))
	r.advance(3 * time.Minute)
	r.src.set(asset("sw", assets.ClassNetworkSwitch, "ED"))
	r.set(withUpstream(asset("emon", assets.ClassPatientMonitor, "ED"), rel(assets.RelConnectedTo, "sw")))
	r.set(asset("sw", assets.ClassNetworkSwitch, "ED", "snmp.unreachable"))
	r.set(withUpstream(asset("emon", assets.ClassPatientMonitor, "ED", "snmp.unreachable"), rel(assets.RelConnectedTo, "sw")))
	r.advance(2 * p5s)

	all := r.all() // newest first, the order before OrderPriority
	if len(all) != 6 {
		t.Fatalf("%d incidents, want 6: %v", len(all), describe(all))
	}
	list, total := r.e.List(incidents.Filter{Order: incidents.OrderPriority}, 0, 100)
	if total != 6 || len(list) != 6 {
		t.Fatalf("priority order: %d of %d", len(list), total)
	}
	for k := 1; k < len(list); k++ {
		a, b := list[k-1], list[k]
		switch {
		case !a.Open() && b.Open():
			t.Fatalf("resolved %s before unresolved %s: %v", a.Number, b.Number, describe(list))
		case a.Open() && b.Open() && incidents.PriorityRank(a.Priority) > incidents.PriorityRank(b.Priority):
			t.Fatalf("%s (%s) before %s (%s): %v", a.Number, a.Priority, b.Number, b.Priority, describe(list))
		case a.Open() && b.Open() && a.Priority == b.Priority && a.OpenedAt.After(b.OpenedAt):
			t.Fatalf("within %s, newer %s before older %s: %v", a.Priority, a.Number, b.Number, describe(list))
		}
	}
	if last := list[len(list)-1]; last.AssetID != "prn" || last.Open() {
		t.Fatalf("the resolved printer should come last: %v", describe(list))
	}
	if list[0].Priority != incidents.P1 || list[0].Open() != true {
		t.Fatalf("first is not an open P1: %v", describe(list))
	}
	t.Logf("priority order: %v", describe(list))
	if slices.Equal(ids(list), ids(all)) {
		t.Fatalf("priority order is the newest-first order: %v", describe(list))
	}

	// Suppressed: the ED monitor alone; not suppressed: the rest.
	yes, no := true, false
	sup, n := r.e.List(incidents.Filter{Suppressed: &yes, Order: incidents.OrderPriority}, 0, 100)
	if n != 1 || sup[0].AssetID != "emon" || !sup[0].Suppressed {
		t.Fatalf("suppressed: %v", describe(sup))
	}
	act, n := r.e.List(incidents.Filter{Suppressed: &no, Open: &yes, Order: incidents.OrderPriority}, 0, 100)
	if n != 4 || slices.ContainsFunc(act, func(i *incidents.Incident) bool { return i.Suppressed || !i.Open() }) {
		t.Fatalf("actionable: %v", describe(act))
	}

	// Keyset paging, one at a time: a P1 opening once the ward monitor's P2 was read
	// sorts before the cursor: the next page neither repeats an incident (as an offset
	// would) nor skips one. A read from the start shows the new P1.
	var got []string
	var after *incidents.SortKey
	for {
		l, _ := r.e.List(incidents.Filter{Order: incidents.OrderPriority, After: after}, 0, 1)
		if len(l) == 0 {
			break
		}
		got = append(got, ids(l)...)
		k := incidents.PriorityKey(l[len(l)-1])
		after = &k
		if l[0].AssetID == "wmon" {
			r.set(asset("vent2", assets.ClassVentilator, "ICU", "snmp.unreachable"))
		}
	}
	if !slices.Equal(got, ids(list)) {
		t.Fatalf("keyset pages %v, want %v", got, describe(list))
	}
	final, _ := r.e.List(incidents.Filter{Order: incidents.OrderPriority}, 0, 100)
	if len(final) != 7 || slices.IndexFunc(final, func(i *incidents.Incident) bool { return i.AssetID == "vent2" }) > 4 {
		t.Fatalf("after the new P1: %v", describe(final))
	}
	// Offsets still work in priority order.
	l, _ := r.e.List(incidents.Filter{Order: incidents.OrderPriority}, 6, 10)
	if len(l) != 1 {
		t.Fatalf("offset 6 of 7: %v", describe(l))
	}
}

func ids(l []*incidents.Incident) []string {
	var out []string
	for _, i := range l {
		out = append(out, i.ID)
	}
	return out
}

func describe(l []*incidents.Incident) []string {
	var out []string
	for _, i := range l {
		out = append(out, fmt.Sprintf("%s %s %s %s suppressed=%v", i.Number, i.AssetID, i.Priority, i.State, i.Suppressed))
	}
	return out
}
