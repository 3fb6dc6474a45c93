package assets

import (
	"context"
	"slices"
	"time"
)

// Expire marks channels whose observations ran out as expired; an asset with no valid
// channel becomes UNKNOWN (never DOWN: a silent collector is not a dead device).
func (s *Service) Expire(ctx context.Context) ([]Outcome, error) {
	return s.ExpireOwned(ctx, nil)
}

// ExpireOwned is Expire for the channels of the collectors owns accepts (nil: all).
// With several replicas, only the replica a collector reports to knows how fresh its
// channels are (refreshes are not written); the others leave them alone.
func (s *Service) ExpireOwned(ctx context.Context, owns func(collector string) bool) ([]Outcome, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.opts.Now()
	b := s.newBatch()
	b.now = now
	var outs []Outcome
	s.mu.RLock()
	var due []string
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
		if st := computeStatus(a, now); st != a.Status {
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
func (s *Service) compact() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := s.store.Compact(ctx)
	if err != nil {
		s.log.Warn("deleting replaced asset versions", "err", err)
		return
	}
	if n > 0 {
		s.log.Debug("deleted replaced asset versions", "count", n, "took", time.Since(start))
	}
}
