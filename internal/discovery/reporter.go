package discovery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sender delivers one batch of observations to the cmdb. An error means nothing in the
// batch may be assumed applied; the reporter sends it again (ids make that safe).
type Sender interface {
	Send(ctx context.Context, batch []Observation) error
}

// Reporter queues observations in order and sends them in batches: when a batch is
// full or the flush interval passes. A failed send is retried with backoff, keeping
// order. When the queue is full the oldest refreshes go first, then the oldest
// anything: a state change is the last thing to lose.
//
// With a spool, the in-memory queue only holds what arrived since the last flush: every
// flush first writes it to the spool (one fsync), and batches are then sent from the
// spool's head, which moves only when the cmdb acknowledged them.
type Reporter struct {
	send     Sender
	log      *slog.Logger
	metrics  *collectorMetrics
	batch    int
	interval time.Duration
	max      int
	spool    *Spool

	spooled atomic.Int64 // spool length at the last persist or flush

	mu      sync.Mutex
	queue   []Observation
	dropped uint64
	kick    chan struct{}
}

// NewReporter returns a reporter with an in-memory queue of at most max observations.
func newReporter(s Sender, batch int, interval time.Duration, max int, m *collectorMetrics, log *slog.Logger) *Reporter {
	return &Reporter{
		send: s, log: log.With("component", "reporter"), metrics: m,
		batch: batch, interval: interval, max: max,
		kick: make(chan struct{}, 1),
	}
}

// Emit queues one observation. It never blocks the caller on the network.
func (r *Reporter) Emit(o Observation) {
	r.metrics.emit(o.Kind)
	r.mu.Lock()
	r.queue = append(r.queue, o)
	if len(r.queue) > r.max {
		r.dropOne()
	}
	n := len(r.queue)
	r.mu.Unlock()
	// The spool's own count is taken under its lock, held across fsync: Emit uses the
	// reporter's last reading instead, never waiting on the disk.
	r.metrics.setSpool(n + int(r.spooled.Load()))
	if n >= r.batch {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// dropOne removes the oldest refresh, or the oldest observation if there is none (r.mu held).
func (r *Reporter) dropOne() {
	victim := 0
	for i, o := range r.queue {
		if o.Kind == KindRefresh {
			victim = i
			break
		}
	}
	kind := r.queue[victim].Kind
	r.queue = append(r.queue[:victim], r.queue[victim+1:]...)
	r.dropped++
	r.metrics.spoolDropped(string(kind))
	if r.dropped == 1 || r.dropped%1000 == 0 {
		r.log.Warn("observation queue full: dropping oldest", "kind", kind, "dropped_total", r.dropped)
	}
}

// Pending returns the number of observations not yet delivered.
func (r *Reporter) Pending() int {
	r.mu.Lock()
	n := len(r.queue)
	r.mu.Unlock()
	if r.spool != nil {
		sp := r.spool.Len()
		r.spooled.Store(int64(sp))
		n += sp
	}
	return n
}

// Run sends batches until ctx ends, then makes one last attempt to flush.
func (r *Reporter) Run(ctx context.Context) error {
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r.persist()
			for r.flushOne(fctx) == flushMore {
			}
			if r.spool != nil {
				if n := r.spool.Len(); n > 0 {
					r.log.Info("observations left in the spool for the next start", "count", n)
				}
				_ = r.spool.Close()
			}
			return nil
		case <-ticker.C:
		case <-r.kick:
		}
		if backoff > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				continue
			}
		}
		r.persist()
		res := r.flushOne(ctx)
		for res == flushMore {
			res = r.flushOne(ctx)
		}
		// Only a failed send backs off: observations that arrived while a batch was
		// on its way are simply the next batch.
		if res == flushFailed && ctx.Err() == nil {
			backoff = nextBackoff(backoff)
		} else {
			backoff = 0
		}
	}
}

func nextBackoff(b time.Duration) time.Duration {
	switch {
	case b == 0:
		return 250 * time.Millisecond
	case b >= 15*time.Second:
		return 30 * time.Second
	default:
		return 2 * b
	}
}

// persist moves the in-memory queue into the spool (group commit). On a disk error the
// observations stay in memory and the next flush tries again.
func (r *Reporter) persist() {
	if r.spool == nil {
		return
	}
	r.mu.Lock()
	pending := r.queue
	r.queue = nil
	r.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	if err := r.spool.Append(pending); err != nil {
		r.log.Error("writing observations to the spool; keeping them in memory", "count", len(pending), "err", err)
		r.mu.Lock()
		r.queue = append(pending, r.queue...)
		r.mu.Unlock()
		return
	}
	for kind, n := range r.spool.Dropped() {
		r.dropped += uint64(n)
		for range n {
			r.metrics.spoolDropped(string(kind))
		}
		r.log.Warn("spool full: dropped oldest observations", "kind", kind, "count", n, "dropped_total", r.dropped)
	}
	r.metrics.setSpool(r.Pending())
}

// flushResult says what one flush did.
type flushResult int

const (
	flushIdle   flushResult = iota // nothing to send
	flushDone                      // sent, nothing more waiting
	flushMore                      // sent, more waiting
	flushFailed                    // not delivered: back off and retry
)

// flushOne sends the head batch.
func (r *Reporter) flushOne(ctx context.Context) flushResult {
	if r.spool != nil {
		return r.flushSpool(ctx)
	}
	r.mu.Lock()
	n := min(len(r.queue), r.batch)
	if n == 0 {
		r.mu.Unlock()
		return flushIdle
	}
	batch := make([]Observation, n)
	copy(batch, r.queue[:n])
	r.mu.Unlock()

	if !r.deliver(ctx, batch) {
		return flushFailed
	}
	r.mu.Lock()
	// The head may have lost refreshes to dropOne while we were sending; remove by id.
	sent := make(map[string]struct{}, n)
	for _, o := range batch {
		sent[o.ID] = struct{}{}
	}
	kept := r.queue[:0]
	for _, o := range r.queue {
		if _, ok := sent[o.ID]; !ok {
			kept = append(kept, o)
		}
	}
	clear(r.queue[len(kept):])
	r.queue = kept
	left := len(r.queue)
	r.mu.Unlock()
	r.metrics.setSpool(left)
	return more(left > 0)
}

func more(m bool) flushResult {
	if m {
		return flushMore
	}
	return flushDone
}

// flushSpool sends the batch at the spool's head and commits it once delivered.
func (r *Reporter) flushSpool(ctx context.Context) flushResult {
	batch, next, err := r.spool.Peek(r.batch)
	if err != nil {
		r.log.Error("reading the spool", "err", err)
		return flushFailed
	}
	if len(batch) == 0 {
		return flushIdle
	}
	if !r.deliver(ctx, batch) {
		return flushFailed
	}
	if err := r.spool.Commit(next, len(batch)); err != nil {
		// The batch may be sent again after a restart: ids make that harmless.
		r.log.Error("moving the spool head", "err", err)
		return flushFailed
	}
	left := r.Pending()
	r.metrics.setSpool(left)
	return more(r.spool.Len() > 0)
}

// deliver sends one batch. It reports success; a batch the cmdb refuses as a whole
// with a client error is split to isolate the observation it cannot take, which is
// then dropped with an error log, so one bad record never blocks everything behind it.
func (r *Reporter) deliver(ctx context.Context, batch []Observation) bool {
	err := r.send.Send(ctx, batch)
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		// Invalid observations will never be accepted; resending cannot help.
		r.log.Error("cmdb rejected observations", "count", rejected.Rejected, "first", rejected.First)
		err = nil
	}
	var ce *ClientError
	if errors.As(err, &ce) && ce.Permanent() {
		r.metrics.reportDone(false)
		if len(batch) == 1 {
			r.log.Error("cmdb refuses an observation; dropping it", "id", batch[0].ID, "kind", batch[0].Kind, "err", err)
			r.metrics.spoolDropped("rejected")
			return true
		}
		half := len(batch) / 2
		return r.deliver(ctx, batch[:half]) && r.deliver(ctx, batch[half:])
	}
	if err != nil {
		r.metrics.reportDone(false)
		if ctx.Err() == nil {
			r.log.Warn("sending observations to cmdb", "count", len(batch), "err", err)
		}
		return false
	}
	r.metrics.reportDone(true)
	r.metrics.deliveredN(len(batch))
	return true
}
