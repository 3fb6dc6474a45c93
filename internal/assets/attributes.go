package assets

import (
	"slices"
	"strings"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// authorities returns the authority an observation's source has for system-group
// style attributes, for inventory attributes (serial, model, firmware), and for
// locations.
func authorities(src observation.Source) (system, inventory, location Authority) {
	switch src {
	case observation.SourceHL7:
		return AuthHL7, AuthHL7, AuthHL7
	case observation.SourceImport:
		return AuthImport, AuthImport, AuthImport
	default:
		return AuthSNMPSystem, AuthSNMPEntity, AuthRange
	}
}

// setField sets one attribute if the source is at least as authoritative as the one
// that set it last, and records the change.
func setField(a *Asset, field string, cur *string, val string, auth Authority, chg func(field, before, after string)) {
	k := authorityKey(field)
	if val == "" || *cur == val {
		if val != "" && auth > a.Authority[k] {
			a.Authority[k] = auth
		}
		return
	}
	if a.Authority[k] > auth {
		return
	}
	chg(field, *cur, val)
	*cur = val
	a.Authority[k] = auth
}

// authorityKey is the Authority map key of a field name.
func authorityKey(field string) string { return strings.ReplaceAll(field, ".", "_") }

// applyIdentity merges an observation's identity, address and location into the asset.
func (s *Service) applyIdentity(b *batch, a *Asset, o *observation.Observation, chg func(field, before, after string)) {
	sys, inv, loc := authorities(o.Source)
	id := o.Identity
	src := strings.ToUpper(o.Source.Channel())
	if !slices.Contains(a.Sources, src) {
		a.Sources = append(a.Sources, src)
		slices.Sort(a.Sources)
		b.persist[a.ID] = true
	}
	s.ix.remove(a)
	defer s.ix.add(a)

	setField(a, "sysName", &a.SysName, id.SysName, sys, chg)
	setField(a, "sysDescr", &a.SysDescr, id.SysDescr, sys, chg)
	setField(a, "sysObjectID", &a.SysObjectID, id.SysObjectID, sys, chg)
	setField(a, "manufacturer", &a.Manufacturer, id.Manufacturer, inv, chg)
	setField(a, "model", &a.Model, id.Model, inv, chg)
	setField(a, "serialNumber", &a.SerialNumber, id.Serial, inv, chg)
	setField(a, "firmwareVersion", &a.FirmwareVersion, id.Firmware, inv, chg)
	setField(a, "softwareVersion", &a.SoftwareVersion, id.Software, inv, chg)
	setField(a, "eui64", &a.EUI64, NormalizeEUI64(id.EUI64), inv, chg)
	setField(a, "hl7App", &a.HL7App, id.HL7App, sys, chg)
	setField(a, "mdcCode", &a.MDCCode, id.MDCCode, inv, chg)
	if c := Class(id.Class); c.Valid() && c != ClassOther {
		classAuth := AuthInferred
		if o.Source == observation.SourceHL7 || o.Source == observation.SourceImport {
			classAuth = inv
		}
		cur := string(a.Class)
		setField(a, "class", &cur, string(c), classAuth, chg)
		a.Class = Class(cur)
	}
	setField(a, "name", &a.Name, displayName(a), AuthInferred, chg)
	setField(a, "site", &a.Site, o.Site, loc, chg)

	if o.Location != nil {
		l := o.Location
		setField(a, "sysLocation", &a.SysLocation, l.Raw, sys, chg)
		setField(a, "location.building", &a.Location.Building, l.Building, loc, chg)
		setField(a, "location.floor", &a.Location.Floor, l.Floor, loc, chg)
		setField(a, "location.unit", &a.Location.Unit, l.Unit, loc, chg)
		setField(a, "location.careArea", &a.Location.CareArea, l.CareArea, loc, chg)
		setField(a, "location.room", &a.Location.Room, l.Room, loc, chg)
		setField(a, "location.bed", &a.Location.Bed, l.Bed, loc, chg)
		// A structured sysLocation ("building=Tower A; room=312") fills what the
		// range or point of care did not say, at the weaker system-group authority.
		if p := ParseSysLocation(l.Raw); !p.IsZero() {
			setField(a, "location.building", &a.Location.Building, p.Building, sys, chg)
			setField(a, "location.floor", &a.Location.Floor, p.Floor, sys, chg)
			setField(a, "location.unit", &a.Location.Unit, p.Unit, sys, chg)
			setField(a, "location.careArea", &a.Location.CareArea, p.CareArea, sys, chg)
			setField(a, "location.room", &a.Location.Room, p.Room, sys, chg)
			setField(a, "location.bed", &a.Location.Bed, p.Bed, sys, chg)
		}
	}

	if o.Address != nil && o.Address.IP != "" && !slices.Contains(a.IPAddresses, o.Address.IP) {
		s.takeAway(b, a, "ip:"+norm(o.Site)+":"+o.Address.IP, "ipAddresses", o.Address.IP, o, chg)
		before := strings.Join(a.IPAddresses, ",")
		// A device answers SNMP on one management address per collector; keep the one
		// it answered on most recently first.
		a.IPAddresses = append([]string{o.Address.IP}, a.IPAddresses...)
		if len(a.IPAddresses) > 8 {
			a.IPAddresses = a.IPAddresses[:8]
		}
		chg("ipAddresses", before, strings.Join(a.IPAddresses, ","))
	}
	var reported []string
	for _, m := range id.MACs {
		if n := NormalizeMAC(m); n != "" && !slices.Contains(reported, n) {
			reported = append(reported, n)
		}
	}
	if len(reported) > 0 {
		for _, n := range reported {
			if !slices.Contains(a.MACAddresses, n) {
				s.takeAway(b, a, "mac:"+n, "macAddresses", n, o, chg)
			}
		}
		before := strings.Join(a.MACAddresses, ",")
		// An SNMP agent reports every interface it has: a MAC it no longer reports
		// went with a swapped NIC. Other sources name one address and prove nothing
		// about the rest; MACs a person set stay.
		next := slices.Clone(reported)
		if o.Source.Channel() != "snmp" || a.Authority["macAddresses"] > inv {
			next = append(next, a.MACAddresses...)
		}
		slices.Sort(next)
		next = slices.Compact(next)
		if after := strings.Join(next, ","); after != before {
			a.MACAddresses = next
			chg("macAddresses", before, after)
		}
	}
}

// takeAway removes an address from the asset that held it before, because it now
// belongs to a (DHCP reuse, NIC swap). Both sides keep a history record.
func (s *Service) takeAway(b *batch, a *Asset, k, field, value string, o *observation.Observation, _ func(string, string, string)) {
	other, ok := s.ix.lookup(key{value: k})
	if !ok || other == a.ID {
		return
	}
	prev := b.get(other)
	if prev == nil {
		return
	}
	s.ix.remove(prev)
	defer s.ix.add(prev)
	var list *[]string
	if field == "ipAddresses" {
		list = &prev.IPAddresses
	} else {
		list = &prev.MACAddresses
	}
	before := strings.Join(*list, ",")
	*list = slices.DeleteFunc(*list, func(v string) bool { return v == value })
	b.record(prev, Change{At: o.ObservedAt, Source: string(o.Source), Actor: o.Collector, Field: field,
		Before: before, After: strings.Join(*list, ",")})
}

// displayName picks a human name: sysName, else model and serial, else HL7 app.
func displayName(a *Asset) string {
	switch {
	case a.SysName != "":
		return a.SysName
	case a.Model != "" && a.SerialNumber != "":
		return a.Model + " " + a.SerialNumber
	case a.HL7App != "":
		return a.HL7App
	case a.EUI64 != "":
		return a.EUI64
	case len(a.IPAddresses) > 0:
		return a.IPAddresses[0]
	}
	return a.Name
}
