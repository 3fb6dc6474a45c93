// Package audit records every mutation: who, what, when, from where, and the outcome.
// Records are insert-only; a retention job removes old ones.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Entry is one audited action.
type Entry struct {
	ID        string    `bson:"_id" json:"id"`
	At        time.Time `bson:"at" json:"at"`
	Actor     string    `bson:"actor" json:"actor"`
	Role      string    `bson:"role" json:"role"`
	TokenID   string    `bson:"tokenId,omitempty" json:"tokenId,omitempty"`
	Operation string    `bson:"operation" json:"operation"`
	// Target names what was acted on (an incident id, a token name, ...).
	Target string `bson:"target,omitempty" json:"target,omitempty"`
	// Summary says what was asked, without secrets or patient data.
	Summary   string `bson:"summary,omitempty" json:"summary,omitempty"`
	Remote    string `bson:"remote,omitempty" json:"remote,omitempty"`
	RequestID string `bson:"requestId,omitempty" json:"requestId,omitempty"`
	OK        bool   `bson:"ok" json:"ok"`
	Error     string `bson:"error,omitempty" json:"error,omitempty"`
}

// Log writes and reads audit entries.
type Log struct {
	col *mongo.Collection
	log *slog.Logger
	now func() time.Time
}

// New returns the audit log over the "audit" collection.
func New(db *mongo.Database, log *slog.Logger) *Log {
	return &Log{col: db.Collection("audit"), log: log.With("component", "audit"), now: time.Now}
}

// newID is time-ordered, so _id order is time order.
func newID(t time.Time) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%013s%s", strconv.FormatInt(t.UnixMicro(), 36), hex.EncodeToString(b))
}

// Record stores an entry. A failure is logged, never returned: an outage of the audit
// store must not turn an incident acknowledgement into an error the nurse sees, but
// the log line keeps the trail.
func (l *Log) Record(ctx context.Context, e Entry) {
	if e.At.IsZero() {
		e.At = l.now().UTC()
	}
	e.ID = newID(e.At)
	if _, err := l.col.InsertOne(ctx, e); err != nil {
		l.log.Error("audit record not stored", "err", err, "actor", e.Actor, "operation", e.Operation, "target", e.Target, "ok", e.OK)
	}
}

// Query selects entries.
type Query struct {
	Actor     string
	Operation string
	Since     time.Time
}

// List returns entries newest first: the page [offset, offset+limit) and the total.
func (l *Log) List(ctx context.Context, q Query, offset, limit int) ([]Entry, int, error) {
	filter := bson.M{}
	if q.Actor != "" {
		filter["actor"] = q.Actor
	}
	if q.Operation != "" {
		filter["operation"] = q.Operation
	}
	if !q.Since.IsZero() {
		filter["at"] = bson.M{"$gte": q.Since}
	}
	total, err := l.col.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("counting audit entries: %w", err)
	}
	cur, err := l.col.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetSkip(int64(offset)).SetLimit(int64(limit)))
	if err != nil {
		return nil, 0, fmt.Errorf("reading audit entries: %w", err)
	}
	var out []Entry
	if err := cur.All(ctx, &out); err != nil {
		return nil, 0, fmt.Errorf("reading audit entries: %w", err)
	}
	return out, int(total), nil
}

// DeleteBefore removes entries older than t (retention).
func (l *Log) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := l.col.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": t}})
	if err != nil {
		return 0, fmt.Errorf("deleting audit entries: %w", err)
	}
	return res.DeletedCount, nil
}
