package discovery

import (
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

type nopEmitter struct{ obs []observation.Observation }

func (e *nopEmitter) Emit(o observation.Observation) { e.obs = append(e.obs, o) }

func testPoller(t *testing.T) (*Poller, *nopEmitter) {
	t.Helper()
	cfg, err := ParseConfig([]byte("site: s\nname: c\ncmdb: {url: 'http://127.0.0.1:1/graphql', token: x}\nsnmp: {credentials: [{name: v2, version: 2c, community: public}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	em := &nopEmitter{}
	p := newPoller(cfg, observation.NewIDs("c"), em, newCollectorMetrics(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.SetProfiles(MustShippedProfiles())
	return p, em
}

func (p *Poller) addTest(ip, name string) *device {
	cr := &p.cfg.SNMP.Credentials[0]
	p.Add(Found{Target: Target{Host: ip, Port: 161}, Cred: cr, Sys: SystemInfo{Name: name}})
	return p.devices[netip.AddrPortFrom(netip.MustParseAddr(ip), 161)]
}

func TestTopologyAccessPortsUplinksAndInterfaceDown(t *testing.T) {
	p, em := testPoller(t)
	sw := p.addTest("10.0.0.1", "sw-icu")
	pump := p.addTest("10.0.0.2", "pump-1")
	behind := p.addTest("10.0.0.3", "far-away")
	quiet := p.addTest("10.0.0.4", "no-if-mib")
	now := time.Now()
	apply := func(d *device, r invReading) []observation.Observation {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.applyInventory(d, &r, now)
	}
	apply(pump, invReading{Ifaces: []ifaceInfo{{Index: 1, Type: 6, MAC: "00:11:22:33:44:01", Admin: 1, Oper: 1}}})
	apply(behind, invReading{Ifaces: []ifaceInfo{{Index: 1, Type: 6, MAC: "00:11:22:33:44:99", Admin: 1, Oper: 1}}})
	apply(quiet, invReading{})
	em.obs = nil

	swInv := invReading{
		Ifaces: []ifaceInfo{
			{Index: 1, Name: "Gi1/0/1", Admin: 1, Oper: 1},
			{Index: 2, Name: "Gi1/0/2", Admin: 1, Oper: 1},
			{Index: 3, Name: "Te1/1/1", Admin: 1, Oper: 2},
			{Index: 4, Name: "Gi1/0/4", Admin: 1, Oper: 1},
		},
		FDB: []fdbEntry{
			{MAC: "00:11:22:33:44:01", IfIndex: 1},
			{MAC: "00:11:22:33:44:99", IfIndex: 2}, {MAC: "00:aa:00:00:00:02", IfIndex: 2},
			{MAC: "00:aa:00:00:00:03", IfIndex: 2}, {MAC: "00:aa:00:00:00:04", IfIndex: 2},
			{MAC: "00:bb:00:00:00:04", IfIndex: 4},
		},
		LLDP: []lldpEntry{{LocalIf: 3, SysName: "core-1", Caps: lldpCapBridge | lldpCapRouter}},
		ARP:  []arpEntry{{IP: netip.MustParseAddr("10.0.0.4"), MAC: "00:bb:00:00:00:04"}},
	}
	out := apply(sw, swInv)

	byName := map[string]observation.Observation{}
	for _, o := range out {
		byName[o.Identity.SysName] = o
	}
	if o := byName["pump-1"]; len(o.Neighbors) != 1 || o.Neighbors[0] != (observation.Neighbor{Kind: "CONNECTED_TO", IP: "10.0.0.1", SysName: "sw-icu", Port: "Gi1/0/1"}) {
		t.Errorf("pump neighbours: %+v", o.Neighbors)
	}
	if o := byName["no-if-mib"]; len(o.Neighbors) != 1 || o.Neighbors[0].Port != "Gi1/0/4" || !slices.Equal(o.Identity.MACs, []string{"00:bb:00:00:00:04"}) {
		t.Errorf("device found through ARP: neighbours %+v macs %v", o.Neighbors, o.Identity.MACs)
	}
	if _, ok := byName["far-away"]; ok {
		t.Errorf("a device seen behind an uplink (4 MACs on Gi1/0/2) got a neighbour: %+v", byName["far-away"])
	}
	swObs, ok := byName["sw-icu"]
	if !ok || swObs.State != observation.StateDegraded || !slices.Equal(swObs.Conditions, []string{observation.CondInterfaceDown}) || swObs.Detail != "uplink down: Te1/1/1" {
		t.Errorf("switch with a down uplink: %+v", swObs)
	}
	snap, _ := p.Snapshot("10.0.0.1")
	if !slices.Equal(snap.Uplinks, []string{"Gi1/0/2", "Te1/1/1"}) {
		t.Errorf("uplinks %v", snap.Uplinks)
	}

	// The uplink comes back: the condition clears; its LLDP entry is gone but the
	// port stays known as an uplink.
	swInv.Ifaces[2].Oper = 1
	swInv.LLDP = nil
	out = apply(sw, swInv)
	if len(out) != 1 || out[0].State != observation.StateUp || len(out[0].Conditions) != 0 {
		t.Errorf("after recovery: %+v", out)
	}
	swInv.Ifaces[2].Oper = 2
	if out = apply(sw, swInv); len(out) != 1 || out[0].Condition != observation.CondInterfaceDown {
		t.Errorf("sticky uplink down again: %+v", out)
	}
}

func TestAmbiguousMACsAreNotIdentity(t *testing.T) {
	p, _ := testPoller(t)
	a := p.addTest("10.0.1.1", "a")
	b := p.addTest("10.0.1.2", "b")
	r := invReading{Ifaces: []ifaceInfo{{Index: 1, Type: 6, MAC: "02:00:00:00:00:01"}, {Index: 2, Type: 6, MAC: "02:00:00:00:00:02"}}}
	p.mu.Lock()
	p.applyInventory(a, &r, time.Now())
	r2 := invReading{Ifaces: []ifaceInfo{{Index: 1, Type: 6, MAC: "02:00:00:00:00:01"}, {Index: 2, Type: 6, MAC: "02:00:00:00:00:03"}}}
	p.applyInventory(b, &r2, time.Now())
	ida, idb := p.identity(a), p.identity(b)
	p.mu.Unlock()
	if !slices.Equal(ida.MACs, []string{"02:00:00:00:00:02"}) || !slices.Equal(idb.MACs, []string{"02:00:00:00:00:03"}) {
		t.Errorf("MACs a %v b %v: the shared one must be dropped from both", ida.MACs, idb.MACs)
	}
}
