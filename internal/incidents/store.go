package incidents

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/medcmdb/medcmdb/internal/docstore"
	"github.com/medcmdb/medcmdb/internal/store"
)

// ErrNotFound means no incident has that id.
var ErrNotFound = errors.New("incident not found")

func errNotFound(id string) error { return fmt.Errorf("incident %q: %w", id, ErrNotFound) }

// ErrConflict means another writer changed the incident first.
var ErrConflict = errors.New("incident changed concurrently")

// Store persists incidents, their dedup keys and the incident number counter. The
// documents live in docstore collections: MongoDB in the cmdb (OpenStore), memory in
// logic tests and replays (NewMemStore); the rules below (unique keys, versioned
// saves, numbering by blocks) are the same code on both.
type Store struct {
	incidents docstore.Collection[Incident]
	keys      docstore.Collection[keyClaim]
	counters  docstore.Counter
	// versioned: several writers may share the store, so saves are guarded by the
	// incident's version and replicas follow each other's changes (feed.go). The
	// embedded store has one writer.
	versioned bool

	numMu            sync.Mutex
	numNext, numLast int64 // the reserved block of incident numbers
}

// keyClaim is the document that makes an incident the holder of a dedup key.
type keyClaim struct {
	Key        string    `bson:"_id"`
	IncidentID string    `bson:"incidentId"`
	At         time.Time `bson:"at"`
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
	return &Store{
		incidents: docstore.Partitioned[Incident]("incidents", p),
		keys:      docstore.Partitioned[keyClaim]("incident_keys", keys),
		counters:  docstore.MongoCounter(s.DB.Collection("counters")),
		versioned: !s.Embedded,
	}, nil
}

// NewMemStore returns an empty store in memory with the semantics of a shared
// MongoDB store (unique keys, versioned saves, the change feed): for logic tests, in
// this package and in others, without a store process.
func NewMemStore() *Store {
	return &Store{
		incidents: docstore.Mem[Incident]("incidents"),
		keys:      docstore.Mem[keyClaim]("incident_keys"),
		counters:  docstore.MemCounter(),
		versioned: true,
	}
}

// LoadAll reads every incident.
func (s *Store) LoadAll(ctx context.Context) ([]*Incident, error) {
	list, err := s.incidents.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading incidents: %w", err)
	}
	return pointers(list), nil
}

func pointers(list []Incident) []*Incident {
	out := make([]*Incident, len(list))
	for k := range list {
		out[k] = &list[k]
	}
	return out
}

// Load reads one incident.
func (s *Store) Load(ctx context.Context, id string) (*Incident, error) {
	i, ok, err := s.incidents.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("loading incident %s: %w", id, err)
	}
	if !ok {
		return nil, errNotFound(id)
	}
	return &i, nil
}

// ClaimKey makes id the incident holding key, unless another incident holds it: then
// that one's id and claim time are returned. The unique _id keeps one open incident
// per (asset, condition) even across cmdb replicas.
func (s *Store) ClaimKey(ctx context.Context, key, id string, now time.Time) (string, time.Time, error) {
	err := s.keys.Insert(ctx, key, keyClaim{Key: key, IncidentID: id, At: now})
	if err == nil {
		return id, now, nil
	}
	if !errors.Is(err, docstore.ErrExists) {
		return "", time.Time{}, fmt.Errorf("claiming incident key %s: %w", key, err)
	}
	doc, ok, err := s.keys.Get(ctx, key)
	if err == nil && !ok {
		err = errors.New("released meanwhile")
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading incident key %s: %w", key, err)
	}
	return doc.IncidentID, doc.At, nil
}

// ReleaseKeyIf frees the dedup key if incident id still holds it: a replica freeing a
// stale key never frees the claim another replica just made. Read then delete, both
// by _id: the embedded store scans the whole collection for any other filter.
func (s *Store) ReleaseKeyIf(ctx context.Context, key, id string) error {
	doc, ok, err := s.keys.Get(ctx, key)
	if err == nil && (!ok || doc.IncidentID != id) {
		return nil
	}
	if err == nil {
		_, err = s.keys.Delete(ctx, key)
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
		seq, err := s.counters.Add(ctx, "incident", numberBlock)
		if err != nil {
			return 0, fmt.Errorf("numbering incident: %w", err)
		}
		s.numNext, s.numLast = seq-numberBlock+1, seq
	}
	n := s.numNext
	s.numNext++
	return n, nil
}

// Save writes an incident whose previous stored version is prev (0: new).
func (s *Store) Save(ctx context.Context, i *Incident, prev int64) error {
	if prev == 0 {
		if err := s.incidents.Insert(ctx, i.ID, *i); err != nil {
			return fmt.Errorf("inserting incident %s: %w", i.ID, err)
		}
		return nil
	}
	guard := prev
	if !s.versioned {
		guard = 0
	}
	err := s.incidents.Replace(ctx, i.ID, *i, guard)
	if errors.Is(err, docstore.ErrConflict) {
		return fmt.Errorf("saving incident %s at version %d: %w", i.ID, prev, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("saving incident %s: %w", i.ID, err)
	}
	return nil
}
