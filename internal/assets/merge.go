package assets

import (
	"context"
	"slices"
	"strings"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// matched is what identification found for an observation.
type matched struct {
	// id is the asset the strongest identifier points at ("" for a new device).
	id   string
	keys []key
	// same are other assets the observation proves to be the same device: records
	// to merge into one.
	same []string
}

// match finds the asset an observation is about (DESIGN §4): the strongest identifier
// that resolves to an asset not contradicting the observation's stronger identifiers.
//
// Other assets reached through the observation's identifiers are the same device,
// and get merged, when the proof is strong: a shared EUI-64, manufacturer+serial or
// MAC, or both the (site, sysName) and the (site, IP) of one SNMP agent. An IP alone
// or a name alone proves nothing (DHCP moves addresses; names get reused), and two
// records that disagree on an EUI-64 or a serial are never merged.
func (s *Service) match(b *batch, o *observation.Observation) matched {
	m := matched{keys: observationKeys(o)}
	hits := map[string][]Rank{}
	var order []string
	for _, k := range m.keys {
		id, ok := s.ix.lookup(k)
		if !ok {
			continue
		}
		a := b.get(id)
		if a == nil || a.MergedInto != "" || conflicts(o, a) || k.rank == RankIP && disagrees(o, a) {
			// A weaker hint (IP, name) pointing at another device: not this one.
			continue
		}
		if _, ok := hits[id]; !ok {
			order = append(order, id)
		}
		hits[id] = append(hits[id], k.rank)
	}
	if len(order) == 0 {
		return m
	}
	m.id = order[0]
	primary := b.get(m.id)
	for _, id := range order[1:] {
		ranks := hits[id]
		proof := slices.ContainsFunc(ranks, Rank.strong) ||
			(slices.Contains(ranks, RankSysName) && slices.Contains(ranks, RankIP))
		if proof && !recordsConflict(primary, b.get(id)) {
			m.same = append(m.same, id)
		}
	}
	return m
}

// disagrees reports whether an observation that shares only an address with an asset
// names it differently (sysName, HL7 application) or shows none of its MACs: then the
// address moved to another device (DHCP) rather than the device changing its name.
func disagrees(o *observation.Observation, a *Asset) bool {
	id := o.Identity
	if id.SysName != "" && a.SysName != "" && !strings.EqualFold(id.SysName, a.SysName) {
		return true
	}
	if id.HL7App != "" && a.HL7App != "" && !strings.EqualFold(id.HL7App, a.HL7App) {
		return true
	}
	if len(id.MACs) > 0 && len(a.MACAddresses) > 0 {
		for _, m := range id.MACs {
			if slices.Contains(a.MACAddresses, NormalizeMAC(m)) {
				return false
			}
		}
		return true
	}
	return false
}

// recordsConflict reports whether two records disagree on an identifier a device
// cannot change, so they cannot be one device.
func recordsConflict(a, b *Asset) bool {
	if a.EUI64 != "" && b.EUI64 != "" && a.EUI64 != b.EUI64 {
		return true
	}
	ka, kb := serialKey(a.Manufacturer, a.SerialNumber), serialKey(b.Manufacturer, b.SerialNumber)
	return ka != "" && kb != "" && ka != kb
}

// survivor follows merges from id to the record that now stands for the device.
func (s *Service) survivor(id string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for range 16 {
		a, ok := s.assets[id]
		if !ok || a.MergedInto == "" {
			return id
		}
		id = a.MergedInto
	}
	return id
}

// mergeAll merges the records in others with a. The record seen first survives, so
// the identity people have been using (and its asset tag) stays.
func (s *Service) mergeAll(ctx context.Context, b *batch, a *Asset, others []string, o *observation.Observation, requestID string) (*Asset, error) {
	all := []*Asset{a}
	for _, id := range others {
		all = append(all, b.get(id))
	}
	slices.SortStableFunc(all, func(x, y *Asset) int { return x.FirstSeenAt.Compare(y.FirstSeenAt) })
	into := all[0]
	for _, from := range all[1:] {
		if err := s.merge(ctx, b, into, from, Change{At: o.ObservedAt, Source: string(o.Source), Actor: o.Collector, RequestID: requestID}); err != nil {
			return nil, err
		}
	}
	return into, nil
}

// merge folds record from into record into: attributes by authority, addresses,
// channels and relations by union, and both histories into one time-ordered history
// of into. from is kept, marked MergedInto, with its own history intact.
func (s *Service) merge(ctx context.Context, b *batch, into, from *Asset, at Change) error {
	hist, err := s.allHistory(ctx, into)
	if err != nil {
		return err
	}
	more, err := s.allHistory(ctx, from)
	if err != nil {
		return err
	}
	hist = append(hist, more...)
	slices.SortStableFunc(hist, func(x, y Change) int { return x.At.Compare(y.At) })
	for i := range hist {
		hist[i].AssetID = into.ID
	}
	if err := s.rewriteHistory(ctx, into, hist); err != nil {
		return err
	}

	s.ix.remove(from)
	s.ix.remove(into)
	defer s.ix.add(into)
	chg := func(field, before, after string) {
		c := at
		c.Field, c.Before, c.After = field, before, after
		b.record(into, c)
	}
	chg("mergedFrom", "", from.ID)
	for _, f := range stringFields(into) {
		k := authorityKey(f.name)
		fromVal := *fieldOf(from, f.name)
		if fromVal == "" || fromVal == *f.p {
			continue
		}
		if *f.p == "" || from.Authority[k] > into.Authority[k] {
			chg(f.name, *f.p, fromVal)
			*f.p = fromVal
			into.Authority[k] = from.Authority[k]
		}
	}
	mergeBiomedDates(into, from, chg)
	if into.Class == ClassOther && from.Class != ClassOther || from.Authority["class"] > into.Authority["class"] && from.Class != into.Class {
		chg("class", string(into.Class), string(from.Class))
		into.Class = from.Class
		into.Authority["class"] = from.Authority["class"]
	}
	union := func(field string, list *[]string, add []string, sorted bool) {
		before := strings.Join(*list, ",")
		for _, v := range add {
			if !slices.Contains(*list, v) {
				*list = append(*list, v)
			}
		}
		if sorted {
			slices.Sort(*list)
		}
		if after := strings.Join(*list, ","); after != before {
			chg(field, before, after)
		}
	}
	union("ipAddresses", &into.IPAddresses, from.IPAddresses, false)
	union("macAddresses", &into.MACAddresses, from.MACAddresses, true)
	union("sources", &into.Sources, from.Sources, true)
	for _, ch := range from.Channels {
		mine := into.channel(ch.Collector, ch.Channel)
		switch {
		case mine == nil:
			into.Channels = append(into.Channels, cloneChannel(ch))
		case ch.ObservedAt.After(mine.ObservedAt):
			// The newer state wins; either record's observations may be replayed.
			newer := cloneChannel(ch)
			newer.absorbApplied(mine)
			*mine = *newer
		default:
			mine.absorbApplied(ch)
		}
	}
	before := formatRelations(into.Upstream)
	for _, r := range from.Upstream {
		if r.Target != into.ID && !slices.ContainsFunc(into.Upstream, func(x Relation) bool { return x.Kind == r.Kind && x.Target == r.Target }) {
			into.Upstream = append(into.Upstream, r)
		}
	}
	if after := formatRelations(into.Upstream); after != before {
		chg("upstream", before, after)
	}
	into.PendingUpstream = append(into.PendingUpstream, from.PendingUpstream...)
	if from.FirstSeenAt.Before(into.FirstSeenAt) {
		into.FirstSeenAt = from.FirstSeenAt
	}
	if from.LastSeenAt.After(into.LastSeenAt) {
		into.LastSeenAt = from.LastSeenAt
	}
	into.PatientConnected = into.PatientConnected || from.PatientConnected
	into.MergedFrom = append(into.MergedFrom, from.ID)
	into.MergedFrom = append(into.MergedFrom, from.MergedFrom...)

	from.MergedInto = into.ID
	c := at
	c.Field, c.After = "mergedInto", into.ID
	b.record(from, c)

	// Whatever depended on the merged record now depends on the survivor.
	for _, id := range s.Dependents(from.ID) {
		d := b.get(id)
		if d == nil || d.ID == into.ID {
			continue
		}
		before := formatRelations(d.Upstream)
		var ups []Relation
		for _, r := range d.Upstream {
			if r.Target == from.ID {
				r.Target = into.ID
			}
			if !slices.ContainsFunc(ups, func(x Relation) bool { return x.Kind == r.Kind && x.Target == r.Target }) {
				ups = append(ups, r)
			}
		}
		d.Upstream = ups
		c := at
		c.Field, c.Before, c.After = "upstream", before, formatRelations(ups)
		b.record(d, c)
	}
	return nil
}
