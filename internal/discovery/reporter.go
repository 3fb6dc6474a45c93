package discovery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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
type Reporter struct {
	send     Sender
	log      *slog.Logger
	metrics  *collectorMetrics
	batch    int
	interval time.Duration
	max      int

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
	r.mu.Lock()
	r.queue = append(r.queue, o)
	if len(r.queue) > r.max {
		r.dropOne()
	}
	n := len(r.queue)
	r.mu.Unlock()
	r.metrics.setSpool(n)
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

// Pending returns the number of queued observations.
func (r *Reporter) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
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
			for r.flushOne(fctx) {
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
		for {
			ok := r.flushOne(ctx)
			if !ok {
				break
			}
			backoff = 0
		}
		if r.Pending() > 0 && ctx.Err() == nil {
			backoff = nextBackoff(backoff)
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

// flushOne sends the head batch; it reports whether a batch was sent and more may follow.
func (r *Reporter) flushOne(ctx context.Context) bool {
	r.mu.Lock()
	n := min(len(r.queue), r.batch)
	if n == 0 {
		r.mu.Unlock()
		return false
	}
	batch := make([]Observation, n)
	copy(batch, r.queue[:n])
	r.mu.Unlock()

	err := r.send.Send(ctx, batch)
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		// Invalid observations will never be accepted; resending cannot help.
		r.log.Error("cmdb rejected observations", "count", rejected.Rejected, "first", rejected.First)
		err = nil
	}
	if err != nil {
		r.metrics.reportDone(false)
		if ctx.Err() == nil {
			r.log.Warn("sending observations to cmdb", "count", n, "err", err)
		}
		return false
	}
	r.metrics.reportDone(true)
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
	return left > 0
}
