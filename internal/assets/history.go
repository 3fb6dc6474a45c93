package assets

import (
	"context"
	"slices"
	"time"
)

// History is field-level and append-only (DESIGN §5). Each asset's entries form one
// sequence numbered from 0 (the creation record). Full buckets of historyBucket entries
// are sealed into their own documents by insert and never rewritten; the newest
// entries ride in the asset document (HistoryTail), so recording a change costs no
// write beyond the asset's own. Only retention removes entries, and only event
// history (retention.go): it writes the kept entries as a new generation of buckets.

// Event history: entries that record something that happened rather than what a
// device is. They are what a trap storm multiplies, and the only entries retention
// removes (retention.go); creation records, identity, location, status and every other
// field change are kept for ever.
const (
	// FieldEvent records an EVENT observation (a trap, a reboot, an alarm).
	FieldEvent = "event"
	// FieldLate records a state observation that arrived after a newer one: kept, not
	// applied ("STATE condition").
	FieldLate = "late"
)

// IsEventHistory reports whether a history entry is event history.
func IsEventHistory(c Change) bool { return c.Field == FieldEvent || c.Field == FieldLate }

// History returns up to first entries of an asset's history, newest first. After a
// merge this includes the history of the records merged into it.
func (s *Service) History(ctx context.Context, a *Asset, first int) ([]Change, error) {
	return s.HistoryBefore(ctx, a, -1, first)
}

// HistoryBefore returns up to first entries with a sequence number below before
// (before < 0: from the newest), newest first. Each entry's Seq is the cursor of the
// next page.
func (s *Service) HistoryBefore(ctx context.Context, a *Asset, before, first int) ([]Change, error) {
	if before < 0 || before > a.HistoryCount {
		before = a.HistoryCount
	}
	sealed := a.HistorySealed * historyBucket
	out := make([]Change, 0, min(first, before))
	// The tail is in memory.
	for i := before - 1; i >= sealed && len(out) < first; i-- {
		c := a.HistoryTail[i-sealed]
		c.Seq = i
		out = append(out, c)
	}
	top := min(before, sealed)
	for b := (top - 1) / historyBucket; b >= 0 && top > 0 && len(out) < first; b-- {
		cs, err := s.store.Bucket(ctx, a.ID, a.HistoryGen, b)
		if err != nil {
			return nil, err
		}
		end := min(len(cs), top-b*historyBucket)
		for i := end - 1; i >= 0 && len(out) < first; i-- {
			c := cs[i]
			c.Seq = b*historyBucket + i
			out = append(out, c)
		}
	}
	return out, nil
}

// allHistory reads an asset's whole persisted history, oldest first.
func (s *Service) allHistory(ctx context.Context, a *Asset) ([]Change, error) {
	var out []Change
	for b := range a.HistorySealed {
		cs, err := s.store.Bucket(ctx, a.ID, a.HistoryGen, b)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return append(out, a.HistoryTail...), nil
}

// appendHistory adds changes to an asset's history and returns the buckets that
// filled up and must be sealed before the asset is saved.
func appendHistory(a *Asset, cs []Change) []bucketDoc {
	if len(cs) == 0 {
		return nil
	}
	if a.HistoryCount == 0 {
		a.EventsTracked = true // a new record: every event it gets passes here
	}
	for _, c := range cs {
		if a.EventsTracked && IsEventHistory(c) && (a.OldestEvent.IsZero() || c.At.Before(a.OldestEvent)) {
			a.OldestEvent = c.At
		}
	}
	a.HistoryTail = append(slices.Clip(a.HistoryTail), cs...)
	a.HistoryCount += len(cs)
	var sealed []bucketDoc
	for len(a.HistoryTail) >= historyBucket {
		sealed = append(sealed, bucketDoc{
			ID: bucketID(a.ID, a.HistoryGen, a.HistorySealed), AssetID: a.ID, Gen: a.HistoryGen,
			Bucket: a.HistorySealed, Changes: slices.Clone(a.HistoryTail[:historyBucket]),
		})
		a.HistorySealed++
		a.HistoryTail = slices.Clone(a.HistoryTail[historyBucket:])
	}
	return sealed
}

// rewriteHistory replaces an asset's history by entries (oldest first) as a new
// generation of buckets. The old generation stays where it was: if the asset is not
// saved in the end, nothing it points at has changed.
func (s *Service) rewriteHistory(ctx context.Context, a *Asset, entries []Change) error {
	a.HistoryGen++
	a.HistorySealed = 0
	a.HistoryCount = 0
	a.HistoryTail = nil
	a.OldestEvent = time.Time{}
	sealed := appendHistory(a, entries)
	if len(sealed) == 0 {
		return nil
	}
	return s.store.SealBuckets(ctx, sealed)
}
