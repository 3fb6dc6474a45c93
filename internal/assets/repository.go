package assets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/docstore"
)

// Repository is what the registry needs of its storage: the MongoDB Store (OpenStore)
// or the in-memory twin (NewMemStore) that logic tests use without a store process.
// Its unexported methods keep the implementations in this package.
type Repository interface {
	LoadAll(ctx context.Context) ([]*Asset, error)
	Load(ctx context.Context, id string) (*Asset, error)
	// Save writes an asset whose stored version is prev (0: new); ErrConflict when
	// another writer changed it first.
	Save(ctx context.Context, a *Asset, prev int64) error
	InsertMany(ctx context.Context, list []*Asset) error
	Claim(ctx context.Context, key, id string) (string, error)
	Reclaim(ctx context.Context, key, id string) error
	SealBuckets(ctx context.Context, buckets []bucketDoc) error
	Bucket(ctx context.Context, assetID string, gen, n int) ([]Change, error)
	ChangedSince(ctx context.Context, since time.Time) ([]*Asset, error)
	LoadRecalls(ctx context.Context) ([]*Recall, error)
	InsertRecall(ctx context.Context, r *Recall) error
	// DeleteRecall reports whether there was a recall with that id.
	DeleteRecall(ctx context.Context, id string) (bool, error)
	// StaleVersions and Compact: replaced versions of the append-only layout.
	StaleVersions() int
	Compact(ctx context.Context) (int, error)

	wholeHistory(ctx context.Context, a *Asset) ([]Change, error)
	dropGenerations(ctx context.Context, assetID string, gen int) (int64, error)
}

var (
	_ Repository = (*Store)(nil)
	_ Repository = (*memStore)(nil)
)

// memStore keeps assets in memory with the rules of a MongoDB store shared by
// replicas (the in-place layout): versioned saves, unique claims, the change feed.
// Documents are kept as BSON (docstore.Mem), so what is read back is a copy with
// exactly what MongoDB would keep.
type memStore struct {
	assets  docstore.Collection[Asset]
	history docstore.Collection[bucketDoc]
	claims  docstore.Collection[claimDoc]
	recalls docstore.Collection[Recall]
}

type claimDoc struct {
	Key     string `bson:"_id"`
	AssetID string `bson:"assetId"`
}

// NewMemStore returns an empty asset store in memory.
func NewMemStore() Repository {
	return &memStore{
		assets:  docstore.Mem[Asset]("assets"),
		history: docstore.Mem[bucketDoc]("asset_history"),
		claims:  docstore.Mem[claimDoc]("asset_claims"),
		recalls: docstore.Mem[Recall]("recalls"),
	}
}

func loaded(list []Asset) []*Asset {
	out := make([]*Asset, len(list))
	for k := range list {
		list[k].persistedSeen = list[k].LastSeenAt
		out[k] = &list[k]
	}
	return out
}

func (m *memStore) LoadAll(ctx context.Context) ([]*Asset, error) {
	list, err := m.assets.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading assets: %w", err)
	}
	return loaded(list), nil
}

func (m *memStore) Load(ctx context.Context, id string) (*Asset, error) {
	a, ok, err := m.assets.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("loading asset %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("loading asset %s: %w", id, ErrNotFound)
	}
	return loaded([]Asset{a})[0], nil
}

func (m *memStore) Save(ctx context.Context, a *Asset, prev int64) error {
	var err error
	if prev == 0 {
		err = m.assets.Insert(ctx, a.ID, *a)
	} else {
		err = m.assets.Replace(ctx, a.ID, *a, prev)
	}
	if errors.Is(err, docstore.ErrExists) || errors.Is(err, docstore.ErrConflict) {
		return fmt.Errorf("saving asset %s at version %d: %w", a.ID, prev, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("saving asset %s: %w", a.ID, err)
	}
	return nil
}

// InsertMany stops at the first asset already stored, as an ordered insert does.
func (m *memStore) InsertMany(ctx context.Context, list []*Asset) error {
	for _, a := range list {
		if err := m.Save(ctx, a, 0); err != nil {
			return fmt.Errorf("inserting %d assets: %w", len(list), err)
		}
	}
	return nil
}

func (m *memStore) Claim(ctx context.Context, key, id string) (string, error) {
	err := m.claims.Insert(ctx, key, claimDoc{Key: key, AssetID: id})
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, docstore.ErrExists) {
		return "", fmt.Errorf("claiming %s: %w", key, err)
	}
	doc, _, err := m.claims.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("reading claim %s: %w", key, err)
	}
	return doc.AssetID, nil
}

// Reclaim updates the claim if there is one (an update without upsert).
func (m *memStore) Reclaim(ctx context.Context, key, id string) error {
	err := m.claims.Replace(ctx, key, claimDoc{Key: key, AssetID: id}, 0)
	if err != nil && !errors.Is(err, docstore.ErrConflict) {
		return fmt.Errorf("reclaiming %s: %w", key, err)
	}
	return nil
}

func (m *memStore) SealBuckets(ctx context.Context, buckets []bucketDoc) error {
	for _, b := range buckets {
		if err := m.history.Put(ctx, b.ID, b); err != nil {
			return fmt.Errorf("sealing history bucket %s: %w", b.ID, err)
		}
	}
	return nil
}

func (m *memStore) Bucket(ctx context.Context, assetID string, gen, n int) ([]Change, error) {
	doc, _, err := m.history.Get(ctx, bucketID(assetID, gen, n))
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", assetID, err)
	}
	return doc.Changes, nil
}

func (m *memStore) ChangedSince(ctx context.Context, since time.Time) ([]*Asset, error) {
	list, err := m.assets.Since(ctx, "updatedAt", since)
	if err != nil {
		return nil, fmt.Errorf("reading changed assets: %w", err)
	}
	return loaded(list), nil
}

func (m *memStore) LoadRecalls(ctx context.Context) ([]*Recall, error) {
	list, err := m.recalls.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading recalls: %w", err)
	}
	out := make([]*Recall, len(list))
	for k := range list {
		out[k] = &list[k]
	}
	slices.SortFunc(out, func(a, b *Recall) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (m *memStore) InsertRecall(ctx context.Context, r *Recall) error {
	return m.recalls.Insert(ctx, r.ID, *r)
}

func (m *memStore) DeleteRecall(ctx context.Context, id string) (bool, error) {
	return m.recalls.Delete(ctx, id)
}

// StaleVersions: the in-place layout replaces versions, none wait.
func (m *memStore) StaleVersions() int { return 0 }

func (m *memStore) Compact(context.Context) (int, error) { return 0, nil }

// wholeHistory reads the sealed buckets by id; a missing one is an error, as on
// MongoDB.
func (m *memStore) wholeHistory(ctx context.Context, a *Asset) ([]Change, error) {
	var out []Change
	for n := range a.HistorySealed {
		doc, ok, err := m.history.Get(ctx, bucketID(a.ID, a.HistoryGen, n))
		if err != nil {
			return nil, fmt.Errorf("reading history of %s: %w", a.ID, err)
		}
		if !ok || len(doc.Changes) != historyBucket {
			return nil, fmt.Errorf("history of %s: bucket %d of generation %d is missing or short", a.ID, n, a.HistoryGen)
		}
		out = append(out, doc.Changes...)
	}
	return append(out, a.HistoryTail...), nil
}

// dropGenerations deletes the buckets of the generations before gen: each
// generation's buckets are numbered from 0 without gaps.
func (m *memStore) dropGenerations(ctx context.Context, assetID string, gen int) (int64, error) {
	var ids []string
	for g := range gen {
		for n := 0; ; n++ {
			id := bucketID(assetID, g, n)
			_, ok, err := m.history.Get(ctx, id)
			if err != nil {
				return 0, fmt.Errorf("deleting old history of %s: %w", assetID, err)
			}
			if !ok {
				break
			}
			ids = append(ids, id)
		}
	}
	n, err := m.history.DeleteMany(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("deleting old history of %s: %w", assetID, err)
	}
	return n, nil
}

// InsertRecall stores a recall.
func (s *Store) InsertRecall(ctx context.Context, r *Recall) error {
	_, err := s.recalls.InsertOne(ctx, r)
	return err
}

// DeleteRecall removes a recall and reports whether there was one.
func (s *Store) DeleteRecall(ctx context.Context, id string) (bool, error) {
	res, err := s.recalls.DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return false, err
	}
	return res.DeletedCount > 0, nil
}
