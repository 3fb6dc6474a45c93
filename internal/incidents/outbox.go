package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/medcmdb/medcmdb/internal/store"
)

// OutboxEntry is one notification to one webhook, waiting to be delivered. Its _id is
// the idempotency key the receiver sees: "<incident>.<seq>.<webhook>".
type OutboxEntry struct {
	ID           string       `bson:"_id"`
	Webhook      string       `bson:"webhook"`
	IncidentID   string       `bson:"incidentId"`
	Seq          int          `bson:"seq"`
	Notification Notification `bson:"notification"`
	CreatedAt    time.Time    `bson:"createdAt"`
	Attempts     int          `bson:"attempts"`
	NextAttempt  time.Time    `bson:"nextAttempt"`
	LastError    string       `bson:"lastError,omitempty"`
}

// Outbox persists entries by _id in a partitioned collection. Delivered entries are
// deleted, so the collection holds only what is still owed to the service desk and
// the scan at start stays small.
type Outbox struct {
	col *store.Partitioned
}

// OpenOutbox prepares the outbox collection.
func OpenOutbox(ctx context.Context, s *store.Store) (*Outbox, error) {
	p, err := s.Partitioned(ctx, "outbox")
	if err != nil {
		return nil, err
	}
	return &Outbox{col: p}, nil
}

// Insert writes a new entry; it reports false when the entry already exists (written
// by an earlier attempt or another replica).
func (o *Outbox) Insert(ctx context.Context, e *OutboxEntry) (bool, error) {
	if _, err := o.col.For(e.ID).InsertOne(ctx, e); err != nil {
		if store.IsDuplicateKey(err) {
			return false, nil
		}
		return false, fmt.Errorf("writing outbox entry %s: %w", e.ID, err)
	}
	return true, nil
}

// Pending returns every entry, ordered by incident and sequence.
func (o *Outbox) Pending(ctx context.Context) ([]*OutboxEntry, error) {
	var out []*OutboxEntry
	err := store.FindAll(ctx, o.col, nil, func(e OutboxEntry) error {
		out = append(out, &e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	slices.SortFunc(out, func(a, b *OutboxEntry) int {
		if a.IncidentID != b.IncidentID {
			return strings.Compare(a.IncidentID, b.IncidentID)
		}
		return a.Seq - b.Seq
	})
	return out, nil
}

// Failed records a failed attempt and when to try again.
func (o *Outbox) Failed(ctx context.Context, e *OutboxEntry) error {
	_, err := o.col.For(e.ID).UpdateOne(ctx, bson.M{"_id": e.ID}, bson.M{"$set": bson.M{
		"attempts": e.Attempts, "nextAttempt": e.NextAttempt, "lastError": e.LastError,
	}})
	if err != nil {
		return fmt.Errorf("recording attempt of outbox entry %s: %w", e.ID, err)
	}
	return nil
}

// Delivered removes a delivered entry.
func (o *Outbox) Delivered(ctx context.Context, id string) error {
	if _, err := o.col.For(id).DeleteOne(ctx, bson.M{"_id": id}); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("removing delivered outbox entry %s: %w", id, err)
	}
	return nil
}
