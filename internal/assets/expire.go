package assets

import (
	"context"
	"slices"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Expire marks channels whose observations ran out as expired; an asset with no valid
// channel becomes UNKNOWN (never DOWN: a silent collector is not a dead device). With
// several replicas, only channels of collectors this replica owns are judged (see
// SetOwnership).
func (s *Service) Expire(ctx context.Context) ([]Outcome, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.opts.Now()
	b := s.newBatch()
	b.now = now
	var outs []Outcome
	s.mu.RLock()
	var due []string
	owns := s.owner()
	expiring := func(ch *Channel) bool {
		return !ch.Expired && ch.ValidUntil.Before(now) && (owns == nil || owns(ch.Collector))
	}
	for _, id := range s.order {
		if slices.ContainsFunc(s.assets[id].Channels, expiring) {
			due = append(due, id)
		}
	}
	s.mu.RUnlock()
	for _, id := range due {
		a := b.get(id)
		for _, ch := range a.Channels {
			if expiring(ch) {
				ch.Expired = true
			}
		}
		b.persist[id] = true
		out := Outcome{Asset: a, StatusBefore: a.Status}
		if st := computeStatus(a, now, s.statusRule()); st != a.Status {
			b.record(a, Change{At: now, Source: "EXPIRY", Actor: "cmdb", Field: "status", Before: string(a.Status), After: string(st)})
			a.Status = st
		}
		outs = append(outs, out)
	}
	if len(due) == 0 {
		return nil, nil
	}
	if err := s.persist(ctx, b); err != nil {
		return nil, err
	}
	s.publish(b)
	for i := range outs {
		outs[i].Asset = s.assets[outs[i].Asset.ID]
	}
	return outs, nil
}

// compact deletes replaced asset versions in the background (embedded store).
func (s *Service) compact(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, 10*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := s.store.Compact(ctx)
	if err != nil {
		if parent.Err() == nil {
			s.log.Warn("deleting replaced asset versions", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Debug("deleted replaced asset versions", "count", n, "took", time.Since(start))
	}
}

// SetOwnership says which collectors' channels this replica judges (expires, and
// counts as stale once their validity passed). Only the replica a collector reports
// to knows how fresh its channels are: refreshes are not written, so another
// replica's copy of a channel's validity is old. nil (the default) judges all, which
// is right for a single replica.
func (s *Service) SetOwnership(owns func(collector string) bool) {
	s.ownsMu.Lock()
	s.owns = owns
	s.ownsMu.Unlock()
}

func (s *Service) owner() func(string) bool {
	s.ownsMu.RLock()
	defer s.ownsMu.RUnlock()
	return s.owns
}

// statusRule is what an asset's status is derived with: the collectors whose
// channels this replica judges, and the definition of conditions in force.
type statusRule struct {
	owns  func(collector string) bool // nil: every collector
	conds *observation.Registry
}

func (s *Service) statusRule() statusRule {
	return statusRule{owns: s.owner(), conds: s.conds}
}
