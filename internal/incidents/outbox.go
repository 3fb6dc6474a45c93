package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/docstore"
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

// Outbox persists entries by _id (a partitioned collection in the cmdb). Delivered
// entries are deleted, so the collection holds only what is still owed to the service
// desk and the scan at start stays small.
type Outbox struct {
	col docstore.Collection[OutboxEntry]
}

// OpenOutbox prepares the outbox collection.
func OpenOutbox(ctx context.Context, s *store.Store) (*Outbox, error) {
	p, err := s.Partitioned(ctx, "outbox")
	if err != nil {
		return nil, err
	}
	return &Outbox{col: docstore.Partitioned[OutboxEntry]("outbox", p)}, nil
}

// NewMemOutbox returns an empty outbox in memory (logic tests, replays).
func NewMemOutbox() *Outbox { return &Outbox{col: docstore.Mem[OutboxEntry]("outbox")} }

// Insert writes a new entry; it reports false when the entry already exists (written
// by an earlier attempt or another replica).
func (o *Outbox) Insert(ctx context.Context, e *OutboxEntry) (bool, error) {
	if err := o.col.Insert(ctx, e.ID, *e); err != nil {
		if errors.Is(err, docstore.ErrExists) {
			return false, nil
		}
		return false, fmt.Errorf("writing outbox entry %s: %w", e.ID, err)
	}
	return true, nil
}

// Pending returns every entry, ordered by incident and sequence.
func (o *Outbox) Pending(ctx context.Context) ([]*OutboxEntry, error) {
	list, err := o.col.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	out := make([]*OutboxEntry, len(list))
	for k := range list {
		out[k] = &list[k]
	}
	slices.SortFunc(out, func(a, b *OutboxEntry) int {
		if a.IncidentID != b.IncidentID {
			return strings.Compare(a.IncidentID, b.IncidentID)
		}
		return a.Seq - b.Seq
	})
	return out, nil
}

// Failed records a failed attempt and when to try again. The rest of an entry never
// changes once written, so the entry is written whole; an entry another replica
// delivered (and removed) meanwhile stays removed.
func (o *Outbox) Failed(ctx context.Context, e *OutboxEntry) error {
	err := o.col.Replace(ctx, e.ID, *e, 0)
	if err != nil && !errors.Is(err, docstore.ErrConflict) {
		return fmt.Errorf("recording attempt of outbox entry %s: %w", e.ID, err)
	}
	return nil
}

// Delivered removes a delivered entry.
func (o *Outbox) Delivered(ctx context.Context, id string) error {
	if _, err := o.col.Delete(ctx, id); err != nil {
		return fmt.Errorf("removing delivered outbox entry %s: %w", id, err)
	}
	return nil
}
