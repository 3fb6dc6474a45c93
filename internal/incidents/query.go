package incidents

import (
	"cmp"
	"slices"
	"strings"
)

// Filter selects incidents; empty fields match everything.
type Filter struct {
	State    State
	Priority Priority
	AssetID  string
	Site     string
	CareArea string
	// Open, when set, selects unresolved (true) or resolved (false) incidents.
	Open *bool
	// Suppressed, when set, selects incidents suppressed by a root cause now (true) or
	// not (false: what someone has to act on).
	Suppressed *bool

	// Order is how List sorts; the zero value is OrderNewest.
	Order Order
	// After, with OrderPriority, starts the page with the first incident past this key
	// (a keyset cursor: incidents opened or resolved meanwhile shift no page).
	After *SortKey
}

func (f *Filter) match(i *Incident) bool {
	switch {
	case f.State != "" && i.State != f.State,
		f.Priority != "" && i.Priority != f.Priority,
		f.AssetID != "" && i.AssetID != f.AssetID,
		f.Site != "" && !strings.EqualFold(i.Site, f.Site),
		f.CareArea != "" && !strings.EqualFold(i.CareArea, f.CareArea),
		f.Open != nil && i.Open() != *f.Open,
		f.Suppressed != nil && i.Suppressed != *f.Suppressed:
		return false
	}
	return true
}

// Order is how List sorts incidents.
type Order int

const (
	// OrderNewest lists the most recently opened incident first.
	OrderNewest Order = iota
	// OrderPriority lists what needs doing first, as a NOC reads a queue: unresolved
	// incidents before resolved ones; unresolved by priority (P1 first), the one open
	// longest first within a priority (its SLA is due soonest); resolved ones after,
	// the most recently opened first (they are history). Ties go by id.
	OrderPriority
)

// SortKey is an incident's place in OrderPriority.
type SortKey struct {
	Resolved bool
	Rank     int   // 0 for P1 .. 4 for P5; 0 for every resolved incident
	At       int64 // opening time in Unix nanoseconds; negated for resolved incidents
	ID       string
}

// PriorityKey returns the incident's place in OrderPriority.
func PriorityKey(i *Incident) SortKey {
	if !i.Open() {
		return SortKey{Resolved: true, At: -i.OpenedAt.UnixNano(), ID: i.ID}
	}
	return SortKey{Rank: PriorityRank(i.Priority), At: i.OpenedAt.UnixNano(), ID: i.ID}
}

// Compare orders keys: negative when k comes before o.
func (k SortKey) Compare(o SortKey) int {
	if k.Resolved != o.Resolved {
		if k.Resolved {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(k.Rank, o.Rank), cmp.Compare(k.At, o.At), strings.Compare(k.ID, o.ID))
}

// List returns matching incidents in f.Order: the page [offset, offset+limit) (after
// f.After, when given) and the total count of matches.
func (e *Engine) List(f Filter, offset, limit int) ([]*Incident, int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ids := e.order
	if f.AssetID != "" && f.Open != nil && *f.Open {
		// byAsset holds every incident holding its key, a superset of the open ones.
		ids = e.byAsset[f.AssetID]
	}
	if f.Order == OrderPriority {
		if f.AssetID == "" && f.Open != nil && *f.Open {
			// The open index holds every unresolved incident (and the settling
			// ones, which the filter drops): the NOC's query walks only those.
			ids = make([]string, 0, len(e.open))
			for _, id := range e.open {
				ids = append(ids, id)
			}
		}
		return e.listByPriority(ids, f, offset, limit)
	}
	var page []*Incident
	total := 0
	for k := len(ids) - 1; k >= 0; k-- {
		i := e.all[ids[k]]
		if !f.match(i) {
			continue
		}
		if total >= offset && len(page) < limit {
			page = append(page, i)
		}
		total++
	}
	return page, total
}

// listByPriority returns a page in OrderPriority (e.mu held). Every match is keyed;
// only the first offset+limit are kept, in a bounded heap, so a page costs a scan of
// the matches whatever their number (bench: BenchmarkListByPriority).
func (e *Engine) listByPriority(ids []string, f Filter, offset, limit int) ([]*Incident, int) {
	want := offset + max(limit, 0)
	top := &keyHeap{}
	total := 0
	for _, id := range ids {
		i := e.all[id]
		if !f.match(i) {
			continue
		}
		total++
		k := PriorityKey(i)
		if f.After != nil && k.Compare(*f.After) <= 0 {
			continue
		}
		top.offer(keyed{k, i}, want)
	}
	sorted := top.sorted()
	if offset >= len(sorted) {
		return nil, total
	}
	page := make([]*Incident, 0, len(sorted)-offset)
	for _, m := range sorted[offset:] {
		page = append(page, m.i)
	}
	return page, total
}

type keyed struct {
	k SortKey
	i *Incident
}

// keyHeap keeps the n smallest keys offered: a max-heap, its largest key on top.
type keyHeap struct{ h []keyed }

func (t *keyHeap) offer(x keyed, n int) {
	switch {
	case n <= 0:
		return
	case len(t.h) < n:
		t.h = append(t.h, x)
		for c := len(t.h) - 1; c > 0; {
			p := (c - 1) / 2
			if t.h[p].k.Compare(t.h[c].k) >= 0 {
				break
			}
			t.h[p], t.h[c] = t.h[c], t.h[p]
			c = p
		}
	case x.k.Compare(t.h[0].k) < 0:
		t.h[0] = x
		for p := 0; ; {
			c := 2*p + 1
			if c >= len(t.h) {
				break
			}
			if c+1 < len(t.h) && t.h[c+1].k.Compare(t.h[c].k) > 0 {
				c++
			}
			if t.h[p].k.Compare(t.h[c].k) >= 0 {
				break
			}
			t.h[p], t.h[c] = t.h[c], t.h[p]
			p = c
		}
	}
}

func (t *keyHeap) sorted() []keyed {
	slices.SortFunc(t.h, func(a, b keyed) int { return a.k.Compare(b.k) })
	return t.h
}

// EachOpen calls fn for every open incident under the read lock; fn must be quick.
func (e *Engine) EachOpen(fn func(*Incident)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, id := range e.open {
		if i := e.all[id]; i.Open() {
			fn(i)
		}
	}
}

// Impact is what a root incident took down, counted by device and by incident: one
// device may have several incidents under one root (SNMP unreachable and HL7
// heartbeat lost, say), so the two counts differ. The root's own device is not among
// the devices it took down, though its other conditions count as incidents (a device
// down on SNMP is the root of its own lost HL7 heartbeat).
type Impact struct {
	// Devices are the other assets with an incident linked to the root (now or
	// before), in the order they were first linked.
	Devices []string
	// SuppressedDevices are the devices among them with an open incident suppressed
	// by the root now.
	SuppressedDevices int
	// Incidents counts the incidents linked to the root; SuppressedIncidents those
	// open and suppressed by it now.
	Incidents, SuppressedIncidents int
}

// Impact returns what the incident took down as a root cause.
func (e *Engine) Impact(id string) Impact {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var im Impact
	seen := map[string]bool{}
	now := map[string]bool{}
	if root := e.all[id]; root != nil {
		seen[root.AssetID], now[root.AssetID] = true, true
	}
	for _, cid := range e.linked[id] {
		c := e.all[cid]
		im.Incidents++
		if !seen[c.AssetID] {
			seen[c.AssetID] = true
			im.Devices = append(im.Devices, c.AssetID)
		}
		if c.Suppressed && c.SuppressedBy == id && c.Open() {
			im.SuppressedIncidents++
			if !now[c.AssetID] {
				now[c.AssetID] = true
				im.SuppressedDevices++
			}
		}
	}
	return im
}
