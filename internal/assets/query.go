package assets

import (
	"slices"
	"strings"
	"time"
)

// Filter selects assets; empty fields match everything, except that the records of
// collectors (ClassCollector) match only a filter on that class.
type Filter struct {
	Class        Class
	Status       Status
	Site         string
	CareArea     string
	Building     string
	Unit         string
	IP           string
	SerialNumber string
	AssetTag     string
	Owner        string
	SupportGroup string
	// Search is a case-insensitive substring over names, identifiers and addresses.
	Search string
	// PMOverdue selects assets whose planned maintenance is overdue (true) or not.
	PMOverdue *bool
	// Recalled selects assets that a recall concerns (true) or not.
	Recalled *bool
	// IncludeMerged also returns records merged into others.
	IncludeMerged bool
}

// matcher evaluates a filter with what it needs of the service (s.mu held).
type matcher struct {
	f       *Filter
	now     time.Time
	recalls []*Recall
	search  string
}

func (s *Service) matcher(f *Filter) *matcher {
	return &matcher{f: f, now: s.opts.Now(), recalls: s.recalls, search: strings.ToLower(strings.TrimSpace(f.Search))}
}

func eq(filter, v string) bool {
	return filter == "" || strings.EqualFold(strings.TrimSpace(filter), v)
}

func (m *matcher) match(a *Asset) bool {
	f := m.f
	if a.MergedInto != "" && !f.IncludeMerged {
		return false
	}
	if f.Class != "" && a.Class != f.Class || f.Status != "" && a.Status != f.Status {
		return false
	}
	// Collectors' own records are listed only when asked for: "assets" are devices.
	if a.Class == ClassCollector && f.Class != ClassCollector {
		return false
	}
	if !eq(f.Site, a.Site) || !eq(f.CareArea, a.Location.CareArea) || !eq(f.Building, a.Location.Building) ||
		!eq(f.Unit, a.Location.Unit) || !eq(f.SerialNumber, a.SerialNumber) || !eq(f.AssetTag, a.Biomed.AssetTag) ||
		!eq(f.Owner, a.Biomed.Owner) || !eq(f.SupportGroup, a.Biomed.SupportGroup) {
		return false
	}
	if f.IP != "" && !slices.Contains(a.IPAddresses, strings.TrimSpace(f.IP)) {
		return false
	}
	if f.PMOverdue != nil && a.PMOverdue(m.now) != *f.PMOverdue {
		return false
	}
	if f.Recalled != nil {
		hit := a.Manufacturer != "" && a.Model != "" &&
			slices.ContainsFunc(m.recalls, func(r *Recall) bool { return r.matches(a.Manufacturer, a.Model) })
		if hit != *f.Recalled {
			return false
		}
	}
	if m.search != "" && !m.searchHit(a) {
		return false
	}
	return true
}

func (m *matcher) searchHit(a *Asset) bool {
	hay := []string{a.ID, a.Name, a.SysName, a.SerialNumber, a.Model, a.Manufacturer, a.EUI64, a.HL7App,
		a.Location.Unit, a.Location.Room, a.Biomed.AssetTag, a.Biomed.Owner}
	hay = append(hay, a.IPAddresses...)
	hay = append(hay, a.MACAddresses...)
	for _, h := range hay {
		if h != "" && strings.Contains(strings.ToLower(h), m.search) {
			return true
		}
	}
	return false
}

// Get returns a published asset by id, following merges to the surviving record.
func (s *Service) Get(id string) (*Asset, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.assets[id]
	for i := 0; ok && a.MergedInto != "" && i < 16; i++ {
		a, ok = s.assets[a.MergedInto]
	}
	return a, ok
}

// List returns the assets matching f in creation order: the page [offset, offset+limit)
// and the total count. It reads the in-memory working set only.
func (s *Service) List(f Filter, offset, limit int) ([]*Asset, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.matcher(&f)
	var page []*Asset
	total := 0
	for _, id := range s.order {
		a := s.assets[id]
		if !m.match(a) {
			continue
		}
		if total >= offset && len(page) < limit {
			page = append(page, a)
		}
		total++
	}
	return page, total
}

// Each calls fn for every current (not merged) asset, under the read lock: fn must be
// quick and must not call back into the service.
func (s *Service) Each(fn func(*Asset)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range s.order {
		if a := s.assets[id]; a.MergedInto == "" {
			fn(a)
		}
	}
}

// Count returns the number of current assets.
func (s *Service) Count() int {
	n := 0
	s.Each(func(*Asset) { n++ })
	return n
}

func (s *Service) getRaw(id string) (*Asset, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.assets[id]
	return a, ok
}

// GroupBy names a dimension of the health summary.
type GroupBy string

// Health summary dimensions.
const (
	BySite     GroupBy = "SITE"
	ByCareArea GroupBy = "CARE_AREA"
	ByClass    GroupBy = "CLASS"
)

// HealthGroup counts the assets of one group by status.
type HealthGroup struct {
	Site     string
	CareArea string
	Class    Class
	Total    int
	Counts   map[Status]int
}

// Health counts the assets matching f by status, grouped by the given dimensions
// (all three when none), largest groups first.
func (s *Service) Health(f Filter, by []GroupBy) []HealthGroup {
	if len(by) == 0 {
		by = []GroupBy{BySite, ByCareArea, ByClass}
	}
	site, area, class := slices.Contains(by, BySite), slices.Contains(by, ByCareArea), slices.Contains(by, ByClass)
	type gk struct {
		site, area string
		class      Class
	}
	groups := map[gk]*HealthGroup{}
	s.mu.RLock()
	m := s.matcher(&f)
	for _, id := range s.order {
		a := s.assets[id]
		if !m.match(a) {
			continue
		}
		var k gk
		if site {
			k.site = a.Site
		}
		if area {
			k.area = a.Location.CareArea
		}
		if class {
			k.class = a.Class
		}
		g := groups[k]
		if g == nil {
			g = &HealthGroup{Site: k.site, CareArea: k.area, Class: k.class, Counts: map[Status]int{}}
			groups[k] = g
		}
		g.Total++
		g.Counts[a.Status]++
	}
	s.mu.RUnlock()
	out := make([]HealthGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b HealthGroup) int {
		if a.Total != b.Total {
			return b.Total - a.Total
		}
		return strings.Compare(a.Site+"\x00"+a.CareArea+"\x00"+string(a.Class), b.Site+"\x00"+b.CareArea+"\x00"+string(b.Class))
	})
	return out
}
