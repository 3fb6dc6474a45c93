package assets

import (
	"context"
	"time"
)

// Several cmdb replicas on one MongoDB each keep the working set in memory; the
// change feed keeps those copies in step. MongoDB change streams are not available on
// FerretDB, so a replica polls: every write stamps updatedAt (indexed on MongoDB), and
// Refresh reads what was written since its last poll, minus an overlap that covers
// clock skew between replicas and writes still in flight when the poll ran. A record
// already held at the same or a newer version is skipped, so the overlap costs reads,
// never a step back.

// Refresh swaps into the working set the assets other replicas wrote since the last
// call and returns them as outcomes, for the incident engine. On the embedded store
// (one writer) it reads nothing.
func (s *Service) Refresh(ctx context.Context) ([]Outcome, error) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	start := s.opts.Now()
	since := s.feedFrom
	if since.IsZero() {
		since = s.loadedAt
	}
	list, err := s.store.ChangedSince(ctx, since.Add(-s.opts.FeedOverlap))
	if err != nil {
		return nil, err
	}
	s.feedFrom = start
	if len(list) == 0 {
		return nil, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var outs []Outcome
	for _, a := range list {
		cur, _ := s.getRaw(a.ID)
		if cur != nil && a.Version <= cur.Version {
			continue
		}
		out := Outcome{Asset: a, Created: cur == nil}
		var before []string
		if cur != nil {
			out.StatusBefore = cur.Status
			before = cur.ActiveConditions()
			keepValidity(a, cur)
		}
		out.Raised, out.Cleared = diff(before, a.ActiveConditions())
		s.adopt(a)
		outs = append(outs, out)
	}
	return outs, nil
}

// keepValidity carries over the validity this replica knows for a channel when it is
// later than the stored one: refreshes are not written (DESIGN §1), so the replica the
// collector reports to knows more than the store. A channel the writer expired stays
// expired.
func keepValidity(a, cur *Asset) {
	for _, ch := range a.Channels {
		if ch.Expired {
			continue
		}
		if old := cur.channel(ch.Collector, ch.Channel); old != nil && !old.Expired && old.ValidUntil.After(ch.ValidUntil) {
			ch.ValidUntil = old.ValidUntil
		}
	}
}

// feedState is the change feed's position; see Refresh.
type feedState struct {
	feedFrom time.Time
	loadedAt time.Time
}
