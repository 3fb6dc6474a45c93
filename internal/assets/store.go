package assets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// ErrNotFound means no asset (or recall) has that id.
var ErrNotFound = errors.New("not found")

// ErrConflict means another writer changed the asset first; reload and retry.
var ErrConflict = errors.New("asset changed concurrently")

// historyBucket is how many history entries one sealed bucket holds. Small enough that
// the unsealed tail carried in the asset document stays small (every write of the
// asset rewrites it, and on the embedded store every update scans its table), large
// enough that a page of 50 entries is a few reads by _id.
const historyBucket = 16

// Store persists assets, their history and identity claims.
type Store struct {
	assets  *store.Partitioned
	history *store.Partitioned
	claims  *mongo.Collection
	recalls *mongo.Collection
	// versioned: guard writes with the version field (MongoDB). The embedded store only
	// answers single-key _id filters without a Go-side scan, and has one writer anyway.
	versioned bool
	// appendOnly (embedded store): every write of an asset inserts a new version
	// document instead of updating one; see store_versions.go.
	appendOnly bool
	// singleWriter: the store runs in this process, so no other replica writes.
	singleWriter bool
	versions     *store.Partitioned
	gc           versionGC
}

// Asset layouts, recorded in the store's meta collection on first use.
const (
	layoutInPlace    = "in-place"    // MongoDB: one document per asset, versioned replaces
	layoutAppendOnly = "append-only" // FerretDB: a new document per version (store_versions.go)
)

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
	def := layoutInPlace
	if s.FerretDB {
		def = layoutAppendOnly
	}
	layout, err := s.Layout(ctx, "assets", def)
	if err != nil {
		return nil, err
	}
	st := &Store{assets: a, history: h, claims: s.DB.Collection("asset_claims"), recalls: s.DB.Collection("recalls"),
		versioned: !s.Embedded, appendOnly: layout == layoutAppendOnly, singleWriter: s.Embedded}
	if st.appendOnly {
		if st.versions, err = s.Partitioned(ctx, "asset_versions"); err != nil {
			return nil, err
		}
	}
	if !s.FerretDB {
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
	if s.appendOnly {
		return s.loadVersions(ctx, nil)
	}
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
	if s.appendOnly {
		list, err := s.loadVersions(ctx, &id)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("loading asset %s: %w", id, ErrNotFound)
		}
		return list[0], nil
	}
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
	if s.appendOnly {
		return s.writeVersions(ctx, []*Asset{a}, []int64{prev})
	}
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
//
// The embedded store belongs to one cmdb process (it runs inside it, on loopback), so
// there is no other replica to race and no claim is written.
func (s *Store) Claim(ctx context.Context, key, id string) (string, error) {
	if s.singleWriter {
		return id, nil
	}
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

func bucketID(assetID string, gen, n int) string {
	if gen == 0 {
		return assetID + "#" + strconv.Itoa(n)
	}
	return assetID + "#g" + strconv.Itoa(gen) + "#" + strconv.Itoa(n)
}

// bucketDoc is one sealed bucket: historyBucket consecutive entries of one asset.
type bucketDoc struct {
	ID      string   `bson:"_id"`
	AssetID string   `bson:"assetId"`
	Gen     int      `bson:"gen"`
	Bucket  int      `bson:"bucket"`
	Changes []Change `bson:"changes"`
}

// SealBuckets writes full history buckets. They are inserted, never updated: an
// insert costs the same whatever the table size on the embedded store, where an
// update scans the table. A bucket left by an earlier attempt that failed before its
// asset was saved is replaced.
func (s *Store) SealBuckets(ctx context.Context, buckets []bucketDoc) error {
	byCol := map[*mongo.Collection][]any{}
	var order []*mongo.Collection
	for _, b := range buckets {
		c := s.history.For(b.AssetID)
		if _, ok := byCol[c]; !ok {
			order = append(order, c)
		}
		byCol[c] = append(byCol[c], b)
	}
	for _, c := range order {
		docs := byCol[c]
		_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if err == nil {
			continue
		}
		if !store.IsDuplicateKey(err) {
			return fmt.Errorf("sealing history buckets: %w", err)
		}
		for _, d := range docs {
			b := d.(bucketDoc)
			if _, err := c.ReplaceOne(ctx, bson.M{"_id": b.ID}, b, options.Replace().SetUpsert(true)); err != nil {
				return fmt.Errorf("sealing history bucket %s: %w", b.ID, err)
			}
		}
	}
	return nil
}

// Bucket reads one sealed bucket; a missing bucket is empty.
func (s *Store) Bucket(ctx context.Context, assetID string, gen, n int) ([]Change, error) {
	var doc bucketDoc
	err := s.history.For(assetID).FindOne(ctx, bson.M{"_id": bucketID(assetID, gen, n)}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", assetID, err)
	}
	return doc.Changes, nil
}

// InsertMany writes new assets, grouped by partition so each group is one round trip.
func (s *Store) InsertMany(ctx context.Context, list []*Asset) error {
	if s.appendOnly {
		return s.writeVersions(ctx, list, make([]int64, len(list)))
	}
	byCol := map[*mongo.Collection][]any{}
	var order []*mongo.Collection
	for _, a := range list {
		c := s.assets.For(a.ID)
		if _, ok := byCol[c]; !ok {
			order = append(order, c)
		}
		byCol[c] = append(byCol[c], a)
	}
	for _, c := range order {
		if _, err := c.InsertMany(ctx, byCol[c]); err != nil {
			if store.IsDuplicateKey(err) {
				return fmt.Errorf("inserting %d assets: %w", len(byCol[c]), ErrConflict)
			}
			return fmt.Errorf("inserting %d assets: %w", len(byCol[c]), err)
		}
	}
	return nil
}

// ChangedSince reads the assets written at or after since, for the change feed
// between replicas sharing a MongoDB (index on updatedAt). The embedded store has a
// single writer, the process that embeds it: there is nothing to read, and nil is
// returned without a query.
func (s *Store) ChangedSince(ctx context.Context, since time.Time) ([]*Asset, error) {
	if s.appendOnly {
		return s.changedVersions(ctx, since)
	}
	var out []*Asset
	err := store.FindAll(ctx, s.assets, bson.M{"updatedAt": bson.M{"$gte": since}}, func(a Asset) error {
		a.persistedSeen = a.LastSeenAt
		out = append(out, &a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading changed assets: %w", err)
	}
	return out, nil
}
