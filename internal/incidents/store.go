package incidents

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// ErrNotFound means no incident has that id.
var ErrNotFound = errors.New("incident not found")

func errNotFound(id string) error { return fmt.Errorf("incident %q: %w", id, ErrNotFound) }

// ErrConflict means another writer changed the incident first.
var ErrConflict = errors.New("incident changed concurrently")

// Store persists incidents, their dedup keys and the incident number counter.
type Store struct {
	incidents *store.Partitioned
	keys      *store.Partitioned
	counters  *mongo.Collection
	versioned bool

	numMu            sync.Mutex
	numNext, numLast int64 // the reserved block of incident numbers
}

// OpenStore prepares the incident collections.
func OpenStore(ctx context.Context, s *store.Store) (*Store, error) {
	p, err := s.Partitioned(ctx, "incidents")
	if err != nil {
		return nil, err
	}
	// Keys are claimed and read on every opening: partitioned like the incidents.
	keys, err := s.Partitioned(ctx, "incident_keys")
	if err != nil {
		return nil, err
	}
	st := &Store{incidents: p, keys: keys, counters: s.DB.Collection("counters"), versioned: !s.Embedded}
	if !s.FerretDB {
		if err := p.EnsureIndexes(ctx,
			mongo.IndexModel{Keys: store.Key("assetId", "condition")},
			mongo.IndexModel{Keys: store.Key("state", "openedAt")},
			// The change feed between replicas reads by it (feed.go).
			mongo.IndexModel{Keys: store.Key("updatedAt")},
		); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// LoadAll reads every incident.
func (s *Store) LoadAll(ctx context.Context) ([]*Incident, error) {
	var out []*Incident
	err := store.FindAll(ctx, s.incidents, nil, func(i Incident) error {
		out = append(out, &i)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading incidents: %w", err)
	}
	return out, nil
}

// Load reads one incident.
func (s *Store) Load(ctx context.Context, id string) (*Incident, error) {
	var i Incident
	err := s.incidents.For(id).FindOne(ctx, bson.M{"_id": id}).Decode(&i)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading incident %s: %w", id, err)
	}
	return &i, nil
}

// ClaimKey makes id the incident holding key, unless another incident holds it: then
// that one's id and claim time are returned. The unique _id keeps one open incident
// per (asset, condition) even across cmdb replicas.
func (s *Store) ClaimKey(ctx context.Context, key, id string, now time.Time) (string, time.Time, error) {
	col := s.keys.For(key)
	_, err := col.InsertOne(ctx, bson.M{"_id": key, "incidentId": id, "at": now})
	if err == nil {
		return id, now, nil
	}
	if !store.IsDuplicateKey(err) {
		return "", time.Time{}, fmt.Errorf("claiming incident key %s: %w", key, err)
	}
	var doc struct {
		IncidentID string    `bson:"incidentId"`
		At         time.Time `bson:"at"`
	}
	if err := col.FindOne(ctx, bson.M{"_id": key}).Decode(&doc); err != nil {
		return "", time.Time{}, fmt.Errorf("reading incident key %s: %w", key, err)
	}
	return doc.IncidentID, doc.At, nil
}

// ReleaseKeyIf frees the dedup key if incident id still holds it: a replica freeing a
// stale key never frees the claim another replica just made. Read then delete, both
// by _id: the embedded store scans the whole collection for any other filter.
func (s *Store) ReleaseKeyIf(ctx context.Context, key, id string) error {
	col := s.keys.For(key)
	var doc struct {
		IncidentID string `bson:"incidentId"`
	}
	err := col.FindOne(ctx, bson.M{"_id": key}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && doc.IncidentID != id) {
		return nil
	}
	if err == nil {
		_, err = col.DeleteOne(ctx, bson.M{"_id": key})
	}
	if err != nil {
		return fmt.Errorf("releasing incident key %s: %w", key, err)
	}
	return nil
}

// numberBlock is how many incident numbers one counter write reserves: an alert storm
// opens hundreds of incidents, and each counter write is a findAndModify. Numbers stay
// unique across replicas; a restart skips the rest of its block.
const numberBlock = 16

// NextNumber returns the next incident number.
func (s *Store) NextNumber(ctx context.Context) (int64, error) {
	s.numMu.Lock()
	defer s.numMu.Unlock()
	if s.numNext == 0 || s.numNext > s.numLast {
		var doc struct {
			Seq int64 `bson:"seq"`
		}
		inc := func() error {
			return s.counters.FindOneAndUpdate(ctx, bson.M{"_id": "incident"}, bson.M{"$inc": bson.M{"seq": numberBlock}},
				options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
		}
		err := inc()
		if store.IsDuplicateKey(err) {
			// Two replicas numbering their very first incident both tried to create the
			// counter; the loser's retry finds it (seen once in TestTwoEnginesOneStoreNoDuplicate).
			err = inc()
		}
		if err != nil {
			return 0, fmt.Errorf("numbering incident: %w", err)
		}
		s.numNext, s.numLast = doc.Seq-numberBlock+1, doc.Seq
	}
	n := s.numNext
	s.numNext++
	return n, nil
}

// Save writes an incident whose previous stored version is prev (0: new).
func (s *Store) Save(ctx context.Context, i *Incident, prev int64) error {
	col := s.incidents.For(i.ID)
	if prev == 0 {
		if _, err := col.InsertOne(ctx, i); err != nil {
			return fmt.Errorf("inserting incident %s: %w", i.ID, err)
		}
		return nil
	}
	filter := bson.M{"_id": i.ID}
	if s.versioned {
		filter["version"] = prev
	}
	res, err := col.ReplaceOne(ctx, filter, i)
	if err != nil {
		return fmt.Errorf("saving incident %s: %w", i.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("saving incident %s at version %d: %w", i.ID, prev, ErrConflict)
	}
	return nil
}
