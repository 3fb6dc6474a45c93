package assets

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// On the embedded store (FerretDB v1.24 over SQLite) an update or a find by _id makes
// SQLite parse the JSON of every row of the table, twice for an update: measured 50-70
// ms per asset write at 5,000 assets on this machine, so a batch of 1,000 state
// changes took about a minute. An insert costs the same whatever the table size (its
// unique index is used). So there, assets are written append-only: each write inserts
// the asset's next version as its own document (_id "<asset id>@<version>"), all of an
// asset's versions living in the same partition; loading keeps the highest version;
// the versions a write replaced are deleted in the background, many per statement.
// Reads never go to the store (the working set is in memory), so the stale versions
// cost nothing but disk until they go. MongoDB keeps plain versioned replaces.

// versionDoc is one stored version of an asset.
type versionDoc struct {
	ID    string `bson:"_id"`
	Asset *Asset `bson:"asset"`
}

func versionID(assetID string, v int64) string {
	return assetID + "@" + fmt.Sprintf("%012d", v)
}

// versionGC holds the ids of replaced versions awaiting deletion.
type versionGC struct {
	mu      sync.Mutex
	stale   []string
	running bool
}

// writeVersions inserts the next version of each asset (prev: its stored version).
func (s *Store) writeVersions(ctx context.Context, list []*Asset, prev []int64) error {
	byCol := map[*mongo.Collection][]any{}
	var order []*mongo.Collection
	for _, a := range list {
		c := s.versions.For(a.ID)
		if _, ok := byCol[c]; !ok {
			order = append(order, c)
		}
		byCol[c] = append(byCol[c], versionDoc{ID: versionID(a.ID, a.Version), Asset: a})
	}
	for _, c := range order {
		docs := byCol[c]
		_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if err != nil && !store.IsDuplicateKey(err) {
			return fmt.Errorf("writing %d asset versions: %w", len(docs), err)
		}
		if err != nil && !s.singleWriter {
			// Another replica wrote this version of the asset first.
			return fmt.Errorf("writing %d asset versions: %w", len(docs), ErrConflict)
		}
		if err != nil {
			// A version written by an attempt that failed later (nothing was published):
			// this write supersedes it.
			for _, d := range docs {
				v := d.(versionDoc)
				if _, err := c.ReplaceOne(ctx, bson.M{"_id": v.ID}, v, options.Replace().SetUpsert(true)); err != nil {
					return fmt.Errorf("writing asset version %s: %w", v.ID, err)
				}
			}
		}
	}
	s.gc.mu.Lock()
	for i, a := range list {
		if prev[i] > 0 {
			s.gc.stale = append(s.gc.stale, versionID(a.ID, prev[i]))
		}
	}
	s.gc.mu.Unlock()
	return nil
}

// loadVersions reads the newest version of every asset (or of one).
func (s *Store) loadVersions(ctx context.Context, only *string) ([]*Asset, error) {
	latest := map[string]*Asset{}
	var stale []string
	keep := func(v versionDoc) error {
		a := v.Asset
		if a == nil {
			return nil
		}
		cur := latest[a.ID]
		switch {
		case cur == nil:
			latest[a.ID] = a
		case a.Version > cur.Version:
			stale = append(stale, versionID(cur.ID, cur.Version))
			latest[a.ID] = a
		default:
			stale = append(stale, v.ID)
		}
		return nil
	}
	var err error
	if only != nil {
		err = findEach(ctx, s.versions.For(*only), bson.M{"asset._id": *only}, keep)
	} else {
		err = store.FindAll(ctx, s.versions, nil, keep)
	}
	if err != nil {
		return nil, fmt.Errorf("loading assets: %w", err)
	}
	out := make([]*Asset, 0, len(latest))
	for _, a := range latest {
		a.persistedSeen = a.LastSeenAt
		out = append(out, a)
	}
	if only == nil && len(stale) > 0 {
		s.gc.mu.Lock()
		s.gc.stale = append(s.gc.stale, stale...)
		s.gc.mu.Unlock()
	}
	return out, nil
}

// changedVersions returns the newest stored version of every asset written since
// (the change feed, with several writers on FerretDB). It filters in Go over the
// version tables: fine for the small multi-process setups FerretDB serves.
func (s *Store) changedVersions(ctx context.Context, since time.Time) ([]*Asset, error) {
	latest := map[string]*Asset{}
	err := store.FindAll(ctx, s.versions, bson.M{"asset.updatedAt": bson.M{"$gte": since}}, func(v versionDoc) error {
		if a := v.Asset; a != nil && (latest[a.ID] == nil || a.Version > latest[a.ID].Version) {
			latest[a.ID] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading changed assets: %w", err)
	}
	out := make([]*Asset, 0, len(latest))
	for _, a := range latest {
		a.persistedSeen = a.LastSeenAt
		out = append(out, a)
	}
	return out, nil
}

// findEach decodes every document of one collection matching filter.
func findEach(ctx context.Context, c *mongo.Collection, filter any, each func(versionDoc) error) error {
	cur, err := c.Find(ctx, filter)
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var v versionDoc
		if err := cur.Decode(&v); err != nil {
			return err
		}
		if err := each(v); err != nil {
			return err
		}
	}
	return cur.Err()
}

// StaleVersions is how many replaced versions wait for deletion.
func (s *Store) StaleVersions() int {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	return len(s.gc.stale)
}

// Compact deletes replaced versions, one statement per partition. It may run
// concurrently with writes: what it deletes is never read again.
func (s *Store) Compact(ctx context.Context) (int, error) {
	s.gc.mu.Lock()
	if s.gc.running || len(s.gc.stale) == 0 {
		s.gc.mu.Unlock()
		return 0, nil
	}
	ids := s.gc.stale
	s.gc.stale = nil
	s.gc.running = true
	s.gc.mu.Unlock()
	defer func() {
		s.gc.mu.Lock()
		s.gc.running = false
		s.gc.mu.Unlock()
	}()
	byCol := map[*mongo.Collection][]string{}
	for _, id := range ids {
		assetID := id[:strings.LastIndexByte(id, '@')]
		c := s.versions.For(assetID)
		byCol[c] = append(byCol[c], id)
	}
	deleted := 0
	for c, list := range byCol {
		res, err := c.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": list}})
		if err != nil {
			s.gc.mu.Lock()
			for _, l := range byCol {
				s.gc.stale = append(s.gc.stale, l...)
			}
			s.gc.mu.Unlock()
			return deleted, fmt.Errorf("deleting %d replaced asset versions: %w", len(list), err)
		}
		deleted += int(res.DeletedCount)
		delete(byCol, c)
	}
	return deleted, nil
}

// compactAfter is the least number of replaced versions that triggers a background
// compaction (the service waits for as many as there are assets).
const compactAfter = 2000

// SetAppendOnly switches the write strategy on an embedded store, for benchmarks that
// compare append-only versions with in-place updates; call it before any write.
func (s *Store) SetAppendOnly(on bool) { s.appendOnly = on && s.versions != nil }
