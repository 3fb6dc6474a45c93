package assets

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// RelationKind is how an asset depends on another.
type RelationKind string

// Relationship kinds (DESIGN §7 uses them for correlation).
const (
	RelConnectedTo    RelationKind = "CONNECTED_TO"    // switch port
	RelPoweredBy      RelationKind = "POWERED_BY"      // UPS
	RelReportsThrough RelationKind = "REPORTS_THROUGH" // HL7 gateway
	RelDependsOn      RelationKind = "DEPENDS_ON"      // anything else, e.g. the collector
)

// RelationKinds lists every kind.
var RelationKinds = []RelationKind{RelConnectedTo, RelPoweredBy, RelReportsThrough, RelDependsOn}

// Valid reports whether k is a known kind.
func (k RelationKind) Valid() bool { return slices.Contains(RelationKinds, k) }

// Relation sources that discovery never replaces.
const (
	RelSourceManual = "MANUAL"
	RelSourceImport = "IMPORT"
)

// Relation is an edge from an asset to one it depends on (its upstream).
type Relation struct {
	Kind   RelationKind `bson:"kind" json:"kind"`
	Target string       `bson:"target" json:"target"` // upstream asset id
	Port   string       `bson:"port,omitempty" json:"port,omitempty"`
	Source string       `bson:"source" json:"source"` // SNMP, HL7, MANUAL, IMPORT, ...
	Since  time.Time    `bson:"since" json:"since"`
}

// PendingRelation is a neighbour an observation named that matched no asset yet.
type PendingRelation struct {
	Kind    RelationKind `bson:"kind"`
	Site    string       `bson:"site,omitempty"`
	IP      string       `bson:"ip,omitempty"`
	MAC     string       `bson:"mac,omitempty"`
	SysName string       `bson:"sysName,omitempty"`
	HL7App  string       `bson:"hl7App,omitempty"`
	Port    string       `bson:"port,omitempty"`
	Source  string       `bson:"source"`
	Since   time.Time    `bson:"since"`
}

// Upstream returns the relations of an asset to what it depends on.
func (s *Service) Upstream(id string) []Relation {
	a, ok := s.Get(id)
	if !ok {
		return nil
	}
	return a.Upstream
}

// Dependents returns the ids of assets with a relation to id, in creation order.
func (s *Service) Dependents(id string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.dependents[id]...)
}

// indexRelations rebuilds the dependents of one asset's upstream edges (s.mu held).
func (s *Service) indexRelations(prev, cur *Asset) {
	if prev != nil {
		for _, r := range prev.Upstream {
			list := s.dependents[r.Target]
			for i, id := range list {
				if id == prev.ID {
					list = append(list[:i:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(s.dependents, r.Target)
			} else {
				s.dependents[r.Target] = list
			}
		}
		delete(s.pending, prev.ID)
	}
	if cur != nil && cur.MergedInto == "" {
		for _, r := range cur.Upstream {
			if !slices.Contains(s.dependents[r.Target], cur.ID) {
				s.dependents[r.Target] = append(s.dependents[r.Target], cur.ID)
			}
		}
		if len(cur.PendingUpstream) > 0 {
			s.pending[cur.ID] = true
		}
	}
}

// resolveNeighbor finds the asset a neighbour names, strongest identifier first.
func (s *Service) resolveNeighbor(site string, n PendingRelation) string {
	var keys []string
	if m := NormalizeMAC(n.MAC); m != "" {
		keys = append(keys, "mac:"+m)
	}
	if n.SysName != "" {
		keys = append(keys, "sysname:"+norm(site)+":"+norm(n.SysName))
	}
	if n.HL7App != "" {
		keys = append(keys, "hl7app:"+norm(site)+":"+norm(n.HL7App))
	}
	if n.IP != "" {
		keys = append(keys, "ip:"+norm(site)+":"+n.IP)
	}
	for _, k := range keys {
		if id, ok := s.ix.lookup(key{value: k}); ok {
			return id
		}
	}
	return ""
}

// applyNeighbors replaces the relations this source reported before by the ones the
// observation carries. Relations set by people, or reported by another source, stay.
func (s *Service) applyNeighbors(b *batch, a *Asset, o *observation.Observation, chg func(field, before, after string)) {
	src := strings.ToUpper(o.Source.Channel())
	var found []Relation
	var pending []PendingRelation
	for _, n := range o.Neighbors {
		kind := RelationKind(n.Kind)
		if !kind.Valid() {
			s.log.Debug("ignoring neighbour of unknown kind", "asset", a.ID, "kind", n.Kind)
			continue
		}
		p := PendingRelation{Kind: kind, Site: o.Site, IP: n.IP, MAC: n.MAC, SysName: n.SysName, HL7App: n.HL7App, Port: n.Port, Source: src, Since: o.ObservedAt}
		target := s.resolveNeighbor(o.Site, p)
		switch {
		case target == a.ID:
		case target == "":
			pending = append(pending, p)
		default:
			found = append(found, Relation{Kind: kind, Target: s.survivor(target), Port: n.Port, Source: src, Since: o.ObservedAt})
		}
	}
	before := formatRelations(a.Upstream)
	var ups []Relation
	for _, r := range a.Upstream {
		if r.Source != src {
			ups = append(ups, r)
		}
	}
	for _, r := range found {
		i := slices.IndexFunc(a.Upstream, func(x Relation) bool {
			return x.Source == src && x.Kind == r.Kind && x.Target == r.Target && x.Port == r.Port
		})
		if i >= 0 {
			r.Since = a.Upstream[i].Since
		}
		if !slices.ContainsFunc(ups, func(x Relation) bool { return x.Kind == r.Kind && x.Target == r.Target }) {
			ups = append(ups, r)
		}
	}
	a.Upstream = ups
	if after := formatRelations(ups); after != before {
		chg("upstream", before, after)
	}
	oldPending := len(a.PendingUpstream)
	a.PendingUpstream = slices.DeleteFunc(a.PendingUpstream, func(p PendingRelation) bool { return p.Source == src })
	a.PendingUpstream = append(a.PendingUpstream, pending...)
	if oldPending != 0 || len(pending) != 0 {
		b.persist[a.ID] = true
	}
}

// resolvePending turns pending neighbours into relations once their asset exists
// (wmu held; called at the end of a batch that created assets).
func (s *Service) resolvePending(b *batch) {
	s.mu.RLock()
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	for id, a := range b.work {
		if len(a.PendingUpstream) > 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		cur := b.get(id)
		if cur == nil || cur.MergedInto != "" || len(cur.PendingUpstream) == 0 {
			continue
		}
		var resolved []Relation
		var still []PendingRelation
		for _, p := range cur.PendingUpstream {
			t := s.resolveNeighbor(p.Site, p)
			if t == "" || t == cur.ID {
				still = append(still, p)
				continue
			}
			resolved = append(resolved, Relation{Kind: p.Kind, Target: t, Port: p.Port, Source: p.Source, Since: p.Since})
		}
		if len(resolved) == 0 {
			continue
		}
		before := formatRelations(cur.Upstream)
		for _, r := range resolved {
			if !slices.ContainsFunc(cur.Upstream, func(x Relation) bool { return x.Kind == r.Kind && x.Target == r.Target }) {
				cur.Upstream = append(cur.Upstream, r)
			}
		}
		cur.PendingUpstream = still
		b.record(cur, Change{At: b.now, Source: resolved[0].Source, Actor: "cmdb", Field: "upstream", Before: before, After: formatRelations(cur.Upstream)})
	}
}

// Relate adds (or replaces) a manual relation from asset id to target.
func (s *Service) Relate(ctx context.Context, id string, kind RelationKind, target, port, actor, requestID string) (*Asset, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("relation kind %q: %w (want one of %v)", kind, ErrInvalid, RelationKinds)
	}
	return s.edit(ctx, id, func(b *batch, a *Asset) error {
		t, ok := s.Get(target)
		if !ok {
			return fmt.Errorf("upstream asset %q: %w", target, ErrNotFound)
		}
		if t.ID == a.ID {
			return fmt.Errorf("asset %s cannot depend on itself: %w", a.ID, ErrInvalid)
		}
		if s.dependsOn(t.ID, a.ID) {
			return fmt.Errorf("asset %s already depends on %s: a relation back would make a cycle: %w", t.ID, a.ID, ErrInvalid)
		}
		before := formatRelations(a.Upstream)
		a.Upstream = slices.DeleteFunc(a.Upstream, func(r Relation) bool { return r.Kind == kind && r.Target == t.ID })
		a.Upstream = append(a.Upstream, Relation{Kind: kind, Target: t.ID, Port: port, Source: RelSourceManual, Since: b.now})
		b.record(a, Change{At: b.now, Source: RelSourceManual, Actor: actor, RequestID: requestID, Field: "upstream", Before: before, After: formatRelations(a.Upstream)})
		return nil
	})
}

// Unrelate removes the relations of kind from asset id to target, whoever set them.
// Discovery adds a discovered one back if the device still reports it.
func (s *Service) Unrelate(ctx context.Context, id string, kind RelationKind, target, actor, requestID string) (*Asset, error) {
	return s.edit(ctx, id, func(b *batch, a *Asset) error {
		target = s.survivor(target)
		before := formatRelations(a.Upstream)
		n := len(a.Upstream)
		a.Upstream = slices.DeleteFunc(slices.Clone(a.Upstream), func(r Relation) bool { return r.Kind == kind && r.Target == target })
		if len(a.Upstream) == n {
			return fmt.Errorf("asset %s has no %s relation to %s: %w", a.ID, kind, target, ErrNotFound)
		}
		b.record(a, Change{At: b.now, Source: RelSourceManual, Actor: actor, RequestID: requestID, Field: "upstream", Before: before, After: formatRelations(a.Upstream)})
		return nil
	})
}

// dependsOn reports whether from reaches to through upstream relations.
func (s *Service) dependsOn(from, to string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id == to {
			return true
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if a, ok := s.assets[id]; ok {
			for _, r := range a.Upstream {
				stack = append(stack, r.Target)
			}
		}
	}
	return false
}
