package devicesim

import (
	"slices"
	"strconv"
	"strings"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// The MIB objects the simulated agents implement (numeric OIDs; see DESIGN §10).

var systemGroup = []column{
	scalar("1.3.6.1.2.1.1.1", func(c *mctx) Value { return strValue(c.d.SysDescr()) }),
	scalar("1.3.6.1.2.1.1.2", func(c *mctx) Value { return oidValue(c.d.Model.ObjectID) }),
	scalar("1.3.6.1.2.1.1.3", func(c *mctx) Value { return ticksValue(c.d.upTicks(c.now)) }),
	scalar("1.3.6.1.2.1.1.4", func(c *mctx) Value { return strValue(c.d.Contact()) }),
	scalar("1.3.6.1.2.1.1.5", func(c *mctx) Value { return strValue(c.d.Name) }),
	scalar("1.3.6.1.2.1.1.6", func(c *mctx) Value { return strValue(c.d.Location()) }),
	scalar("1.3.6.1.2.1.1.7", func(c *mctx) Value {
		switch {
		case c.d.core:
			return intValue(6) // datalink + network
		case c.d.Class == NetworkSwitch:
			return intValue(2)
		}
		return intValue(72) // end-to-end + applications
	}),
}

// ifTable rows are the interfaces in ifIndex order: ports 1..n, then on cores one
// routed VLAN interface per unit of the site (ifIndex sviBase+VLAN).
var ifRows = &table{
	rows:  func(c *mctx) int { return c.d.ifCount() },
	index: func(c *mctx, r int) []uint32 { return append(c.buf[:0], uint32(ifIndexOf(c.d, r))) },
}

// sviBase numbers a core's VLAN interfaces: ifIndex sviBase+VLAN.
const sviBase = 1000

// ifIndexOf is the ifIndex of interface row r.
func ifIndexOf(d *Device, r int) int {
	if d.sw != nil && r >= len(d.sw.ports) {
		return sviBase + d.Unit.Site.Units[r-len(d.sw.ports)].VLAN
	}
	return r + 1
}

// ifDescr is the interface's full name.
func ifDescr(d *Device, n int) string {
	if n > sviBase {
		return "Vlan" + strconv.Itoa(n-sviBase)
	}
	switch d.Class {
	case NetworkSwitch:
		return d.Model.IfName(n)
	case WirelessAP:
		return [...]string{"eth0", "radio0", "radio1"}[n-1]
	}
	return "eth0"
}

// ifShortName abbreviates Cisco-style interface names as ifName does.
func ifShortName(s string) string {
	for _, p := range [][2]string{{"TenGigabitEthernet", "Te"}, {"GigabitEthernet", "Gi"}, {"TwentyFiveGigE", "Twe"}, {"HundredGigE", "Hu"}} {
		if strings.HasPrefix(s, p[0]) {
			return p[1] + s[len(p[0]):]
		}
	}
	return s
}

func ifMAC(c *mctx, n int) Value {
	d := c.d
	var m [6]byte
	switch d.Class {
	case NetworkSwitch, WirelessAP:
		if n > sviBase {
			n = 0 // routed interfaces use the base MAC
		}
		m = d.portMAC(n)
	default:
		m = d.MAC
	}
	return bytesValue(m[:])
}

func ifSpeedMbps(d *Device, n int) uint32 {
	if n > sviBase {
		return 1000
	}
	if d.Class == NetworkSwitch && n > d.Model.Ports {
		if d.core {
			return 100000
		}
		return 10000
	}
	return d.Model.SpeedMbps
}

func ifUp(d *Device, n int) bool {
	if d.Class == NetworkSwitch && n < sviBase {
		return d.PortUp(n)
	}
	return true
}

func ifLastChange(c *mctx) uint32 {
	ch, boot := c.d.st.changedAt.Load(), c.d.st.bootAt.Load()
	if ch <= boot {
		return 0
	}
	return uint32((ch - boot) / 1e7)
}

var ifGroup = []column{
	scalar("1.3.6.1.2.1.2.1", func(c *mctx) Value { return intValue(int64(c.d.ifCount())) }),
	col(ifRows, "1.3.6.1.2.1.2.2.1.1", always(func(c *mctx, r int) Value { return intValue(int64(ifIndexOf(c.d, r))) })),
	col(ifRows, "1.3.6.1.2.1.2.2.1.2", always(func(c *mctx, r int) Value { return strValue(ifDescr(c.d, ifIndexOf(c.d, r))) })),
	col(ifRows, "1.3.6.1.2.1.2.2.1.3", always(func(c *mctx, r int) Value {
		if c.d.Class == WirelessAP && r > 0 {
			return intValue(71) // ieee80211
		}
		if ifIndexOf(c.d, r) > sviBase {
			return intValue(136) // l3ipvlan
		}
		return intValue(6) // ethernetCsmacd
	})),
	col(ifRows, "1.3.6.1.2.1.2.2.1.5", always(func(c *mctx, r int) Value {
		return gaugeValue(uint32(min(uint64(ifSpeedMbps(c.d, ifIndexOf(c.d, r)))*1e6, 1<<32-1)))
	})),
	col(ifRows, "1.3.6.1.2.1.2.2.1.6", always(func(c *mctx, r int) Value { return ifMAC(c, ifIndexOf(c.d, r)) })),
	col(ifRows, "1.3.6.1.2.1.2.2.1.7", always(func(c *mctx, r int) Value {
		if n := ifIndexOf(c.d, r); c.d.Class == NetworkSwitch && n < sviBase && !c.d.linkUp(uint16(n)) {
			return intValue(2)
		}
		return intValue(1)
	})),
	col(ifRows, "1.3.6.1.2.1.2.2.1.8", always(func(c *mctx, r int) Value {
		if ifUp(c.d, ifIndexOf(c.d, r)) {
			return intValue(1)
		}
		return intValue(2)
	})),
	col(ifRows, "1.3.6.1.2.1.2.2.1.9", always(func(c *mctx, _ int) Value { return ticksValue(ifLastChange(c)) })),
	col(ifRows, "1.3.6.1.2.1.31.1.1.1.1", always(func(c *mctx, r int) Value { return strValue(ifShortName(ifDescr(c.d, ifIndexOf(c.d, r)))) })),
	col(ifRows, "1.3.6.1.2.1.31.1.1.1.15", always(func(c *mctx, r int) Value { return gaugeValue(ifSpeedMbps(c.d, ifIndexOf(c.d, r))) })),
	col(ifRows, "1.3.6.1.2.1.31.1.1.1.18", always(func(c *mctx, r int) Value {
		if c.d.sw != nil && r < len(c.d.sw.ports) {
			if p := c.d.sw.ports[r]; p != nil {
				return strValue(p.Name)
			}
		}
		return strValue("")
	})),
}

// ENTITY-MIB entPhysicalTable: one chassis entity, index 1.
var entityRows = &table{
	rows:  func(*mctx) int { return 1 },
	index: func(c *mctx, _ int) []uint32 { return append(c.buf[:0], 1) },
}

func entity(sub string, f func(d *Device) Value) column {
	return col(entityRows, "1.3.6.1.2.1.47.1.1.1.1."+sub, always(func(c *mctx, _ int) Value { return f(c.d) }))
}

var entityGroup = []column{
	entity("2", func(d *Device) Value { return strValue(d.Model.Manufacturer + " " + d.Model.Name) }),
	entity("4", func(*Device) Value { return intValue(0) }),
	entity("5", func(*Device) Value { return intValue(3) }), // chassis
	entity("7", func(d *Device) Value { return strValue(d.Model.Name) }),
	entity("8", func(d *Device) Value { return strValue(d.Model.HWRev) }),
	entity("9", func(d *Device) Value { return strValue(d.Firmware()) }),
	entity("10", func(d *Device) Value { return strValue(d.Model.Software + " " + d.Firmware()) }),
	entity("11", func(d *Device) Value { return strValue(d.Serial) }),
	entity("12", func(d *Device) Value { return strValue(d.Model.Manufacturer) }),
	entity("13", func(d *Device) Value { return strValue(d.Model.Name) }),
	entity("16", func(*Device) Value { return intValue(1) }), // isFRU true
}

// SNMP-FRAMEWORK-MIB snmpEngine group.
func engineGroup(maxMsg int) []column {
	return []column{
		scalar("1.3.6.1.6.3.10.2.1.1", func(c *mctx) Value { return bytesValue(c.d.engineID(nil)) }),
		scalar("1.3.6.1.6.3.10.2.1.2", func(c *mctx) Value { return intValue(int64(c.d.Boots())) }),
		scalar("1.3.6.1.6.3.10.2.1.3", func(c *mctx) Value { return intValue(int64(c.d.engineTime(c.now))) }),
		scalar("1.3.6.1.6.3.10.2.1.4", func(*mctx) Value { return intValue(int64(maxMsg)) }),
	}
}

// BRIDGE-MIB: base port table and the transparent-bridge forwarding table.
var bridgePortRows = &table{
	rows:  func(c *mctx) int { return len(c.d.sw.ports) },
	index: func(c *mctx, r int) []uint32 { return append(c.buf[:0], uint32(r+1)) },
}

var fdbRows = &table{
	rows: func(c *mctx) int { return len(c.d.sw.fdb) },
	index: func(c *mctx, r int) []uint32 {
		m := c.d.sw.fdb[r].mac
		return append(c.buf[:0], uint32(m[0]), uint32(m[1]), uint32(m[2]), uint32(m[3]), uint32(m[4]), uint32(m[5]))
	},
}

// fdbLive reports whether a forwarding entry is current: its station is up and the
// port is up. (A real switch ages entries out after minutes; the simulator at once.)
func fdbLive(c *mctx, r int) bool {
	e := &c.d.sw.fdb[r]
	return !e.dev.Down() && c.d.linkUp(e.port)
}

var bridgeGroup = []column{
	scalar("1.3.6.1.2.1.17.1.1", func(c *mctx) Value { return bytesValue(c.d.MAC[:]) }),
	scalar("1.3.6.1.2.1.17.1.2", func(c *mctx) Value { return intValue(int64(len(c.d.sw.ports))) }),
	scalar("1.3.6.1.2.1.17.1.3", func(*mctx) Value { return intValue(2) }), // transparent-only
	col(bridgePortRows, "1.3.6.1.2.1.17.1.4.1.1", always(func(_ *mctx, r int) Value { return intValue(int64(r + 1)) })),
	col(bridgePortRows, "1.3.6.1.2.1.17.1.4.1.2", always(func(_ *mctx, r int) Value { return intValue(int64(r + 1)) })),
	col(fdbRows, "1.3.6.1.2.1.17.4.3.1.1", func(c *mctx, r int) (Value, bool) {
		return bytesValue(c.d.sw.fdb[r].mac[:]), fdbLive(c, r)
	}),
	col(fdbRows, "1.3.6.1.2.1.17.4.3.1.2", func(c *mctx, r int) (Value, bool) {
		return intValue(int64(c.d.sw.fdb[r].port)), fdbLive(c, r)
	}),
	col(fdbRows, "1.3.6.1.2.1.17.4.3.1.3", func(c *mctx, r int) (Value, bool) {
		return intValue(3), fdbLive(c, r) // learned
	}),
}

// LLDP-MIB: local system and ports, and the remote table (what each port hears).
var lldpLocPortRows = bridgePortRows

var lldpRemRows = &table{
	rows: func(c *mctx) int { return len(c.d.sw.lldp) },
	index: func(c *mctx, r int) []uint32 {
		// lldpRemTimeMark, lldpRemLocalPortNum, lldpRemIndex
		return append(c.buf[:0], 0, uint32(c.d.sw.lldp[r]), 1)
	},
}

var lldpManRows = &table{
	rows: lldpRemRows.rows,
	index: func(c *mctx, r int) []uint32 {
		p := c.d.sw.lldp[r]
		a := c.d.sw.ports[p-1].ip
		// ... lldpRemManAddrSubtype ipV4(1), lldpRemManAddr as a length-prefixed string.
		return append(c.buf[:0], 0, uint32(p), 1, 1, 4, a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
	},
}

// lldpPeer returns the neighbour heard on row r when it is there now.
func lldpPeer(c *mctx, r int) (*Device, bool) {
	p := c.d.sw.lldp[r]
	peer := c.d.sw.ports[p-1]
	return peer, !peer.Down() && c.d.linkUp(p)
}

// peerPort is the port of peer that faces d.
func peerPort(peer, d *Device) int {
	switch {
	case peer.Uplink == d:
		return int(peer.UplinkLocal)
	case peer.Uplink2 == d:
		return int(peer.Uplink2Local)
	case peer.sw != nil:
		if i := slices.Index(peer.sw.ports, d); i >= 0 {
			return i + 1
		}
	}
	return 1
}

func lldpRem(sub string, f func(c *mctx, peer *Device) Value) column {
	return col(lldpRemRows, "1.0.8802.1.1.2.1.4.1.1."+sub, func(c *mctx, r int) (Value, bool) {
		peer, ok := lldpPeer(c, r)
		if !ok {
			return Value{}, false
		}
		return f(c, peer), true
	})
}

var lldpGroup = []column{
	scalar("1.0.8802.1.1.2.1.3.1", func(*mctx) Value { return intValue(4) }), // chassis id is a MAC
	scalar("1.0.8802.1.1.2.1.3.2", func(c *mctx) Value { return bytesValue(c.d.MAC[:]) }),
	scalar("1.0.8802.1.1.2.1.3.3", func(c *mctx) Value { return strValue(c.d.Name) }),
	scalar("1.0.8802.1.1.2.1.3.4", func(c *mctx) Value { return strValue(c.d.SysDescr()) }),
	col(lldpLocPortRows, "1.0.8802.1.1.2.1.3.7.1.2", always(func(*mctx, int) Value { return intValue(5) })), // interfaceName
	col(lldpLocPortRows, "1.0.8802.1.1.2.1.3.7.1.3", always(func(c *mctx, r int) Value {
		return strValue(ifShortName(ifDescr(c.d, r+1)))
	})),
	col(lldpLocPortRows, "1.0.8802.1.1.2.1.3.7.1.4", always(func(c *mctx, r int) Value { return strValue(ifDescr(c.d, r+1)) })),
	lldpRem("4", func(*mctx, *Device) Value { return intValue(4) }),
	lldpRem("5", func(_ *mctx, p *Device) Value { return bytesValue(p.MAC[:]) }),
	lldpRem("6", func(*mctx, *Device) Value { return intValue(5) }),
	lldpRem("7", func(c *mctx, p *Device) Value { return strValue(ifShortName(ifDescr(p, peerPort(p, c.d)))) }),
	lldpRem("8", func(c *mctx, p *Device) Value { return strValue(ifDescr(p, peerPort(p, c.d))) }),
	lldpRem("9", func(_ *mctx, p *Device) Value { return strValue(p.Name) }),
	lldpRem("10", func(_ *mctx, p *Device) Value { return strValue(p.SysDescr()) }),
	col(lldpManRows, "1.0.8802.1.1.2.1.4.2.1.3", func(c *mctx, r int) (Value, bool) {
		_, ok := lldpPeer(c, r)
		return intValue(2), ok // ifIndex
	}),
	col(lldpManRows, "1.0.8802.1.1.2.1.4.2.1.4", func(c *mctx, r int) (Value, bool) {
		p, ok := lldpPeer(c, r)
		if !ok {
			return Value{}, false
		}
		return intValue(int64(peerPort(p, c.d))), true
	}),
}

// UPS-MIB (RFC 1628).
const (
	upsFullMinutes = 45
	upsLowMinutes  = 4
)

func upsMinutes(c *mctx) (minutes, seconds int64, charge int64) {
	d := c.d
	switch d.UPS() {
	case UPSOnBattery:
		seconds = max(0, (c.now-d.st.upsSince.Load())/1e9)
		minutes = max(upsLowMinutes+1, upsFullMinutes-seconds/60)
		return minutes, seconds, 100 * minutes / upsFullMinutes
	case UPSBatteryLow:
		seconds = max(0, (c.now-d.st.upsSince.Load())/1e9)
		return upsLowMinutes, seconds, 8
	}
	return upsFullMinutes, 0, 100
}

var upsAlarmRows = &table{
	rows: func(c *mctx) int {
		switch c.d.UPS() {
		case UPSOnBattery:
			return 1
		case UPSBatteryLow:
			return 2
		}
		return 0
	},
	index: func(c *mctx, r int) []uint32 { return append(c.buf[:0], uint32(r+1)) },
}

var (
	upsAlarmOnBattery  = oid("1.3.6.1.2.1.33.1.6.3.2")
	upsAlarmLowBattery = oid("1.3.6.1.2.1.33.1.6.3.3")
)

var upsGroup = []column{
	scalar("1.3.6.1.2.1.33.1.1.1", func(c *mctx) Value { return strValue(c.d.Model.Manufacturer) }),
	scalar("1.3.6.1.2.1.33.1.1.2", func(c *mctx) Value { return strValue(c.d.Model.Name) }),
	scalar("1.3.6.1.2.1.33.1.1.3", func(c *mctx) Value { return strValue(c.d.Model.Software) }),
	scalar("1.3.6.1.2.1.33.1.1.4", func(c *mctx) Value { return strValue(c.d.Firmware()) }),
	scalar("1.3.6.1.2.1.33.1.1.5", func(c *mctx) Value { return strValue(c.d.Name) }),
	scalar("1.3.6.1.2.1.33.1.2.1", func(c *mctx) Value {
		if c.d.UPS() == UPSBatteryLow {
			return intValue(3) // batteryLow
		}
		return intValue(2) // batteryNormal
	}),
	scalar("1.3.6.1.2.1.33.1.2.2", func(c *mctx) Value { _, s, _ := upsMinutes(c); return intValue(s) }),
	scalar("1.3.6.1.2.1.33.1.2.3", func(c *mctx) Value { m, _, _ := upsMinutes(c); return intValue(m) }),
	scalar("1.3.6.1.2.1.33.1.2.4", func(c *mctx) Value { _, _, p := upsMinutes(c); return intValue(p) }),
	scalar("1.3.6.1.2.1.33.1.4.1", func(c *mctx) Value {
		if c.d.UPS() == UPSOnline {
			return intValue(3) // normal
		}
		return intValue(5) // battery
	}),
	scalar("1.3.6.1.2.1.33.1.6.1", func(c *mctx) Value { return gaugeValue(uint32(upsAlarmRows.rows(c))) }),
	col(upsAlarmRows, "1.3.6.1.2.1.33.1.6.2.1.2", always(func(_ *mctx, r int) Value {
		if r == 0 {
			return oidValue(upsAlarmOnBattery)
		}
		return oidValue(upsAlarmLowBattery)
	})),
	col(upsAlarmRows, "1.3.6.1.2.1.33.1.6.2.1.3", always(func(c *mctx, _ int) Value {
		return ticksValue(uint32(max(0, c.d.st.upsSince.Load()-c.d.st.bootAt.Load()) / 1e7))
	})),
}

// ipNetToMediaTable on cores, the site's default gateways: one entry per reachable
// device of the site, indexed by the unit's VLAN interface and the device's address.
var arpRows = &table{
	rows: func(c *mctx) int { return len(c.d.Unit.Site.devices) },
	index: func(c *mctx, r int) []uint32 {
		d := c.d.Unit.Site.devices[r]
		return append(c.buf[:0], uint32(sviBase+d.Unit.VLAN), d.ip>>24, d.ip>>16&0xff, d.ip>>8&0xff, d.ip&0xff)
	},
}

func arp(sub string, f func(d *Device) Value) column {
	return col(arpRows, "1.3.6.1.2.1.4.22.1."+sub, func(c *mctx, r int) (Value, bool) {
		d := c.d.Unit.Site.devices[r]
		return f(d), d != c.d && d.Reachable()
	})
}

var arpGroup = []column{
	arp("1", func(d *Device) Value { return intValue(int64(sviBase + d.Unit.VLAN)) }),
	arp("2", func(d *Device) Value { return bytesValue(d.MAC[:]) }),
	arp("3", func(d *Device) Value {
		ip := d.IP().As4()
		return Value{Type: snmpber.IPAddress, Bytes: ip[:]}
	}),
	arp("4", func(*Device) Value { return intValue(3) }), // dynamic
}

// views builds the view of each kind of device.
type views struct {
	host, switches, cores, ups view
}

func buildViews(maxMsg int) *views {
	eng := engineGroup(maxMsg)
	return &views{
		host:     newView(systemGroup, ifGroup, entityGroup, eng),
		switches: newView(systemGroup, ifGroup, entityGroup, eng, bridgeGroup, lldpGroup),
		cores:    newView(systemGroup, ifGroup, entityGroup, eng, bridgeGroup, lldpGroup, arpGroup),
		ups:      newView(systemGroup, ifGroup, entityGroup, eng, upsGroup),
	}
}

func (v *views) of(d *Device) view {
	switch d.Class {
	case NetworkSwitch:
		if d.core {
			return v.cores
		}
		return v.switches
	case UPS:
		return v.ups
	}
	return v.host
}
