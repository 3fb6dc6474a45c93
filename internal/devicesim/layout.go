package devicesim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Care areas, named as the cmdb's policy names them.
const (
	ICU        = "ICU"
	NICU       = "NICU"
	ED         = "ED"
	OR         = "OR"
	StepDown   = "STEP_DOWN"
	Ward       = "WARD"
	Outpatient = "OUTPATIENT"
	Lab        = "LAB"
	Pharmacy   = "PHARMACY"
	Admin      = "ADMIN"
)

// CareAreas lists every care area the generator uses.
var CareAreas = []string{ICU, NICU, ED, OR, StepDown, Ward, Outpatient, Lab, Pharmacy, Admin}

// Hospital is a generated layout: sites, their units and every device, in address order.
type Hospital struct {
	Seed    uint64
	Sites   []*Site
	Units   []*Unit
	Devices []*Device // sorted by IP

	byName map[string]*Device
}

// Site is one campus with its own core switches and data-centre unit.
type Site struct {
	Index     int
	Name      string // e.g. "Main Campus"
	Code      string // e.g. "main", used in sysNames
	Buildings []string
	Units     []*Unit
	Cores     []*Device
	Gateways  []*Device

	devices     []*Device // the site's devices, contiguous in Hospital.Devices
	first, last int
}

// Unit is a clinical (or technical) unit on one floor: the address block, location and
// access switches its devices share.
type Unit struct {
	Index    int
	Site     *Site
	Building string
	Floor    int
	Name     string // e.g. "ICU-3"
	Code     string // e.g. "icu3"
	CareArea string
	Prefix   netip.Prefix
	// VLAN is the unit's VLAN (100 for the data centre, then 101, 102, ...), routed by
	// the site's cores.
	VLAN     int
	Beds     int
	Rooms    int
	Devices  []*Device
	Switches []*Device
}

// Location is the unit's location as a collector range would carry it.
func (u *Unit) String() string {
	return fmt.Sprintf("%s, %s, floor %d, %s", u.Site.Name, u.Building, u.Floor, u.Name)
}

// LayoutOptions size and place a generated hospital.
type LayoutOptions struct {
	Seed    uint64
	Devices int
	// Base is the first address of the simulated range (default 127.10.0.0). Every
	// device gets one address in 127.0.0.0/8, which Linux answers on loopback.
	Base netip.Addr
	// Spacing puts each device of a unit this many addresses after the previous one
	// (default 1: contiguous), so that a sweep meets about one agent every Spacing
	// addresses and silence everywhere else, as on a sparsely used network.
	Spacing int
}

// MaxSpacing bounds LayoutOptions.Spacing.
const MaxSpacing = 256

// MaxDevices bounds a generated hospital (addresses stay inside 127.0.0.0/8).
const MaxDevices = 1_000_000

var siteNames = []string{"Main Campus", "Children's Hospital", "Riverside", "Northgate", "Lakeview", "St. Anne's", "Westbrook", "Hillcrest"}

// maxSwitchesPerSite keeps every access switch on a port of the site's core pair.
const maxSwitchesPerSite = 40

// endpointsPerSwitch leaves a few access ports spare on each 48-port switch.
const endpointsPerSwitch = 44

// Generate builds the layout. The same options always give the same hospital: names,
// serial numbers, MACs and EUI-64s are stable for a seed.
func Generate(o LayoutOptions) (*Hospital, error) {
	if o.Devices < 1 || o.Devices > MaxDevices {
		return nil, fmt.Errorf("devices: %d is outside 1..%d", o.Devices, MaxDevices)
	}
	if o.Spacing == 0 {
		o.Spacing = 1
	}
	if o.Spacing < 1 || o.Spacing > MaxSpacing {
		return nil, fmt.Errorf("spacing: %d is outside 1..%d", o.Spacing, MaxSpacing)
	}
	if !o.Base.IsValid() {
		o.Base = netip.MustParseAddr("127.10.0.0")
	}
	if !o.Base.Is4() || o.Base.As4()[0] != 127 {
		return nil, fmt.Errorf("base address %s is not in 127.0.0.0/8", o.Base)
	}
	g := &generator{
		opts: o,
		rng:  rand.New(rand.NewPCG(o.Seed, 0x6d6564636d6462)),
		h:    &Hospital{Seed: o.Seed, byName: map[string]*Device{}},
		next: ip4(o.Base),
		macs: map[[3]byte]uint32{},
		sers: map[*Model]uint64{},
	}
	for len(g.h.Devices) < o.Devices {
		if err := g.site(); err != nil {
			return nil, err
		}
		if g.next > 0x80000000 {
			return nil, fmt.Errorf("%d devices from %s do not fit in 127.0.0.0/8", o.Devices, o.Base)
		}
	}
	for _, s := range g.h.Sites {
		s.devices = g.h.Devices[s.first:s.last:s.last]
	}
	return g.h, nil
}

type generator struct {
	opts LayoutOptions
	rng  *rand.Rand
	h    *Hospital
	next uint32 // first address after the last block
	macs map[[3]byte]uint32
	sers map[*Model]uint64
}

func (g *generator) left() int { return g.opts.Devices - len(g.h.Devices) }

// plan is a unit's device mix before addresses are given.
type plan struct {
	area        string
	beds, rooms int
	items       []planItem
}

type planItem struct {
	class     Class
	room, bed int // 0 when not at a bed
}

// firstUnits are the first site's opening units, with fixed sizes so that a small
// demo hospital always has an ICU, an ED, an OR and a ward.
var firstUnits = []struct {
	area string
	size int
}{{ICU, 10}, {ED, 12}, {OR, 6}, {Ward, 24}, {Lab, 8}, {NICU, 12}, {StepDown, 16}, {Outpatient, 10}, {Pharmacy, 1}, {Admin, 14}}

var areaWeights = []struct {
	area   string
	weight int
}{{ICU, 10}, {NICU, 4}, {ED, 6}, {OR, 8}, {StepDown, 10}, {Ward, 30}, {Outpatient, 12}, {Lab, 5}, {Pharmacy, 3}, {Admin, 12}}

func (g *generator) site() error {
	i := len(g.h.Sites)
	s := &Site{Index: i}
	if i < len(siteNames) {
		s.Name = siteNames[i]
		s.Code = strings.ToLower(strings.Fields(strings.NewReplacer("'", "", ".", "").Replace(s.Name))[0])
	} else {
		s.Name = fmt.Sprintf("Site %d", i+1)
		s.Code = fmt.Sprintf("s%d", i+1)
	}
	nb := 1 + g.rng.IntN(3)
	for b := range nb {
		s.Buildings = append(s.Buildings, []string{"Tower A", "Tower B", "Pavilion C"}[b])
	}
	g.h.Sites = append(g.h.Sites, s)
	first := len(g.h.Devices)
	defer func() { s.first, s.last = first, len(g.h.Devices) }()

	// The data centre: core pair, HL7 gateways and a UPS, on the core switches.
	dc := g.unit(s, s.Buildings[0], 0, "DC", Admin)
	for _, c := range []Class{coreSwitch, coreSwitch, HL7Gateway, HL7Gateway, UPS} {
		if g.left() == 0 {
			break
		}
		d := g.device(dc, c, 0, 0)
		switch {
		case d.core:
			s.Cores = append(s.Cores, d)
		case c == HL7Gateway:
			s.Gateways = append(s.Gateways, d)
		}
	}
	if len(s.Cores) == 2 {
		// The core pair is interconnected on each one's first uplink port.
		a, b := s.Cores[0], s.Cores[1]
		a.sw.ports[a.Model.Ports] = b
		b.sw.ports[b.Model.Ports] = a
	}
	for j, d := range dc.Devices {
		if d.core {
			continue
		}
		connect(d, s.Cores[j%2], 1)
		if d.Class == UPS {
			for _, c := range s.Cores {
				c.Power = d
			}
		}
	}
	g.close(dc)

	floors := map[string]int{}
	switches := 0
	for n := 0; g.left() > 0 && switches < maxSwitchesPerSite; n++ {
		var p plan
		if i == 0 && n < len(firstUnits) {
			p = g.planUnit(firstUnits[n].area, firstUnits[n].size)
		} else {
			p = g.planUnit(g.pickArea(), 0)
		}
		need := (len(p.items) + endpointsPerSwitch - 1) / endpointsPerSwitch
		if switches+need > maxSwitchesPerSite {
			break
		}
		switches += need
		bld := s.Buildings[g.rng.IntN(len(s.Buildings))]
		floors[bld]++
		floor := 1 + floors[bld]/2
		u := g.unit(s, bld, floor, strings.ReplaceAll(p.area, "_", "-"), p.area)
		u.Beds, u.Rooms = p.beds, p.rooms
		g.fill(u, p)
		g.close(u)
	}
	return nil
}

func (g *generator) pickArea() string {
	total := 0
	for _, w := range areaWeights {
		total += w.weight
	}
	r := g.rng.IntN(total)
	for _, w := range areaWeights {
		if r < w.weight {
			return w.area
		}
		r -= w.weight
	}
	return Ward
}

// planUnit lists what a unit of a care area holds; size is beds (rooms for OR and
// outpatient, analysers for the lab), drawn at random when 0.
func (g *generator) planUnit(area string, size int) plan {
	pick := func(lo, hi int) int {
		if size > 0 {
			return size
		}
		return lo + g.rng.IntN(hi-lo+1)
	}
	p := plan{area: area}
	add := func(c Class, n int) {
		for range n {
			p.items = append(p.items, planItem{class: c})
		}
	}
	perBed := func(c Class, num, den int) {
		// num/den devices per bed, spread evenly over the beds.
		for b := range p.beds {
			for range (b+1)*num/den - b*num/den {
				p.items = append(p.items, planItem{class: c, room: bedRoom(b), bed: b%2 + 1})
			}
		}
	}
	ceil := func(a, b int) int { return (a + b - 1) / b }
	switch area {
	case ICU, NICU:
		p.beds = pick(8, 14)
		p.rooms = ceil(p.beds, 2)
		add(UPS, 1)
		add(WirelessAP, ceil(p.beds, 6))
		perBed(PatientMonitor, 1, 1)
		perBed(InfusionPump, 2, 1)
		if area == ICU {
			perBed(Ventilator, 7, 10)
		} else {
			perBed(Ventilator, 2, 5)
		}
		add(Workstation, 2+p.beds/4)
		add(Printer, 1)
	case ED:
		p.beds = pick(10, 16)
		p.rooms = p.beds
		add(WirelessAP, 2)
		perBed(PatientMonitor, 1, 1)
		perBed(InfusionPump, 4, 5)
		add(Ventilator, 2)
		add(Imaging, 2)
		add(Workstation, 4)
		add(Printer, 2)
	case OR:
		p.rooms = pick(4, 8)
		add(UPS, 1+p.rooms/6)
		add(WirelessAP, ceil(p.rooms, 3))
		for r := range p.rooms {
			for _, c := range []Class{AnesthesiaMachine, PatientMonitor, InfusionPump, InfusionPump, Workstation} {
				p.items = append(p.items, planItem{class: c, room: r + 1})
			}
		}
		add(Printer, 1)
	case StepDown:
		p.beds = pick(12, 20)
		p.rooms = ceil(p.beds, 2)
		add(WirelessAP, 2)
		perBed(PatientMonitor, 1, 1)
		perBed(InfusionPump, 1, 1)
		add(Workstation, 3)
		add(Printer, 1)
	case Ward:
		p.beds = pick(20, 28)
		p.rooms = ceil(p.beds, 2)
		add(WirelessAP, 3)
		perBed(InfusionPump, 4, 5)
		perBed(PatientMonitor, 1, 4)
		add(Workstation, 4)
		add(Printer, 2)
	case Outpatient:
		p.rooms = pick(8, 14)
		add(WirelessAP, 2)
		for r := range p.rooms {
			p.items = append(p.items, planItem{class: Workstation, room: r + 1})
			if r%2 == 0 {
				p.items = append(p.items, planItem{class: PatientMonitor, room: r + 1})
			}
		}
		add(Imaging, 1)
		add(Printer, 2)
	case Lab:
		n := pick(6, 12)
		add(WirelessAP, 1)
		add(LabAnalyzer, n)
		add(Workstation, 3)
		add(Printer, 2)
	case Pharmacy:
		add(WirelessAP, 1)
		add(Workstation, 4)
		add(Printer, 3)
	default: // Admin
		n := pick(10, 20)
		add(WirelessAP, 2)
		add(Workstation, n)
		add(Printer, 2+n/6)
	}
	return p
}

func bedRoom(b int) int { return b/2 + 1 }

// unit opens a unit whose addresses start at the next free block.
func (g *generator) unit(s *Site, building string, floor int, kind, area string) *Unit {
	name := kind
	if floor > 0 {
		name = fmt.Sprintf("%s-%d", kind, floor)
	}
	base := name
	for k := 2; g.unitNamed(s, name); k++ {
		name = fmt.Sprintf("%s%c", base, 'A'+k-1)
	}
	u := &Unit{Index: len(g.h.Units), Site: s, Building: building, Floor: floor, Name: name, CareArea: area, VLAN: 100 + len(s.Units),
		Code: strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(name))}
	g.h.Units = append(g.h.Units, u)
	s.Units = append(s.Units, u)
	return u
}

func (g *generator) unitNamed(s *Site, name string) bool {
	for _, u := range s.Units {
		if u.Name == name {
			return true
		}
	}
	return false
}

// fill adds a unit's switches and planned devices, stopping at the requested total.
func (g *generator) fill(u *Unit, p plan) {
	items := p.items
	if room := g.left() - (len(items)+endpointsPerSwitch-1)/endpointsPerSwitch; room < len(items) {
		items = items[:max(room, 0)]
	}
	nsw := max(1, (len(items)+endpointsPerSwitch-1)/endpointsPerSwitch)
	cores := u.Site.Cores
	for range nsw {
		sw := g.device(u, NetworkSwitch, 0, 0)
		u.Switches = append(u.Switches, sw)
		// Two uplinks, one to each core, on the switch's first two uplink ports.
		connect(sw, cores[0], sw.Model.Ports+1)
		sw.Uplink2, sw.Uplink2Local = cores[1], uint16(sw.Model.Ports+2)
		sw.Port2 = cores[1].freePort()
		cores[1].sw.ports[sw.Port2-1] = sw
		sw.sw.ports[sw.UplinkLocal-1], sw.sw.ports[sw.Uplink2Local-1] = cores[0], cores[1]
	}
	var ups []*Device
	for j, it := range items {
		d := g.device(u, it.class, it.room, it.bed)
		connect(d, u.Switches[j/endpointsPerSwitch], 1)
		if d.Class == UPS {
			ups = append(ups, d)
		}
	}
	// UPSs in a unit feed its network rack: the access switches.
	for k, sw := range u.Switches {
		if len(ups) > 0 {
			sw.Power = ups[k%len(ups)]
		}
	}
	// HL7 devices report through one of the site's gateways: monitors through the
	// first (the monitoring vendor's), pumps and ventilators through the second.
	// Anaesthesia workstations talk to the anaesthesia record system directly.
	for _, d := range u.Devices {
		if d.Class.SpeaksHL7() && d.Class != HL7Gateway && d.Class != AnesthesiaMachine {
			d.Gateway = u.Site.Gateways[1]
			if d.Class == PatientMonitor {
				d.Gateway = u.Site.Gateways[0]
			}
		}
	}
}

// close gives the unit its address block, the smallest aligned power of two that
// holds its devices (Spacing apart) besides the network and broadcast addresses, and
// numbers the devices from its first host address. Units close in creation order, so
// the hospital's device list stays sorted by address.
func (g *generator) close(u *Unit) {
	sp := uint32(g.opts.Spacing)
	need := uint32(3)
	if n := uint32(len(u.Devices)); n > 0 {
		need = (n-1)*sp + 3
	}
	size := uint32(16)
	for size < need {
		size <<= 1
	}
	start := (g.next + size - 1) &^ (size - 1)
	for i, d := range u.Devices {
		d.ip = start + 1 + uint32(i)*sp
	}
	u.Prefix = netip.PrefixFrom(addr4(start), 32-bitsOf(size))
	g.next = start + size
}

func bitsOf(size uint32) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

// device creates one device with its identity in unit u.
func (g *generator) device(u *Unit, c Class, room, bed int) *Device {
	models := Catalogue[c]
	m := models[g.rng.IntN(len(models))]
	core := c == coreSwitch
	if core {
		c = NetworkSwitch
	}
	d := &Device{
		Index: int32(len(g.h.Devices)),
		Class: c, Model: m, Unit: u,
		Room: uint16(room), Bed: uint8(bed),
		fw:   uint8(g.rng.IntN(len(m.Firmware))),
		core: core,
	}
	// MAC: the vendor OUI and a per-OUI counter from a seed-derived offset, so MACs
	// are unique in the hospital and stable for the seed. Switches and APs take 64 in
	// a row (ports, radios).
	n, ok := g.macs[m.OUI]
	if !ok {
		n = uint32(hash64(g.opts.Seed, string(m.OUI[:])) & 0x7fffc0)
	}
	step := uint32(1)
	if c == NetworkSwitch || c == WirelessAP {
		n = (n + 63) &^ 63
		step = 64
	}
	g.macs[m.OUI] = n + step
	d.MAC = [6]byte{m.OUI[0], m.OUI[1], m.OUI[2], byte(n >> 16), byte(n >> 8), byte(n)}
	s, ok := g.sers[m]
	if !ok {
		s = hash64(g.opts.Seed, m.Name) % pow10(m.SerialDigits-1)
	}
	g.sers[m] = s + 1
	d.Serial = fmt.Sprintf("%s%0*d", m.SerialPrefix, m.SerialDigits, s%pow10(m.SerialDigits))
	count := 1
	for _, o := range u.Devices {
		if o.Class == c && o.core == core {
			count++
		}
	}
	if core {
		d.Name = fmt.Sprintf("%s-core%02d", u.Site.Code, count)
	} else {
		d.Name = fmt.Sprintf("%s-%s-%s%02d", u.Site.Code, u.Code, shortName[c], count)
	}
	// A device has been up for one to two hundred days when the simulation starts.
	d.upDays = uint16(1 + g.rng.IntN(200))
	d.boots0 = int32(1 + g.rng.IntN(20))
	if c == NetworkSwitch {
		d.sw = &switchData{ports: make([]*Device, m.Ports+m.Uplinks)}
	}
	u.Devices = append(u.Devices, d)
	g.h.Devices = append(g.h.Devices, d)
	g.h.byName[d.Name] = d
	return d
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

func hash64(seed uint64, s string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	putUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(s))
	return h.Sum64()
}

// connect plugs d's local port into the first free access port of sw.
func connect(d, sw *Device, local int) {
	port := sw.freePort()
	d.Uplink, d.Port, d.UplinkLocal = sw, port, uint16(local)
	sw.sw.ports[port-1] = d
}

// freePort returns the first free access port of a switch.
func (d *Device) freePort() uint16 {
	for i := range d.Model.Ports {
		if d.sw.ports[i] == nil {
			return uint16(i + 1)
		}
	}
	panic("devicesim: switch " + d.Name + " has no free port")
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
