package assets

import (
	"context"
	"slices"
	"strings"
)

// Filter selects assets; empty fields match everything.
type Filter struct {
	Class        Class
	Status       Status
	Site         string
	CareArea     string
	IP           string
	SerialNumber string
	// Search is a case-insensitive substring over names, identifiers and addresses.
	Search string
	// IncludeMerged also returns records merged into others.
	IncludeMerged bool
}

func (f *Filter) match(a *Asset) bool {
	if a.MergedInto != "" && !f.IncludeMerged {
		return false
	}
	if f.Class != "" && a.Class != f.Class {
		return false
	}
	if f.Status != "" && a.Status != f.Status {
		return false
	}
	if f.Site != "" && !strings.EqualFold(a.Site, f.Site) {
		return false
	}
	if f.CareArea != "" && !strings.EqualFold(a.Location.CareArea, f.CareArea) {
		return false
	}
	if f.IP != "" && !slices.Contains(a.IPAddresses, f.IP) {
		return false
	}
	if f.SerialNumber != "" && !strings.EqualFold(a.SerialNumber, f.SerialNumber) {
		return false
	}
	if f.Search != "" {
		q := strings.ToLower(f.Search)
		hay := []string{a.ID, a.Name, a.SysName, a.SerialNumber, a.Model, a.Manufacturer, a.EUI64, a.HL7App,
			a.Location.Unit, a.Location.Room}
		hay = append(hay, a.IPAddresses...)
		hay = append(hay, a.MACAddresses...)
		found := false
		for _, h := range hay {
			if h != "" && strings.Contains(strings.ToLower(h), q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Get returns a published asset by id, following merges to the surviving record.
func (s *Service) Get(id string) (*Asset, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.assets[id]
	for i := 0; ok && a.MergedInto != "" && i < 8; i++ {
		a, ok = s.assets[a.MergedInto]
	}
	return a, ok
}

// List returns the assets matching f in creation order: the page [offset, offset+limit)
// and the total count.
func (s *Service) List(f Filter, offset, limit int) ([]*Asset, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page []*Asset
	total := 0
	for _, id := range s.order {
		a := s.assets[id]
		if !f.match(a) {
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

// History returns up to first history entries of an asset, newest first, including the
// history of records merged into it.
func (s *Service) History(ctx context.Context, a *Asset, first int) ([]Change, error) {
	out, err := s.store.History(ctx, a.ID, a.HistoryCount, first)
	if err != nil {
		return nil, err
	}
	if len(a.MergedFrom) == 0 {
		return out, nil
	}
	for _, id := range a.MergedFrom {
		m, ok := s.getRaw(id)
		if !ok {
			continue
		}
		more, err := s.store.History(ctx, id, m.HistoryCount, first)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	sortChanges(out)
	if len(out) > first {
		out = out[:first]
	}
	return out, nil
}

func (s *Service) getRaw(id string) (*Asset, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.assets[id]
	return a, ok
}
