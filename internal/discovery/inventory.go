package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// Inventory is read on discovery and then every snmp.inventory_interval, not on every
// poll: ENTITY-MIB (serial, model, firmware, manufacturer), IF-MIB (interfaces, MACs,
// status), whether UPS-MIB is there, and for network gear the tables topology is built
// from (bridge and Q-bridge forwarding tables, LLDP neighbours, the ARP table).

// Table and column OIDs (no MIB files at run time).
const (
	oidEntPhysical     = "1.3.6.1.2.1.47.1.1.1.1"
	oidIfTable         = "1.3.6.1.2.1.2.2.1"
	oidIfName          = "1.3.6.1.2.1.31.1.1.1.1"
	oidDot1dBasePortIf = "1.3.6.1.2.1.17.1.4.1.2"
	oidDot1dTpFdbPort  = "1.3.6.1.2.1.17.4.3.1.2"
	oidDot1qTpFdbPort  = "1.3.6.1.2.1.17.7.1.2.2.1.2"
	oidLLDPRem         = "1.0.8802.1.1.2.1.4.1.1"
	oidIPNetToMediaPhy = "1.3.6.1.2.1.4.22.1.2"
	oidUPSIdent        = "1.3.6.1.2.1.33.1.1"
)

// maxTableRows bounds every walk, so one odd agent cannot make the collector read
// for ever or hold a huge table.
const maxTableRows = 20000

type entityInfo struct {
	Serial, Model, Firmware, Software, Manufacturer string
}

type ifaceInfo struct {
	Index       int
	Name, Descr string
	Type        int
	MAC         string
	Admin, Oper int
}

type fdbEntry struct {
	MAC     string
	IfIndex int
}

type lldpEntry struct {
	LocalIf    int
	ChassisMAC string
	SysName    string
	PortID     string
	Caps       byte // first octet of lldpRemSysCapEnabled
}

type arpEntry struct {
	IP  netip.Addr
	MAC string
}

// invReading is one inventory read of one device.
type invReading struct {
	Entity entityInfo
	Ifaces []ifaceInfo
	UPS    bool
	FDB    []fdbEntry
	LLDP   []lldpEntry
	ARP    []arpEntry
}

// walker is the part of gosnmp inventory needs; tests use a fake.
type walker interface {
	walk(root string, fn func(oid string, v gosnmp.SnmpPDU) error) error
	get(oids []string) ([]gosnmp.SnmpPDU, error)
}

type gosnmpWalker struct{ g *gosnmp.GoSNMP }

var errTooManyRows = errors.New("table too large")

func (w gosnmpWalker) walk(root string, fn func(string, gosnmp.SnmpPDU) error) error {
	n := 0
	cb := func(v gosnmp.SnmpPDU) error {
		n++
		if n > maxTableRows {
			return errTooManyRows
		}
		return fn(strings.TrimPrefix(v.Name, "."), v)
	}
	var err error
	if w.g.Version == gosnmp.Version1 {
		err = w.g.Walk(root, cb)
	} else {
		err = w.g.BulkWalk(root, cb)
	}
	if errors.Is(err, errTooManyRows) {
		return nil // keep what was read
	}
	return err
}

func (w gosnmpWalker) get(oids []string) ([]gosnmp.SnmpPDU, error) {
	pkt, err := w.g.Get(oids)
	if err != nil {
		return nil, err
	}
	return pkt.Variables, nil
}

// networkClass reports whether a device class carries forwarding/LLDP/ARP tables.
func networkClass(class string) bool {
	switch class {
	case "NETWORK_SWITCH", "ROUTER", "WIRELESS_AP", "OTHER", "":
		return true
	}
	return false
}

// readInventory reads everything inventory wants. Missing tables are normal (most
// medical devices have no ENTITY-MIB); only a failure to reach the agent is an error.
func readInventory(ctx context.Context, w walker, class string) (invReading, error) {
	var r invReading
	if err := readEntity(w, &r); err != nil {
		return r, fmt.Errorf("ENTITY-MIB: %w", err)
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if err := readIfaces(w, &r); err != nil {
		return r, fmt.Errorf("IF-MIB: %w", err)
	}
	if vs, err := w.get([]string{oidUPSBatteryStatus}); err == nil {
		for _, v := range vs {
			if _, ok := pduUint(v); ok {
				r.UPS = true
			}
		}
	}
	if networkClass(class) && ctx.Err() == nil {
		if err := readTopology(w, &r); err != nil {
			return r, fmt.Errorf("topology tables: %w", err)
		}
	}
	return r, ctx.Err()
}

// column splits "root.col.index..." into the column number and the index suffix.
func column(root, oid string) (int, string, bool) {
	rest, ok := strings.CutPrefix(oid, root+".")
	if !ok {
		return 0, "", false
	}
	col, idx, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(col)
	return n, idx, err == nil
}

func readEntity(w walker, r *invReading) error {
	type ent struct {
		class                             int
		serial, model, fw, sw, mfg, descr string
	}
	ents := map[string]*ent{}
	var order []string
	for _, col := range []int{2, 5, 9, 10, 11, 12, 13} {
		err := w.walk(oidEntPhysical+"."+strconv.Itoa(col), func(oid string, v gosnmp.SnmpPDU) error {
			_, idx, ok := column(oidEntPhysical, oid)
			if !ok {
				return nil
			}
			e := ents[idx]
			if e == nil {
				e = &ent{}
				ents[idx] = e
				order = append(order, idx)
			}
			s := pduString(v)
			switch col {
			case 2:
				e.descr = s
			case 5:
				n, _ := pduUint(v)
				e.class = int(n)
			case 9:
				e.fw = s
			case 10:
				e.sw = s
			case 11:
				e.serial = s
			case 12:
				e.mfg = s
			case 13:
				e.model = s
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// The chassis (entPhysicalClass 3) describes the device; else the first entity
	// with a serial number; else the first one.
	var best *ent
	for _, idx := range order {
		e := ents[idx]
		if e.class == 3 && (e.serial != "" || e.model != "") {
			best = e
			break
		}
	}
	if best == nil {
		for _, idx := range order {
			if ents[idx].serial != "" {
				best = ents[idx]
				break
			}
		}
	}
	if best == nil && len(order) > 0 {
		best = ents[order[0]]
	}
	if best != nil {
		r.Entity = entityInfo{Serial: best.serial, Model: best.model, Firmware: best.fw, Software: best.sw, Manufacturer: best.mfg}
	}
	return nil
}

func readIfaces(w walker, r *invReading) error {
	byIdx := map[int]*ifaceInfo{}
	get := func(idx string) *ifaceInfo {
		n, err := strconv.Atoi(idx)
		if err != nil {
			return nil
		}
		f := byIdx[n]
		if f == nil {
			f = &ifaceInfo{Index: n}
			byIdx[n] = f
		}
		return f
	}
	for _, col := range []int{2, 3, 6, 7, 8} {
		err := w.walk(oidIfTable+"."+strconv.Itoa(col), func(oid string, v gosnmp.SnmpPDU) error {
			_, idx, ok := column(oidIfTable, oid)
			if !ok {
				return nil
			}
			f := get(idx)
			if f == nil {
				return nil
			}
			n, _ := pduUint(v)
			switch col {
			case 2:
				f.Descr = pduString(v)
			case 3:
				f.Type = int(n)
			case 6:
				if b, ok := v.Value.([]byte); ok && len(b) == 6 {
					f.MAC = net.HardwareAddr(b).String()
				}
			case 7:
				f.Admin = int(n)
			case 8:
				f.Oper = int(n)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	err := w.walk(oidIfName, func(oid string, v gosnmp.SnmpPDU) error {
		idx, ok := strings.CutPrefix(oid, oidIfName+".")
		if f := get(idx); ok && f != nil {
			f.Name = pduString(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range byIdx {
		r.Ifaces = append(r.Ifaces, *f)
	}
	slices.SortFunc(r.Ifaces, func(a, b ifaceInfo) int { return a.Index - b.Index })
	return nil
}

// macFromIndex parses the last six arcs of an index as a MAC address.
func macFromIndex(idx string) (string, bool) {
	parts := strings.Split(idx, ".")
	if len(parts) < 6 {
		return "", false
	}
	b := make(net.HardwareAddr, 6)
	for i, p := range parts[len(parts)-6:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return "", false
		}
		b[i] = byte(n)
	}
	return b.String(), true
}

func readTopology(w walker, r *invReading) error {
	basePortIf := map[int]int{}
	err := w.walk(oidDot1dBasePortIf, func(oid string, v gosnmp.SnmpPDU) error {
		port, err := strconv.Atoi(strings.TrimPrefix(oid, oidDot1dBasePortIf+"."))
		if n, ok := pduUint(v); err == nil && ok {
			basePortIf[port] = int(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ifOf := func(port int) int {
		if i, ok := basePortIf[port]; ok {
			return i
		}
		return port
	}
	seen := map[string]bool{}
	fdb := func(root string) func(string, gosnmp.SnmpPDU) error {
		return func(oid string, v gosnmp.SnmpPDU) error {
			mac, ok := macFromIndex(strings.TrimPrefix(oid, root+"."))
			port, okp := pduUint(v)
			if !ok || !okp || port == 0 || seen[mac] {
				return nil
			}
			seen[mac] = true
			r.FDB = append(r.FDB, fdbEntry{MAC: mac, IfIndex: ifOf(int(port))})
			return nil
		}
	}
	// Q-BRIDGE first (per-VLAN, what modern switches fill), then the classic table.
	if err := w.walk(oidDot1qTpFdbPort, fdb(oidDot1qTpFdbPort)); err != nil {
		return err
	}
	if err := w.walk(oidDot1dTpFdbPort, fdb(oidDot1dTpFdbPort)); err != nil {
		return err
	}

	byKey := map[string]*lldpEntry{}
	var keys []string
	err = w.walk(oidLLDPRem, func(oid string, v gosnmp.SnmpPDU) error {
		col, idx, ok := column(oidLLDPRem, oid)
		if !ok {
			return nil
		}
		// index: timeMark.localPortNum.remIndex
		parts := strings.Split(idx, ".")
		if len(parts) != 3 {
			return nil
		}
		e := byKey[idx]
		if e == nil {
			lp, _ := strconv.Atoi(parts[1])
			e = &lldpEntry{LocalIf: ifOf(lp)}
			byKey[idx] = e
			keys = append(keys, idx)
		}
		switch col {
		case 5:
			if b, ok := v.Value.([]byte); ok && len(b) == 6 {
				e.ChassisMAC = net.HardwareAddr(b).String()
			}
		case 7:
			e.PortID = pduString(v)
		case 9:
			e.SysName = pduString(v)
		case 12:
			if b, ok := v.Value.([]byte); ok && len(b) > 0 {
				e.Caps = b[0]
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		r.LLDP = append(r.LLDP, *byKey[k])
	}

	return w.walk(oidIPNetToMediaPhy, func(oid string, v gosnmp.SnmpPDU) error {
		idx := strings.TrimPrefix(oid, oidIPNetToMediaPhy+".")
		parts := strings.Split(idx, ".")
		if len(parts) != 5 {
			return nil
		}
		ip, err := netip.ParseAddr(strings.Join(parts[1:], "."))
		b, ok := v.Value.([]byte)
		if err != nil || !ok || len(b) != 6 {
			return nil
		}
		r.ARP = append(r.ARP, arpEntry{IP: ip, MAC: net.HardwareAddr(b).String()})
		return nil
	})
}

// LLDP system capability bits (first octet of the BITS value, bit 0 is the MSB).
const (
	lldpCapBridge = 0x20
	lldpCapWLANAP = 0x10
	lldpCapRouter = 0x08
)

// uplinkMACs is how many MACs behind one port make it an uplink rather than a
// device's own port.
const uplinkMACs = 4

// uplinks returns the ifIndexes that lead to more network rather than to one device:
// an LLDP neighbour that is a bridge or router, or several MACs learnt on the port.
func (r *invReading) uplinks() map[int]bool {
	up := map[int]bool{}
	for _, l := range r.LLDP {
		if l.Caps&(lldpCapBridge|lldpCapRouter) != 0 {
			up[l.LocalIf] = true
		}
	}
	count := map[int]int{}
	for _, f := range r.FDB {
		count[f.IfIndex]++
	}
	for i, n := range count {
		if n >= uplinkMACs {
			up[i] = true
		}
	}
	return up
}

// ownMACs returns the device's own hardware addresses: physical interfaces only,
// at most eight (a switch has one per port; they add nothing to identity).
func (r *invReading) ownMACs() []string {
	var out []string
	for _, f := range r.Ifaces {
		if f.MAC == "" || f.Type == 24 /* softwareLoopback */ || f.MAC == "00:00:00:00:00:00" {
			continue
		}
		if !slices.Contains(out, f.MAC) {
			out = append(out, f.MAC)
		}
		if len(out) == 8 {
			break
		}
	}
	slices.Sort(out)
	return out
}

// portName is how a port is shown: ifName, else ifDescr, else the index.
func (r *invReading) portName(ifIndex int) string {
	for _, f := range r.Ifaces {
		if f.Index == ifIndex {
			if f.Name != "" {
				return f.Name
			}
			if f.Descr != "" {
				return f.Descr
			}
		}
	}
	return "ifIndex " + strconv.Itoa(ifIndex)
}
