// Package obslog keeps the history of applied observations that policy replay reads:
// insert-only documents, one per applied batch, in one collection per UTC day, so that
// retention drops whole days instead of deleting documents (which the embedded store
// would do by scanning).
//
// Only state-changing observations are kept (DISCOVERED, CHANGE, and refreshes that
// raised or cleared a condition): a refresh that changed nothing cannot change what an
// incident engine decides, and refreshes are most of the traffic. Neither can an EVENT
// (a trap, a reboot): no incident follows from one, and the asset's history keeps it;
// so an event is kept only when it created its asset. That keeps a trap storm out of
// the log. Retention drops days by age, and the oldest days past a size (PruneSize).
package obslog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// prefix names the day collections: observation_log_20260501.
const prefix = "observation_log_"

// maxPerDoc bounds one document (MongoDB refuses documents over 16 MiB).
const maxPerDoc = 500

// Batch is what the cmdb applied in one call, at one moment of its clock.
type Batch struct {
	ID string
	// At is when the cmdb applied the batch: the incident engine ran at this time, so
	// a replay runs its engine at this time too.
	At           time.Time
	RequestID    string
	Observations []observation.Observation
}

// doc is a stored batch. The observations are one JSON string (their wire form), not
// nested documents: FerretDB converts every nested field on insert, which made a
// batch of 50 cost 19 ms against 2 ms as a string (bench/replay.md).
type doc struct {
	ID           string    `bson:"_id"`
	At           time.Time `bson:"at"`
	RequestID    string    `bson:"requestId,omitempty"`
	Count        int       `bson:"count"`
	Observations string    `bson:"observations"`
}

// Log is the observation history of one database.
type Log struct {
	db  *mongo.Database
	log *slog.Logger
}

// Open returns the log of a database; collections are created on first insert.
func Open(db *mongo.Database, log *slog.Logger) *Log {
	if log == nil {
		log = slog.Default()
	}
	return &Log{db: db, log: log.With("component", "obslog")}
}

// Keep reports whether an applied observation is worth keeping for replay.
func Keep(o assets.Outcome) bool {
	if o.Observation == nil || o.Duplicate || o.Stale {
		return false
	}
	switch o.Observation.Kind {
	case observation.KindEvent:
		return o.Created
	case observation.KindRefresh:
		return o.Created || len(o.Raised) > 0 || len(o.Cleared) > 0
	}
	return true
}

func dayName(t time.Time) string { return prefix + t.UTC().Format("20060102") }

// seq orders the documents one process writes at the same instant (a batch split
// into several documents).
var seq atomic.Uint64

func newID(at time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	// Zero-padded so that ids sort like times, then like writes; the random tail keeps
	// replicas apart.
	return fmt.Sprintf("%013s%012x", strconv.FormatInt(at.UnixNano(), 36), seq.Add(1)) + hex.EncodeToString(b)
}

// Record writes the kept observations of an applied batch; it writes nothing when
// none is kept.
func (l *Log) Record(ctx context.Context, at time.Time, requestID string, outs []assets.Outcome) error {
	var obs []observation.Observation
	for _, o := range outs {
		if Keep(o) {
			obs = append(obs, *o.Observation)
		}
	}
	return l.Write(ctx, at, requestID, obs)
}

// Write stores observations applied at the given time.
func (l *Log) Write(ctx context.Context, at time.Time, requestID string, obs []observation.Observation) error {
	col := l.db.Collection(dayName(at))
	for len(obs) > 0 {
		n := min(len(obs), maxPerDoc)
		raw, err := json.Marshal(obs[:n])
		if err != nil {
			return fmt.Errorf("encoding %d observations: %w", n, err)
		}
		d := doc{ID: newID(at), At: at.UTC(), RequestID: requestID, Count: n, Observations: string(raw)}
		if _, err := col.InsertOne(ctx, &d); err != nil {
			return fmt.Errorf("recording %d observations in %s: %w", n, col.Name(), err)
		}
		obs = obs[n:]
	}
	return nil
}

// days returns the names of the day collections, oldest first.
func (l *Log) days(ctx context.Context) ([]string, error) {
	names, err := l.db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return nil, fmt.Errorf("listing observation log days: %w", err)
	}
	var out []string
	for _, n := range names {
		if _, ok := parseDay(n); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func parseDay(name string) (time.Time, bool) {
	d, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102", d)
	return t, err == nil
}

// Read calls fn for every batch applied in [from, to), in the order the cmdb applied
// them. A zero to means no upper bound.
func (l *Log) Read(ctx context.Context, from, to time.Time, fn func(*Batch) error) error {
	days, err := l.days(ctx)
	if err != nil {
		return err
	}
	for _, name := range days {
		day, _ := parseDay(name)
		if day.Add(24*time.Hour).Before(from) || (!to.IsZero() && !day.Before(to)) {
			continue
		}
		// One day at a time: the whole history need not fit in memory.
		cur, err := l.db.Collection(name).Find(ctx, bson.M{})
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		var docs []doc
		if err := cur.All(ctx, &docs); err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		list := make([]*Batch, 0, len(docs))
		for _, d := range docs {
			b := &Batch{ID: d.ID, At: d.At, RequestID: d.RequestID}
			if err := json.Unmarshal([]byte(d.Observations), &b.Observations); err != nil {
				return fmt.Errorf("decoding %s of %s: %w", d.ID, name, err)
			}
			list = append(list, b)
		}
		slices.SortFunc(list, func(a, b *Batch) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for _, b := range list {
			if b.At.Before(from) || (!to.IsZero() && !b.At.Before(to)) {
				continue
			}
			if err := fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// Prune drops the days that ended before the given time and returns how many.
func (l *Log) Prune(ctx context.Context, before time.Time) (int, error) {
	days, err := l.days(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range days {
		day, _ := parseDay(name)
		if !day.Add(24 * time.Hour).After(before) {
			if err := l.db.Collection(name).Drop(ctx); err != nil {
				return n, fmt.Errorf("dropping %s: %w", name, err)
			}
			n++
		}
	}
	if n > 0 {
		l.log.Info("observation log days removed", "count", n, "before", before.UTC().Format(time.DateOnly))
	}
	return n, nil
}

// PruneSize drops the oldest days, never the one holding now, while the log takes
// more than maxBytes (as the store counts a collection's data size), and returns how
// many it dropped.
func (l *Log) PruneSize(ctx context.Context, maxBytes int64, now time.Time) (int, error) {
	days, err := l.days(ctx)
	if err != nil {
		return 0, err
	}
	sizes := make([]int64, len(days))
	var total int64
	for i, name := range days {
		if sizes[i], err = l.size(ctx, name); err != nil {
			return 0, err
		}
		total += sizes[i]
	}
	n := 0
	for i, name := range days {
		if total <= maxBytes || name == dayName(now) {
			break
		}
		if err := l.db.Collection(name).Drop(ctx); err != nil {
			return n, fmt.Errorf("dropping %s: %w", name, err)
		}
		total -= sizes[i]
		n++
	}
	if n > 0 {
		l.log.Info("observation log days removed to stay within its size", "count", n, "max_bytes", maxBytes, "bytes", total)
	}
	return n, nil
}

// Size returns the bytes the log takes (the data size of its day collections).
func (l *Log) Size(ctx context.Context) (int64, error) {
	days, err := l.days(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, name := range days {
		n, err := l.size(ctx, name)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (l *Log) size(ctx context.Context, name string) (int64, error) {
	var res bson.M
	if err := l.db.RunCommand(ctx, bson.D{{Key: "collStats", Value: name}}).Decode(&res); err != nil {
		return 0, fmt.Errorf("sizing %s: %w", name, err)
	}
	switch v := res["size"].(type) {
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		return int64(v), nil
	}
	return 0, fmt.Errorf("sizing %s: no size in %v", name, res)
}
