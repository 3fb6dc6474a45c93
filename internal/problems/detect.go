package problems

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// group is the recent incidents of one key.
type group struct {
	key                  string
	scope                Scope
	assetID              string
	manufacturer, model  string
	window               time.Duration
	threshold, minAssets int
	list                 []*incidents.Incident // oldest first
}

func (g *group) assets() int {
	seen := map[string]bool{}
	for _, i := range g.list {
		seen[i.AssetID] = true
	}
	return len(seen)
}

// Detect brings the problems in step with the incidents opened within the policy's
// windows: open problems gain the new incidents of their key, and a key whose
// incidents reach the threshold opens a problem. Incidents suppressed as the
// consequence of an upstream failure are not the device's own, and do not count.
func (s *Service) Detect(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	pol := s.policy.Problems
	if pol.Asset.Threshold == 0 && pol.Model.Threshold == 0 {
		return nil
	}
	now := s.now()
	horizon := now.Add(-max(pol.Asset.Window, pol.Model.Window))
	all, _ := s.incidents.List(incidents.Filter{}, 0, 1<<31-1)
	groups := map[string]*group{}
	var keys []string
	addTo := func(g group, i *incidents.Incident) {
		if i.OpenedAt.Before(now.Add(-g.window)) {
			return
		}
		cur := groups[g.key]
		if cur == nil {
			cur = &g
			groups[g.key] = cur
			keys = append(keys, g.key)
		}
		cur.list = append(cur.list, i)
	}
	for k := len(all) - 1; k >= 0; k-- { // oldest first
		i := all[k]
		if i.OpenedAt.Before(horizon) || i.Suppressed || i.RootID != "" || !pol.Counts(i.Condition) {
			continue
		}
		if pol.Asset.Threshold > 0 {
			addTo(group{key: assetKey(i.AssetID), scope: ScopeAsset, assetID: i.AssetID,
				window: pol.Asset.Window, threshold: pol.Asset.Threshold}, i)
		}
		if a, ok := s.assets.Get(i.AssetID); ok && pol.Model.Threshold > 0 && norm(a.Manufacturer) != "" && norm(a.Model) != "" {
			addTo(group{key: modelKey(a.Manufacturer, a.Model), scope: ScopeModel, manufacturer: a.Manufacturer, model: a.Model,
				window: pol.Model.Window, threshold: pol.Model.Threshold, minAssets: pol.Model.MinAssets}, i)
		}
	}
	var errs []error
	for _, k := range keys {
		if err := s.step(ctx, groups[k], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// step applies one key's recent incidents (s.wmu held).
func (s *Service) step(ctx context.Context, g *group, now time.Time) error {
	s.mu.RLock()
	openID, isOpen := s.open[g.key]
	var closedAt time.Time
	taken := map[string]bool{} // linked to (or taken out of) a problem of this key
	for _, id := range s.order {
		p := s.all[id]
		if p.Key != g.key {
			continue
		}
		for _, x := range p.IncidentIDs {
			taken[x] = true
		}
		for _, x := range p.Unlinked {
			taken[x] = true
		}
		if p.ClosedAt != nil && p.ClosedAt.After(closedAt) {
			closedAt = *p.ClosedAt
		}
	}
	s.mu.RUnlock()
	if isOpen {
		cur, _ := s.Get(openID)
		var fresh []*incidents.Incident
		for _, i := range g.list {
			if !taken[i.ID] {
				fresh = append(fresh, i)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		p := cur.Clone()
		for _, i := range fresh {
			s.add(p, i)
		}
		p.Title = title(g, p, s)
		_, err := s.save(ctx, p, cur)
		return err
	}
	// A closed problem's incidents, and anything before its closing, are settled:
	// only a new recurrence opens a new problem.
	g.list = slices.DeleteFunc(g.list, func(i *incidents.Incident) bool { return taken[i.ID] || !i.OpenedAt.After(closedAt) })
	if len(g.list) < g.threshold || (g.scope == ScopeModel && g.assets() < g.minAssets) {
		return nil
	}
	number, err := s.nextNumber(ctx)
	if err != nil {
		return err
	}
	p := &Problem{ID: newID(now), Number: number, Key: g.key, Scope: g.scope, AssetID: g.assetID,
		Manufacturer: g.manufacturer, Model: g.model, State: StateOpen,
		OpenedAt: now.UTC(), OpenedBy: "rule:recurrence", Version: 1, UpdatedAt: now.UTC()}
	for _, i := range g.list {
		s.add(p, i)
	}
	p.Title = title(g, p, s)
	ok, err := s.insert(ctx, p)
	if err != nil || !ok {
		return err
	}
	s.log.Info("problem opened", "problem", p.Number, "key", p.Key, "incidents", p.Count, "assets", p.Assets)
	return nil
}

// title names the recurrence for a person scanning the problem list.
func title(g *group, p *Problem, s *Service) string {
	days := func(d time.Duration) string {
		if d%(24*time.Hour) == 0 {
			return fmt.Sprintf("%dd", d/(24*time.Hour))
		}
		return d.String()
	}
	if g.scope == ScopeModel {
		return fmt.Sprintf("Recurring failures of %s %s: %d incidents on %d devices within %s",
			strings.TrimSpace(g.manufacturer), strings.TrimSpace(g.model), p.Count, p.Assets, days(g.window))
	}
	name, where := g.assetID, ""
	if a, ok := s.assets.Get(g.assetID); ok {
		if a.Name != "" {
			name = a.Name
		}
		where = string(a.Class)
		if u := a.Location.Unit; u != "" {
			where += ", " + u
		} else if c := a.Location.CareArea; c != "" {
			where += ", " + c
		}
	}
	if where != "" {
		name += " (" + where + ")"
	}
	return fmt.Sprintf("Recurring failures of %s: %d incidents within %s", name, p.Count, days(g.window))
}
