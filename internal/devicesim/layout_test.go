package devicesim

import (
	"net/netip"
	"strings"
	"testing"
)

func generate(t testing.TB, seed uint64, n int) *Hospital {
	t.Helper()
	h, err := Generate(LayoutOptions{Seed: seed, Devices: n})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestGenerateHasExactlyTheDevicesAskedFor(t *testing.T) {
	for _, n := range []int{1, 2, 5, 6, 47, 200, 1000, 5000} {
		h := generate(t, 7, n)
		if len(h.Devices) != n {
			t.Errorf("Generate(%d): %d devices", n, len(h.Devices))
		}
	}
}

func TestGenerateIsStableForASeed(t *testing.T) {
	a, b := generate(t, 42, 3000), generate(t, 42, 3000)
	c := generate(t, 43, 3000)
	same := 0
	for i := range a.Devices {
		da, db, dc := a.Devices[i], b.Devices[i], c.Devices[i]
		if da.Name != db.Name || da.Serial != db.Serial || da.MAC != db.MAC || da.ip != db.ip || da.Model != db.Model {
			t.Fatalf("device %d differs between two runs with one seed: %s/%s vs %s/%s", i, da.Name, da.Serial, db.Name, db.Serial)
		}
		if da.Serial == dc.Serial && da.MAC == dc.MAC {
			same++
		}
	}
	if same > len(a.Devices)/10 {
		t.Errorf("seeds 42 and 43 share %d of %d serial+MAC pairs", same, len(a.Devices))
	}
}

func TestIdentifiersAreUnique(t *testing.T) {
	h := generate(t, 1, 20000)
	names, macs, euis, serials, ips, engines := map[string]bool{}, map[[6]byte]bool{}, map[string]bool{}, map[string]bool{}, map[netip.Addr]bool{}, map[string]bool{}
	for _, d := range h.Devices {
		check := func(what string, dup bool) {
			if dup {
				t.Fatalf("%s of %s is not unique", what, d.Name)
			}
		}
		check("name", names[d.Name])
		check("MAC", macs[d.MAC])
		key := d.Model.Manufacturer + "/" + d.Serial
		check("manufacturer+serial", serials[key])
		check("IP", ips[d.IP()])
		check("engine ID", engines[d.EngineID()])
		names[d.Name], macs[d.MAC], serials[key], ips[d.IP()], engines[d.EngineID()] = true, true, true, true, true
		if e := d.EUI64(); e != "" {
			check("EUI-64", euis[e])
			euis[e] = true
			if len(e) != 16 || e[6:10] != "FFFE" {
				t.Fatalf("%s: EUI-64 %q is not a MAC-48 with FFFE inserted", d.Name, e)
			}
		} else if d.Class.SpeaksHL7() {
			t.Fatalf("%s speaks HL7 but has no EUI-64", d.Name)
		}
		if !d.IP().Is4() || d.IP().As4()[0] != 127 {
			t.Fatalf("%s: address %s is not in 127/8", d.Name, d.IP())
		}
	}
	// Switch port MACs (base + port) must not collide with other devices' MACs either.
	for _, d := range h.Devices {
		if d.sw == nil {
			continue
		}
		for p := 1; p <= len(d.sw.ports); p++ {
			if m := d.portMAC(p); macs[m] {
				t.Fatalf("port %d MAC of %s collides with a device MAC", p, d.Name)
			}
		}
	}
}

func TestDevicesAreSortedByAddressInsideTheirUnitBlock(t *testing.T) {
	h := generate(t, 3, 10000)
	for i := 1; i < len(h.Devices); i++ {
		if h.Devices[i-1].ip >= h.Devices[i].ip {
			t.Fatalf("devices %d and %d out of address order", i-1, i)
		}
	}
	for _, u := range h.Units {
		for _, d := range u.Devices {
			if !u.Prefix.Contains(d.IP()) || d.IP() == u.Prefix.Addr() {
				t.Fatalf("%s (%s) is outside its unit block %s or on its network address", d.Name, d.IP(), u.Prefix)
			}
		}
	}
}

func TestTopology(t *testing.T) {
	h := generate(t, 5, 8000)
	for _, d := range h.Devices {
		switch {
		case d.core:
			if d.Uplink != nil {
				t.Fatalf("core %s has an uplink", d.Name)
			}
		case d.Class == NetworkSwitch:
			if !d.Uplink.core || !d.Uplink2.core || d.Uplink == d.Uplink2 {
				t.Fatalf("access switch %s is not dual-homed to both cores", d.Name)
			}
			if d.Uplink.sw.ports[d.Port-1] != d || d.Uplink2.sw.ports[d.Port2-1] != d {
				t.Fatalf("core port tables do not show %s", d.Name)
			}
		case d.Unit.Name == "DC":
			if !d.Uplink.core {
				t.Fatalf("%s in the data centre is not on a core", d.Name)
			}
		default:
			if d.Uplink == nil || d.Uplink.Unit != d.Unit || d.Uplink.Class != NetworkSwitch {
				t.Fatalf("%s is not on a switch of its own unit", d.Name)
			}
			if d.Uplink.sw.ports[d.Port-1] != d {
				t.Fatalf("%s's switch does not have it on port %d", d.Name, d.Port)
			}
		}
		switch {
		case d.Class == AnesthesiaMachine && d.Gateway != nil:
			t.Fatalf("%s is an anaesthesia machine reporting through %s, want directly", d.Name, d.Gateway.Name)
		case d.Class.SpeaksHL7() && d.Class != HL7Gateway && d.Class != AnesthesiaMachine && (d.Gateway == nil || d.Gateway.Class != HL7Gateway):
			t.Fatalf("%s speaks HL7 but reports through no gateway", d.Name)
		}
	}
}

func TestCareAreasAndClassesAppear(t *testing.T) {
	h := generate(t, 9, 5000)
	areas, classes := map[string]int{}, map[Class]int{}
	for _, d := range h.Devices {
		areas[d.Unit.CareArea]++
		classes[d.Class]++
	}
	for _, a := range CareAreas {
		if areas[a] == 0 {
			t.Errorf("no device in care area %s", a)
		}
	}
	for c := range numClasses {
		if classes[c] == 0 {
			t.Errorf("no device of class %s", c)
		}
	}
	// The UPSs of OR and ICU feed their access switches.
	for _, u := range h.Units {
		if u.CareArea == ICU || u.CareArea == OR {
			for _, sw := range u.Switches {
				if sw.Power == nil || sw.Power.Class != UPS || sw.Power.Unit != u {
					t.Errorf("switch %s of %s is not powered by its unit's UPS", sw.Name, u.Name)
				}
			}
		}
	}
}

func TestSmallHospitalOpensWithTheDemoUnits(t *testing.T) {
	// cmd/cmdb/demo.go says the default scenario needs 156 devices.
	if h := generate(t, 1, 155); DefaultScenario().Validate(h) == nil {
		t.Fatal("the default scenario fits in 155 devices: update the demo's message")
	}
	if h := generate(t, 1, 156); DefaultScenario().Validate(h) != nil {
		t.Fatal("the default scenario does not fit in 156 devices: update the demo's message")
	}
	h := generate(t, 1234, 200)
	var got []string
	for _, u := range h.Units {
		got = append(got, u.CareArea)
	}
	if s := strings.Join(got, ","); !strings.HasPrefix(s, "ADMIN,ICU,ED,OR,WARD") {
		t.Fatalf("units %s, want the data centre then ICU, ED, OR, WARD", s)
	}
	if err := DefaultScenario().Validate(h); err != nil {
		t.Fatalf("default scenario on 200 devices: %v", err)
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	for _, o := range []LayoutOptions{{Devices: 0}, {Devices: MaxDevices + 1}, {Devices: 5, Base: netip.MustParseAddr("10.0.0.0")}} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
}

// TestSpacingSpreadsDevices: with Spacing, devices of a unit sit Spacing addresses
// apart inside the unit's prefix, a dense range holds about one agent per Spacing
// addresses, and the rest of the layout is the same hospital as without it.
func TestSpacingSpreadsDevices(t *testing.T) {
	dense := generate(t, 3, 4000)
	h, err := Generate(LayoutOptions{Seed: 3, Devices: 4000, Spacing: 16})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range h.Devices {
		if d.Name != dense.Devices[i].Name || d.Serial != dense.Devices[i].Serial {
			t.Fatalf("device %d is %s with spacing, %s without", i, d.Name, dense.Devices[i].Name)
		}
		if i > 0 && h.Devices[i-1].ip >= d.ip {
			t.Fatalf("devices not in address order at %d", i)
		}
	}
	for _, u := range h.Units {
		for j, d := range u.Devices {
			if !u.Prefix.Contains(d.IP()) || d.IP() == u.Prefix.Masked().Addr() {
				t.Fatalf("%s at %s is not a host of its unit's %s", d.Name, d.IP(), u.Prefix)
			}
			if j > 0 && d.ip-u.Devices[j-1].ip != 16 {
				t.Fatalf("%s is %d addresses after the previous device, want 16", d.Name, d.ip-u.Devices[j-1].ip)
			}
		}
		last := u.Devices[len(u.Devices)-1].ip
		if bcast := ip4(u.Prefix.Masked().Addr()) + 1<<(32-u.Prefix.Bits()) - 1; last >= bcast {
			t.Fatalf("%s: last device %s is the broadcast address", u.Name, addr4(last))
		}
	}
	// The agents answer on the devices' addresses and nowhere in between.
	s := &Sim{h: h}
	for _, d := range h.Devices[:200] {
		if s.device(d.ip) != d || s.device(d.ip+1) != nil {
			t.Fatalf("address %s or the one after it answers for the wrong device", d.IP())
		}
	}
	first, last := h.Devices[0].ip, h.Devices[len(h.Devices)-1].ip
	if per := float64(last-first) / float64(len(h.Devices)); per < 16 || per > 32 {
		t.Errorf("one device per %.1f addresses, want 16..32 with spacing 16", per)
	}
	for _, sp := range []int{-1, MaxSpacing + 1} {
		if _, err := Generate(LayoutOptions{Devices: 10, Spacing: sp}); err == nil {
			t.Errorf("spacing %d accepted", sp)
		}
	}
}
