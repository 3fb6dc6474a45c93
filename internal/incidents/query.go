package incidents

import "strings"

// Filter selects incidents; empty fields match everything.
type Filter struct {
	State    State
	Priority Priority
	AssetID  string
	Site     string
	CareArea string
	// Open, when set, selects unresolved (true) or resolved (false) incidents.
	Open *bool
}

func (f *Filter) match(i *Incident) bool {
	switch {
	case f.State != "" && i.State != f.State,
		f.Priority != "" && i.Priority != f.Priority,
		f.AssetID != "" && i.AssetID != f.AssetID,
		f.Site != "" && !strings.EqualFold(i.Site, f.Site),
		f.CareArea != "" && !strings.EqualFold(i.CareArea, f.CareArea),
		f.Open != nil && i.Open() != *f.Open:
		return false
	}
	return true
}

// List returns matching incidents, newest first: the page [offset, offset+limit) and
// the total count.
func (e *Engine) List(f Filter, offset, limit int) ([]*Incident, int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var page []*Incident
	total := 0
	ids := e.order
	if f.AssetID != "" && f.Open != nil && *f.Open {
		// byAsset holds every incident holding its key, a superset of the open ones.
		ids = e.byAsset[f.AssetID]
	}
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
