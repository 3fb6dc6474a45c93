package assets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// ErrNotFound means no asset has that id.
var ErrNotFound = errors.New("asset not found")

// ErrConflict means another writer changed the asset first; reload and retry.
var ErrConflict = errors.New("asset changed concurrently")

// historyBucket is how many history entries one bucket document holds. Buckets keep
// one asset's history in a few documents read by _id, which is the only lookup the
// embedded store answers without scanning in Go.
const historyBucket = 100

// Store persists assets, their history and identity claims.
type Store struct {
	assets  *store.Partitioned
	history *store.Partitioned
	claims  *mongo.Collection
	// versioned: guard writes with the version field (MongoDB). The embedded store only
	// answers single-key _id filters without a Go-side scan, and has one writer anyway.
	versioned bool
}

// OpenStore prepares the asset collections and their indexes.
func OpenStore(ctx context.Context, s *store.Store) (*Store, error) {
	a, err := s.Partitioned(ctx, "assets")
	if err != nil {
		return nil, err
	}
	h, err := s.Partitioned(ctx, "asset_history")
	if err != nil {
		return nil, err
	}
	st := &Store{assets: a, history: h, claims: s.DB.Collection("asset_claims"), versioned: !s.Embedded}
	if !s.Embedded {
		// Only useful where they are used: MongoDB. FerretDB/SQLite ignores them for
		// anything but _id, and each index slows its writes.
		if err := a.EnsureIndexes(ctx,
			mongo.IndexModel{Keys: store.Key("updatedAt")},
			mongo.IndexModel{Keys: store.Key("site", "location.careArea")},
		); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// LoadAll reads every asset; the service keeps them in memory.
func (s *Store) LoadAll(ctx context.Context) ([]*Asset, error) {
	var out []*Asset
	err := store.FindAll(ctx, s.assets, nil, func(a Asset) error {
		a.persistedSeen = a.LastSeenAt
		out = append(out, &a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading assets: %w", err)
	}
	return out, nil
}

// Load reads one asset.
func (s *Store) Load(ctx context.Context, id string) (*Asset, error) {
	var a Asset
	err := s.assets.For(id).FindOne(ctx, bson.M{"_id": id}).Decode(&a)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("loading asset %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading asset %s: %w", id, err)
	}
	a.persistedSeen = a.LastSeenAt
	return &a, nil
}

// Save writes the asset whose previous stored version is prev (0: new).
func (s *Store) Save(ctx context.Context, a *Asset, prev int64) error {
	col := s.assets.For(a.ID)
	if prev == 0 {
		if _, err := col.InsertOne(ctx, a); err != nil {
			if store.IsDuplicateKey(err) {
				return fmt.Errorf("inserting asset %s: %w", a.ID, ErrConflict)
			}
			return fmt.Errorf("inserting asset %s: %w", a.ID, err)
		}
		return nil
	}
	filter := bson.M{"_id": a.ID}
	if s.versioned {
		filter["version"] = prev
	}
	res, err := col.ReplaceOne(ctx, filter, a)
	if err != nil {
		return fmt.Errorf("saving asset %s: %w", a.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("saving asset %s at version %d: %w", a.ID, prev, ErrConflict)
	}
	return nil
}

// Claim records that identifier key belongs to asset id, unless another asset claimed
// it first: then it returns that asset's id. The unique _id makes creation of an asset
// for a new device safe when several cmdb replicas see it at once.
func (s *Store) Claim(ctx context.Context, key, id string) (string, error) {
	_, err := s.claims.InsertOne(ctx, bson.M{"_id": key, "assetId": id})
	if err == nil {
		return id, nil
	}
	if !store.IsDuplicateKey(err) {
		return "", fmt.Errorf("claiming %s: %w", key, err)
	}
	var doc struct {
		AssetID string `bson:"assetId"`
	}
	if err := s.claims.FindOne(ctx, bson.M{"_id": key}).Decode(&doc); err != nil {
		return "", fmt.Errorf("reading claim %s: %w", key, err)
	}
	return doc.AssetID, nil
}

// Reclaim points a claim at another asset, when the asset it named was never written.
func (s *Store) Reclaim(ctx context.Context, key, id string) error {
	if _, err := s.claims.UpdateOne(ctx, bson.M{"_id": key}, bson.M{"$set": bson.M{"assetId": id}}); err != nil {
		return fmt.Errorf("reclaiming %s: %w", key, err)
	}
	return nil
}

func bucketID(assetID string, n int) string { return assetID + "#" + strconv.Itoa(n) }

// AppendHistory appends changes to an asset's history, which held count entries.
func (s *Store) AppendHistory(ctx context.Context, assetID string, count int, changes []Change) error {
	col := s.history.For(assetID)
	for len(changes) > 0 {
		b := count / historyBucket
		room := historyBucket - count%historyBucket
		n := min(room, len(changes))
		_, err := col.UpdateOne(ctx, bson.M{"_id": bucketID(assetID, b)},
			bson.M{
				"$push":        bson.M{"changes": bson.M{"$each": changes[:n]}},
				"$setOnInsert": bson.M{"assetId": assetID, "bucket": b},
			},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("appending history of %s: %w", assetID, err)
		}
		changes = changes[n:]
		count += n
	}
	return nil
}

// History returns up to first entries of one asset's own history older than entry
// number before (count for the newest), newest first.
func (s *Store) History(ctx context.Context, assetID string, before, first int) ([]Change, error) {
	var out []Change
	col := s.history.For(assetID)
	for b := (before - 1) / historyBucket; b >= 0 && len(out) < first && before > 0; b-- {
		var doc struct {
			Changes []Change `bson:"changes"`
		}
		err := col.FindOne(ctx, bson.M{"_id": bucketID(assetID, b)}).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading history of %s: %w", assetID, err)
		}
		// Entries past "before" in this bucket are newer than asked for.
		end := min(len(doc.Changes), before-b*historyBucket)
		for i := end - 1; i >= 0 && len(out) < first; i-- {
			out = append(out, doc.Changes[i])
		}
	}
	return out, nil
}

// sortChanges orders entries newest first, for histories gathered from merged records.
func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
}
