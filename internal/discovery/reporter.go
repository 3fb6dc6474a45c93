package discovery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/internal/lograte"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Sender delivers one batch of observations to the cmdb. An error means nothing in the
// batch may be assumed applied; the reporter sends it again (ids make that safe).
type Sender interface {
	Send(ctx context.Context, batch []observation.Observation) error
}

// Reporter queues observations in order and sends them in batches: when a batch is
// full or the flush interval passes. A failed send is retried with backoff, keeping
// order. When the queue is full the oldest refreshes go first, then the oldest
// anything: a state change is the last thing to lose.
//
// With a spool, the in-memory queue only holds what arrived since the last flush: every
// flush first writes it to the spool (one fsync per batch), and batches are then sent
// from the spool's head, which moves only when the cmdb acknowledged them.
//
// A spool that cannot write (disk full, I/O errors) is an outage of the spool, not of
// delivery: what it cannot take stays in memory, after what it holds, bounded by the
// queue size and dropped in the same order; once the spool is empty batches are sent
// from memory. Each failed write is counted by reason, the state is a gauge, and the
// log says so at most once a minute.
type Reporter struct {
	send     Sender
	log      *slog.Logger
	metrics  *collectorMetrics
	batch    int
	interval time.Duration
	max      int
	spool    *Spool

	spooled atomic.Int64 // spool length at the last persist or flush

	// Touched by Run's goroutine only.
	degraded    bool // the last append to the spool failed
	failedSince int  // failed appends since the spool last wrote

	// Drops are logged at most every 10 s, the spool's state at most once a minute,
	// each line with the count of those it stands for.
	dropLogs  *lograte.Limiter
	spoolLogs *lograte.Limiter

	mu         sync.Mutex
	queue      []observation.Observation
	persisting int // observations taken from queue by persist, not yet in the spool
	dropped    uint64
	kick       chan struct{}
}

// NewReporter returns a reporter with an in-memory queue of at most max observations.
func newReporter(s Sender, batch int, interval time.Duration, max int, m *collectorMetrics, log *slog.Logger) *Reporter {
	log = log.With("component", "reporter")
	return &Reporter{
		send: s, log: log, metrics: m,
		batch: batch, interval: interval, max: max,
		kick:      make(chan struct{}, 1),
		dropLogs:  lograte.New(log, 10*time.Second, lograte.Options{}),
		spoolLogs: lograte.New(log, time.Minute, lograte.Options{}),
	}
}

// Emit queues one observation. It never blocks the caller on the network.
func (r *Reporter) Emit(o observation.Observation) {
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
		if o.Kind == observation.KindRefresh {
			victim = i
			break
		}
	}
	kind := r.queue[victim].Kind
	r.queue = append(r.queue[:victim], r.queue[victim+1:]...)
	r.dropped++
	r.metrics.spoolDropped(string(kind))
	r.dropLogs.Warn("queue_full", "observation queue full: dropping oldest", "kind", kind, "queue", r.max, "dropped_total", r.dropped)
}

// Pending returns the number of observations not yet delivered.
func (r *Reporter) Pending() int {
	r.mu.Lock()
	// What persist holds is counted until the spool counts it (for a moment, twice).
	n := len(r.queue) + r.persisting
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
				r.mu.Lock()
				lost := len(r.queue)
				r.mu.Unlock()
				if lost > 0 {
					r.log.Error("observations the spool could not take are lost with this exit", "count", lost)
				}
				_ = r.spool.Close()
			}
			r.dropLogs.Flush()
			r.spoolLogs.Flush()
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

// persist moves the in-memory queue into the spool, one group commit per batch. What
// a failing disk does not take stays in memory, in order, for the next flush to try
// again (and, while the spool is empty, to send from memory).
func (r *Reporter) persist() {
	if r.spool == nil {
		return
	}
	r.mu.Lock()
	pending := r.queue
	r.queue = nil
	r.persisting = len(pending)
	r.mu.Unlock()
	written := 0
	var err error
	for written < len(pending) && err == nil {
		n := min(r.batch, len(pending)-written)
		if err = r.spool.Append(pending[written : written+n]); err == nil {
			written += n
		}
	}
	r.mu.Lock()
	if written < len(pending) {
		r.queue = append(slices.Clip(pending[written:]), r.queue...)
		for len(r.queue) > r.max {
			r.dropOne()
		}
	}
	r.persisting = 0
	inMemory := len(r.queue)
	r.mu.Unlock()
	if err != nil {
		r.spoolFailed(err, inMemory)
	} else if written > 0 && r.degraded {
		r.degraded = false
		r.metrics.spoolDegraded.Set(0)
		r.spoolLogs.Info("spool_ok", "the spool writes again", "failed_appends", r.failedSince)
		r.failedSince = 0
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

// spoolErrorReasons label medcmdb_spool_write_errors_total.
var spoolErrorReasons = []string{"no_space", "quota", "read_only", "io", "full", "other"}

// spoolErrorReason names why a spool write failed.
func spoolErrorReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "no_space"
	case errors.Is(err, syscall.EDQUOT):
		return "quota"
	case errors.Is(err, syscall.EROFS):
		return "read_only"
	case errors.Is(err, syscall.EIO):
		return "io"
	case errors.Is(err, ErrSpoolFull):
		return "full"
	}
	return "other"
}

// spoolFailed records an append the spool could not take.
func (r *Reporter) spoolFailed(err error, inMemory int) {
	reason := spoolErrorReason(err)
	r.metrics.spoolErrors.WithLabelValues(reason).Inc()
	r.failedSince++
	if !r.degraded {
		r.degraded = true
		r.metrics.spoolDegraded.Set(1)
	}
	r.spoolLogs.Log(slog.LevelError, "spool_write", "the spool cannot write: observations wait in memory and are sent from there",
		"reason", reason, "in_memory", inMemory, "queue", r.max, "failed_appends", r.failedSince, "err", err)
}

// flushResult says what one flush did.
type flushResult int

const (
	flushIdle   flushResult = iota // nothing to send
	flushDone                      // sent, nothing more waiting
	flushMore                      // sent, more waiting
	flushFailed                    // not delivered: back off and retry
)

// flushOne sends the head batch: the spool's, or, without a spool or while it cannot
// write and has sent all it holds, the in-memory queue's.
func (r *Reporter) flushOne(ctx context.Context) flushResult {
	if r.spool != nil && (!r.degraded || r.spool.Len() > 0) {
		return r.flushSpool(ctx)
	}
	r.mu.Lock()
	n := min(len(r.queue), r.batch)
	if n == 0 {
		r.mu.Unlock()
		return flushIdle
	}
	batch := make([]observation.Observation, n)
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
	r.metrics.setSpool(r.Pending())
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
		// The cmdb has the batch and the head moved in memory: only a restart would
		// send it again, which ids make harmless. Delivery goes on.
		reason := spoolErrorReason(err)
		r.metrics.spoolErrors.WithLabelValues(reason).Inc()
		r.spoolLogs.Warn("spool_cursor", "the spool cannot record delivered batches; a restart would send them again", "reason", reason, "err", err)
	}
	left := r.Pending()
	r.metrics.setSpool(left)
	return more(r.spool.Len() > 0 || (r.degraded && left > 0))
}

// deliver sends one batch. It reports success; a batch the cmdb refuses as a whole
// with a client error is split to isolate the observation it cannot take, which is
// then dropped with an error log, so one bad record never blocks everything behind it.
func (r *Reporter) deliver(ctx context.Context, batch []observation.Observation) bool {
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
