package discovery

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// condSet is the set of non-reachability conditions a device has, as bits: a poll
// reports them all (full Conditions), so the collector must remember them.
type condSet uint8

const (
	condOnBattery condSet = 1 << iota
	condBatteryLow
	condIfDown
)

var condNames = []struct {
	bit  condSet
	name string
}{{condOnBattery, observation.CondUPSOnBattery}, {condBatteryLow, observation.CondUPSBatteryLow}, {condIfDown, observation.CondInterfaceDown}}

func (c condSet) with(bit condSet, on bool) condSet {
	if on {
		return c | bit
	}
	return c &^ bit
}

func (c condSet) list() []string {
	out := []string{}
	for _, n := range condNames {
		if c&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// devInventory is what the last inventory read found, plus what topology says.
type devInventory struct {
	ent         entityInfo
	macs        []string
	ups         bool
	uplinks     map[int]string // ifIndex -> port name; sticky, since a down uplink loses its LLDP entry
	downUplinks []string
	nbr         *observation.Neighbor
	// upstream is the device nbr names (the switch this device is plugged into),
	// when this collector polls it.
	upstream *device
}

// health derives the reported state and the full condition list (p.mu held).
func (d *device) health() (observation.State, []string) {
	if d.state == observation.StateDown {
		return observation.StateDown, []string{observation.CondSNMPUnreachable}
	}
	cs := d.conds.list()
	if len(cs) > 0 {
		return observation.StateDegraded, cs
	}
	return observation.StateUp, cs
}

// observation builds the full-state observation of a device (p.mu held).
func (p *Poller) observation(d *device, kind observation.Kind, src observation.Source, now time.Time) observation.Observation {
	o := observation.Observation{
		ID:         p.ids.Next(),
		Collector:  p.cfg.Name,
		Site:       p.cfg.Site,
		ObservedAt: now,
		ValidUntil: now.Add(p.validity()),
		Source:     src,
		Kind:       kind,
		Address:    &observation.Address{IP: d.addr.Addr().String(), Port: int(d.addr.Port())},
		Identity:   p.identity(d),
	}
	o.Clinical = d.grp.clinical
	loc := d.grp.location
	loc.Raw = d.sys.Location
	if !loc.IsZero() {
		o.Location = &loc
	}
	o.State, o.Conditions = d.health()
	switch {
	case d.state == observation.StateDown:
		o.Condition = observation.CondSNMPUnreachable
	case d.conds&condIfDown != 0 && d.inv != nil:
		o.Condition = observation.CondInterfaceDown
		o.Detail = "uplink down: " + strings.Join(d.inv.downUplinks, ", ")
	case d.conds&(condOnBattery|condBatteryLow) != 0:
		o.Condition = observation.CondUPSOnBattery
		if d.conds&condBatteryLow != 0 {
			o.Condition = observation.CondUPSBatteryLow
		}
		if d.upsLeft >= 0 {
			o.Detail = fmt.Sprintf("%d minutes of battery remaining", d.upsLeft)
		}
	}
	if d.inv != nil && d.inv.nbr != nil {
		o.Neighbors = []observation.Neighbor{*d.inv.nbr}
	}
	return o
}

// identity is everything known to identify a device (p.mu held). Manufacturer comes
// from the matching profile when there is one, so that (manufacturer, serial) stays
// the same key whether or not ENTITY-MIB spells the vendor differently.
func (p *Poller) identity(d *device) observation.Identity {
	id := observation.Identity{SysName: d.sys.Name, SysDescr: d.sys.Descr, SysObjectID: d.sys.ObjectID}
	if fp := d.fp; fp != nil {
		id.Class, id.Manufacturer, id.Model, id.Firmware = fp.Class, fp.Manufacturer, fp.Model, fp.Firmware
	}
	if d.inv != nil {
		e := d.inv.ent
		if id.Manufacturer == "" {
			id.Manufacturer = e.Manufacturer
		}
		id.Serial = e.Serial
		if e.Model != "" {
			id.Model = e.Model
		}
		if e.Firmware != "" {
			id.Firmware = e.Firmware
		}
		id.Software = e.Software
		id.MACs = p.topo.usableMACs(d)
	}
	return id
}

// validity is how long an observation stays true without a refresh: long enough to
// survive two missed refreshes, so one lost batch never makes a device UNKNOWN.
func (p *Poller) validity() time.Duration {
	v := 3 * p.cfg.Refresh
	if m := 3 * p.cfg.SNMP.PollInterval; v < m {
		v = m
	}
	if b := 2 * p.cfg.SNMP.MaxBackoff; v < b {
		v = b
	}
	return min(v, observation.MaxObservationTTL)
}

// inventoryWorker reads inventories handed over by polls.
func (p *Poller) inventoryWorker(ctx context.Context) {
	for {
		select {
		case d := <-p.invq:
			p.inventory(ctx, d)
		case <-ctx.Done():
			return
		}
	}
}

// inventory reads one device's inventory and applies it.
func (p *Poller) inventory(ctx context.Context, d *device) {
	p.mu.Lock()
	cr := d.grp.creds[d.cred]
	addr := d.addr
	class := ""
	if d.fp != nil {
		class = d.fp.Class
	}
	p.mu.Unlock()

	params := p.sessionParams()
	r, err := func() (invReading, error) {
		g, err := newSession(ctx, Target{Host: addr.Addr().String(), Port: addr.Port()}, cr, params)
		if err != nil {
			return invReading{}, err
		}
		defer g.Conn.Close()
		return readInventory(ctx, gosnmpWalker{g}, class)
	}()
	now := p.now()
	p.mu.Lock()
	d.busy = false
	if err != nil {
		d.nextInventory = now.Add(min(p.cfg.SNMP.InventoryInterval, 5*time.Minute)).UnixNano()
		p.mu.Unlock()
		p.metrics.inventoryDone(false)
		p.log.Debug("inventory", "target", addr.String(), "err", err)
		return
	}
	p.metrics.inventoryDone(true)
	out := p.applyInventory(d, &r, now)
	p.mu.Unlock()
	for _, o := range out {
		p.emit.Emit(o)
	}
}

// applyInventory stores an inventory reading, updates topology and returns the
// observations for every device whose identity, conditions or neighbours changed
// (p.mu held). A firmware or serial change goes out as a CHANGE at once, so it lands
// in the asset's history with the time it was seen.
func (p *Poller) applyInventory(d *device, r *invReading, now time.Time) []observation.Observation {
	d.nextInventory = now.Add(p.cfg.SNMP.InventoryInterval).UnixNano()
	before := p.identity(d)
	var nbrBefore observation.Neighbor
	if d.inv != nil && d.inv.nbr != nil {
		nbrBefore = *d.inv.nbr
	}
	condsBefore := d.conds
	inv := d.inv
	if inv == nil {
		inv = &devInventory{}
	}
	inv.ent = r.Entity
	inv.ups = r.UPS
	p.topo.setOwnMACs(d, r.ownMACs())
	p.topo.setName(d)
	inv.macs = r.ownMACs()
	if up := r.uplinks(); len(up) > 0 || len(inv.uplinks) > 0 {
		if inv.uplinks == nil {
			inv.uplinks = map[int]string{}
		}
		for i := range up {
			if len(inv.uplinks) < 64 {
				inv.uplinks[i] = r.portName(i)
			}
		}
	}
	inv.downUplinks = inv.downUplinks[:0]
	for _, f := range r.Ifaces {
		if _, ok := inv.uplinks[f.Index]; ok && f.Admin == 1 && (f.Oper == 2 || f.Oper == 7) {
			inv.downUplinks = append(inv.downUplinks, r.portName(f.Index))
		}
	}
	d.inv = inv
	d.conds = d.conds.with(condIfDown, len(inv.downUplinks) > 0)
	if !inv.ups {
		d.conds = d.conds.with(condOnBattery, false).with(condBatteryLow, false)
	}
	p.setReported(d)

	affected := p.topo.update(p, d, r)
	var out []observation.Observation
	inv.nbr, inv.upstream = p.topo.neighborFor(p, d)
	var nbrAfter observation.Neighbor
	if inv.nbr != nil {
		nbrAfter = *inv.nbr
	}
	after := p.identity(d)
	if !sameIdentity(before, after) || condsBefore != d.conds || nbrBefore != nbrAfter {
		out = append(out, p.observation(d, observation.KindChange, observation.SourceSNMPPoll, now))
		d.lastReported = now.UnixNano()
	}
	for _, o := range affected {
		if o == d || o.inv == nil {
			continue
		}
		nb, up := p.topo.neighborFor(p, o)
		o.inv.upstream = up
		if !sameNeighbor(o.inv.nbr, nb) {
			o.inv.nbr = nb
			out = append(out, p.observation(o, observation.KindChange, observation.SourceSNMPPoll, now))
			o.lastReported = now.UnixNano()
		}
	}
	return out
}

func sameNeighbor(a, b *observation.Neighbor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameIdentity(a, b observation.Identity) bool {
	return a.Serial == b.Serial && a.Firmware == b.Firmware && a.Software == b.Software && a.Model == b.Model &&
		a.Manufacturer == b.Manufacturer && slices.Equal(a.MACs, b.MACs) && a.Class == b.Class
}

// DeviceSnapshot is a read-only view of a tracked device (tests, debugging).
type DeviceSnapshot struct {
	Address    string
	State      observation.State
	Conditions []string
	Identity   observation.Identity
	Neighbors  []observation.Neighbor
	Credential string
	Uplinks    []string
}

// Snapshot returns what the poller knows of the device at addr ("ip:port").
func (p *Poller) Snapshot(addr string) (DeviceSnapshot, bool) {
	t, err := parseTarget(addr, uint16(p.cfg.SNMP.Port))
	if err != nil {
		return DeviceSnapshot{}, false
	}
	ap, err := t.addrPort()
	if err != nil {
		return DeviceSnapshot{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.devices[ap]
	if !ok {
		return DeviceSnapshot{}, false
	}
	s := DeviceSnapshot{Address: ap.String(), Identity: p.identity(d), Credential: d.grp.creds[d.cred].Name}
	s.State, s.Conditions = d.health()
	if d.inv != nil {
		if d.inv.nbr != nil {
			s.Neighbors = []observation.Neighbor{*d.inv.nbr}
		}
		s.Uplinks = slices.Sorted(maps.Values(d.inv.uplinks))
	}
	return s, true
}

// EachDevice calls fn for every tracked device under the poller's lock (keep fn quick):
// its address, whether it answers, its class and care area.
func (p *Poller) EachDevice(fn func(addr netip.AddrPort, up bool, class, careArea string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ap, d := range p.devices {
		class := "OTHER"
		if d.fp != nil && d.fp.Class != "" {
			class = d.fp.Class
		}
		fn(ap, d.state != observation.StateDown, class, d.grp.location.CareArea)
	}
}
