package discovery

import (
	"net/netip"
	"strings"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// topology answers "which switch port is this device on" from the tables network gear
// reports: forwarding tables (MAC -> port), LLDP (neighbour -> port) and router ARP
// tables (IP -> MAC). Only access ports count: a port with an LLDP bridge/router
// neighbour or several MACs behind it is an uplink and says nothing about where one
// device is plugged in. All of it is guarded by Poller.mu.
type topology struct {
	access    map[string]portRef // MAC -> access port it was learnt on
	byName    map[string]portRef // LLDP sysName (lower case) -> access port
	arp       map[netip.Addr]string
	from      map[*device]*contrib // what each switch or router contributed
	owners    map[string]*device   // MAC -> device reporting it as its own
	ambiguous map[string]bool      // MACs reported by two different devices
	names     map[string]*device   // lower-case sysName -> device, for LLDP matches
}

type portRef struct {
	sw   *device
	port string
}

type contrib struct {
	macs  []string
	names []string
	ips   []netip.Addr
}

func newTopology() topology {
	return topology{
		access: map[string]portRef{}, byName: map[string]portRef{}, arp: map[netip.Addr]string{},
		from: map[*device]*contrib{}, owners: map[string]*device{}, ambiguous: map[string]bool{},
		names: map[string]*device{},
	}
}

// setOwnMACs records the MACs a device reports for itself. A MAC claimed by two
// devices at different addresses (virtual router MACs, cloned images, agents that
// report their host's interfaces) is ambiguous and never used to identify anything.
func (t *topology) setOwnMACs(d *device, macs []string) {
	for _, m := range macs {
		if o, ok := t.owners[m]; ok && o != d && o.addr.Addr() != d.addr.Addr() {
			t.ambiguous[m] = true
			continue
		}
		t.owners[m] = d
	}
}

// usableMACs are a device's own MACs minus ambiguous ones; when it reports none, the
// MAC a router's ARP table has for its address.
func (t *topology) usableMACs(d *device) []string {
	var out []string
	if d.inv != nil {
		for _, m := range d.inv.macs {
			if !t.ambiguous[m] {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		if m, ok := t.arp[d.addr.Addr()]; ok && !t.ambiguous[m] {
			out = append(out, m)
		}
	}
	return out
}

// update replaces what sw contributed with its new tables and returns the devices
// whose neighbour may have changed.
func (t *topology) update(p *Poller, sw *device, r *invReading) []*device {
	old := t.from[sw]
	if old == nil && len(r.FDB) == 0 && len(r.LLDP) == 0 && len(r.ARP) == 0 {
		return nil
	}
	touchedMACs := map[string]bool{}
	var touchedIPs []netip.Addr
	if old != nil {
		for _, m := range old.macs {
			if ref, ok := t.access[m]; ok && ref.sw == sw {
				delete(t.access, m)
			}
			touchedMACs[m] = true
		}
		for _, n := range old.names {
			if ref, ok := t.byName[n]; ok && ref.sw == sw {
				delete(t.byName, n)
			}
		}
		for _, ip := range old.ips {
			delete(t.arp, ip)
		}
		touchedIPs = append(touchedIPs, old.ips...)
	}
	c := &contrib{}
	up := r.uplinks()
	for _, f := range r.FDB {
		if up[f.IfIndex] {
			continue
		}
		t.access[f.MAC] = portRef{sw: sw, port: r.portName(f.IfIndex)}
		c.macs = append(c.macs, f.MAC)
		touchedMACs[f.MAC] = true
	}
	for _, l := range r.LLDP {
		if l.Caps&(lldpCapBridge|lldpCapRouter) != 0 || up[l.LocalIf] {
			continue
		}
		ref := portRef{sw: sw, port: r.portName(l.LocalIf)}
		if l.ChassisMAC != "" {
			t.access[l.ChassisMAC] = ref
			c.macs = append(c.macs, l.ChassisMAC)
			touchedMACs[l.ChassisMAC] = true
		}
		if l.SysName != "" {
			n := strings.ToLower(l.SysName)
			t.byName[n] = ref
			c.names = append(c.names, n)
		}
	}
	for _, a := range r.ARP {
		t.arp[a.IP] = a.MAC
		c.ips = append(c.ips, a.IP)
		touchedIPs = append(touchedIPs, a.IP)
		touchedMACs[a.MAC] = true
	}
	t.from[sw] = c

	seen := map[*device]bool{}
	var out []*device
	add := func(d *device) {
		if d != nil && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for m := range touchedMACs {
		add(t.owners[m])
	}
	for _, ip := range touchedIPs {
		add(p.devices[netip.AddrPortFrom(ip, uint16(p.cfg.SNMP.Port))])
	}
	for _, n := range c.names {
		add(t.names[n])
	}
	if old != nil {
		for _, n := range old.names {
			add(t.names[n])
		}
	}
	return out
}

// neighborFor returns the switch port a device is connected to and that switch, or
// nil, nil.
func (t *topology) neighborFor(p *Poller, d *device) (*observation.Neighbor, *device) {
	for _, m := range t.usableMACs(d) {
		if ref, ok := t.access[m]; ok && ref.sw != d {
			return ref.neighbor(), ref.sw
		}
	}
	if d.sys.Name != "" {
		if ref, ok := t.byName[strings.ToLower(d.sys.Name)]; ok && ref.sw != d {
			return ref.neighbor(), ref.sw
		}
	}
	return nil, nil
}

func (r portRef) neighbor() *observation.Neighbor {
	return &observation.Neighbor{Kind: "CONNECTED_TO", IP: r.sw.addr.Addr().String(), SysName: r.sw.sys.Name, Port: r.port}
}

// setName indexes a device by sysName for LLDP matches.
func (t *topology) setName(d *device) {
	if d.sys.Name != "" {
		t.names[strings.ToLower(d.sys.Name)] = d
	}
}
