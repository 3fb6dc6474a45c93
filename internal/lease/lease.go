// Package lease elects one cmdb replica to run scheduled jobs, through a lease document
// with an expiry in the store. When the holder dies, its lease expires and another
// replica takes it over.
//
// Only one primitive is relied on for atomicity: inserting a document with a unique _id.
// MongoDB and FerretDB both guarantee it, whereas a read-then-update "compare and set"
// is not atomic on FerretDB. Each change of holder claims the next term by inserting
// {_id: "<name>#<term>"}; the replica whose insert succeeds owns that term. The lease
// document then records holder, term and expiry, renewed by its holder only.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Lease is one named lease; a replica runs one per lease name.
type Lease struct {
	name   string
	holder string
	ttl    time.Duration
	leases *mongo.Collection
	terms  *mongo.Collection
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	term    int64
	until   time.Time // our lease is valid until then (by our clock)
	leading bool
}

// Options tune a lease.
type Options struct {
	// TTL is how long a lease lasts without renewal; the holder renews every TTL/3.
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// New returns the lease name for this holder (a replica id unique per process).
func New(db *mongo.Database, name, holder string, o Options) *Lease {
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Lease{
		name: name, holder: holder, ttl: o.TTL,
		leases: db.Collection("leases"), terms: db.Collection("lease_terms"),
		log: o.Logger.With("component", "lease", "lease", name, "holder", holder), now: o.Now,
	}
}

type doc struct {
	ID        string    `bson:"_id"`
	Holder    string    `bson:"holder"`
	Term      int64     `bson:"term"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// Leading reports whether this replica holds the lease now. A job checks it right
// before running, so that a holder that lost the lease steps down before its next run.
func (l *Lease) Leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading && l.now().Before(l.until)
}

// Term returns the term this replica holds (0 when not leading).
func (l *Lease) Term() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading {
		return 0
	}
	return l.term
}

// Run keeps trying to acquire and renew the lease until ctx ends, then releases it.
func (l *Lease) Run(ctx context.Context) error {
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		if err := l.Step(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("lease step", "err", err)
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			l.release(rctx)
			cancel()
			return nil
		case <-tick.C:
		}
	}
}

// Step acquires, renews or gives up the lease once.
func (l *Lease) Step(ctx context.Context) error {
	now := l.now()
	var cur doc
	err := l.leases.FindOne(ctx, bson.M{"_id": l.name}).Decode(&cur)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		cur = doc{ID: l.name}
	case err != nil:
		l.stepDown("store unreachable")
		return fmt.Errorf("reading lease %s: %w", l.name, err)
	}
	l.mu.Lock()
	mine := l.leading && cur.Holder == l.holder && cur.Term == l.term
	l.mu.Unlock()
	switch {
	case mine:
		return l.renew(ctx, cur, now)
	case cur.Holder != "" && now.Before(cur.ExpiresAt):
		l.stepDown("held by " + cur.Holder)
		return nil
	default:
		return l.acquire(ctx, cur, now)
	}
}

// acquire claims the next term of an expired (or never taken) lease.
func (l *Lease) acquire(ctx context.Context, cur doc, now time.Time) error {
	next := cur.Term + 1
	_, err := l.terms.InsertOne(ctx, bson.M{"_id": l.name + "#" + strconv.FormatInt(next, 10), "holder": l.holder, "at": now})
	if mongo.IsDuplicateKeyError(err) {
		l.stepDown("term claimed by another replica")
		return nil
	}
	if err != nil {
		return fmt.Errorf("claiming term %d of %s: %w", next, l.name, err)
	}
	d := doc{ID: l.name, Holder: l.holder, Term: next, ExpiresAt: now.Add(l.ttl)}
	if _, err := l.leases.ReplaceOne(ctx, bson.M{"_id": l.name}, d, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("writing lease %s: %w", l.name, err)
	}
	l.mu.Lock()
	l.term, l.until, l.leading = next, now.Add(l.ttl), true
	l.mu.Unlock()
	l.log.Info("lease acquired", "term", next, "previous_holder", cur.Holder)
	return nil
}

// renew extends our own lease. Only the holder writes the document between terms.
func (l *Lease) renew(ctx context.Context, cur doc, now time.Time) error {
	// A replica that found our lease expired may have claimed the next term between
	// our read and this write: then it is the holder, not us.
	n, err := l.terms.CountDocuments(ctx, bson.M{"_id": l.name + "#" + strconv.FormatInt(cur.Term+1, 10)})
	if err != nil {
		return fmt.Errorf("checking term of %s: %w", l.name, err)
	}
	if n > 0 {
		l.stepDown("next term claimed by another replica")
		return nil
	}
	cur.ExpiresAt = now.Add(l.ttl)
	if _, err := l.leases.ReplaceOne(ctx, bson.M{"_id": l.name}, cur); err != nil {
		// Keep leading only until the lease we had runs out.
		return fmt.Errorf("renewing lease %s: %w", l.name, err)
	}
	l.mu.Lock()
	l.until = cur.ExpiresAt
	l.mu.Unlock()
	return nil
}

func (l *Lease) stepDown(why string) {
	l.mu.Lock()
	was := l.leading
	l.leading = false
	l.mu.Unlock()
	if was {
		l.log.Info("lease lost", "why", why)
	}
}

// release expires our lease at once on a clean shutdown, so another replica takes over
// without waiting for the TTL.
func (l *Lease) release(ctx context.Context) {
	l.mu.Lock()
	leading, term := l.leading, l.term
	l.leading = false
	l.mu.Unlock()
	if !leading {
		return
	}
	d := doc{ID: l.name, Holder: "", Term: term, ExpiresAt: l.now()}
	if _, err := l.leases.ReplaceOne(ctx, bson.M{"_id": l.name}, d); err != nil {
		l.log.Warn("releasing lease", "err", err)
		return
	}
	l.log.Info("lease released", "term", term)
}
