package assets

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Retention of event history (issue 16). Every trap, reboot or alarm a device reports
// is a history entry (FieldEvent, FieldLate); a chatty device adds them for ever. The
// retention job removes those older than retention.asset_events and keeps every other
// entry: the creation record, identity, location, status and every field change.
//
// Sealed buckets are never updated, so an asset's history is pruned by writing the
// entries it keeps as a new generation of buckets, saving the asset, and then deleting
// the old generation. That costs a read of the whole history, so an asset is pruned
// only once its oldest event is older than the cutoff by a slack (a tenth of the
// retention): a device that sends events all the time is rewritten once per slack,
// and keeps at most retention + slack of them.

// PruneStats says what a retention pass removed.
type PruneStats struct {
	Assets  int   // assets whose history was rewritten
	Entries int   // event entries removed
	Buckets int64 // sealed bucket documents deleted
}

// PruneEvents removes the event history older than before from every asset whose
// oldest event is older than before-slack, and reads once the history of records
// written before events were tracked. It stops early, without error, when ctx ends;
// what it did so far stays done.
func (s *Service) PruneEvents(ctx context.Context, before time.Time, slack time.Duration) (PruneStats, error) {
	type cand struct {
		id     string
		oldest time.Time
	}
	var list []cand
	due := before.Add(-slack)
	s.mu.RLock()
	for id, a := range s.assets {
		if !a.EventsTracked && a.HistoryCount > 0 || !a.OldestEvent.IsZero() && a.OldestEvent.Before(due) {
			list = append(list, cand{id, a.OldestEvent})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(x, y cand) int { return x.oldest.Compare(y.oldest) })
	var st PruneStats
	for _, c := range list {
		if ctx.Err() != nil {
			break
		}
		removed, buckets, err := s.pruneOne(ctx, c.id, before)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return st, err
		}
		if removed > 0 {
			st.Assets++
			st.Entries += removed
			st.Buckets += buckets
		}
	}
	if st.Assets > 0 {
		s.log.Info("retention removed event history", "assets", st.Assets, "entries", st.Entries, "buckets", st.Buckets, "before", before.UTC().Format(time.RFC3339))
	}
	return st, nil
}

// pruneOne rewrites one asset's history without its events older than before.
func (s *Service) pruneOne(ctx context.Context, id string, before time.Time) (removed int, buckets int64, err error) {
	cur, ok := s.getRaw(id)
	if !ok {
		return 0, 0, nil
	}
	// Read outside the writers' lock; written only if the asset did not change since.
	hist, err := s.store.wholeHistory(ctx, cur)
	if err != nil {
		return 0, 0, err
	}
	var oldest time.Time
	kept := hist[:0:0]
	for _, c := range hist {
		if IsEventHistory(c) {
			if c.At.Before(before) {
				continue
			}
			if oldest.IsZero() || c.At.Before(oldest) {
				oldest = c.At
			}
		}
		kept = append(kept, c)
	}
	removed = len(hist) - len(kept)

	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.newBatch()
	a := b.get(id)
	if a == nil || a.Version != cur.Version {
		return 0, 0, nil // changed meanwhile: the next pass sees it
	}
	oldGen := a.HistoryGen
	if removed > 0 {
		if err := s.rewriteHistory(ctx, a, kept); err != nil {
			return 0, 0, err
		}
	}
	if a.EventsTracked && a.OldestEvent.Equal(oldest) && removed == 0 {
		return 0, 0, nil
	}
	a.EventsTracked, a.OldestEvent = true, oldest
	b.persist[id] = true
	if err := s.persist(ctx, b); err != nil {
		s.rebuildIndex()
		return 0, 0, err
	}
	s.publish(b)
	if removed == 0 {
		return 0, 0, nil
	}
	buckets, err = s.store.dropGenerations(ctx, id, a.HistoryGen)
	if err != nil {
		// The asset no longer points at them: left over, never read.
		s.log.Warn("deleting replaced history buckets", "asset", id, "generation", oldGen, "err", err)
	}
	return removed, buckets, nil
}

// wholeHistory reads an asset's whole history, oldest first, with one query for its sealed
// buckets (a range of _id: MongoDB reads it from the index; the embedded store scans
// the asset's partition once rather than once per bucket). A bucket missing is an
// error: a rewrite would lose it for good.
func (s *Store) wholeHistory(ctx context.Context, a *Asset) ([]Change, error) {
	var out []Change
	if a.HistorySealed > 0 {
		filter := bson.M{"_id": bson.M{"$gte": a.ID + "#", "$lt": a.ID + "$"}, "assetId": a.ID, "gen": a.HistoryGen}
		cur, err := s.history.For(a.ID).Find(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("reading history of %s: %w", a.ID, err)
		}
		var docs []bucketDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("reading history of %s: %w", a.ID, err)
		}
		slices.SortFunc(docs, func(x, y bucketDoc) int { return x.Bucket - y.Bucket })
		for i, d := range docs {
			if d.Bucket != i || len(d.Changes) != historyBucket {
				return nil, fmt.Errorf("history of %s: bucket %d of generation %d is missing or short", a.ID, i, a.HistoryGen)
			}
			out = append(out, d.Changes...)
		}
		if len(docs) != a.HistorySealed {
			return nil, fmt.Errorf("history of %s: %d sealed buckets, %d found", a.ID, a.HistorySealed, len(docs))
		}
	}
	return append(out, a.HistoryTail...), nil
}

// dropGenerations deletes the sealed buckets of an asset's history generations before
// gen (replaced by a prune or a merge).
func (s *Store) dropGenerations(ctx context.Context, assetID string, gen int) (int64, error) {
	filter := bson.M{"_id": bson.M{"$gte": assetID + "#", "$lt": assetID + "$"}, "assetId": assetID, "gen": bson.M{"$lt": gen}}
	res, err := s.history.For(assetID).DeleteMany(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("deleting old history of %s: %w", assetID, err)
	}
	return res.DeletedCount, nil
}
