// Package lograte keeps a misbehaving peer from flooding the log. The first event of a
// kind is logged at once; later events of that kind within the interval are counted,
// and one summary line per interval says how many there were. A flood of ten thousand
// refused connections becomes one line every interval, and nothing is hidden: the
// count is in the line.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the interval used when New is given none.
const DefaultInterval = 10 * time.Second

// maxKinds bounds the kinds tracked (the shared overflow entry included), so a caller
// building keys from input cannot grow the map without limit.
const maxKinds = 256

// overflowKey is the kind every key past maxKinds is counted under.
const overflowKey = "\x00other"

// Options are a Limiter's collaborators; tests inject a clock.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// AfterFunc runs f once after d; default time.AfterFunc. It schedules the
	// summary line of events suppressed in an interval no later event ends.
	AfterFunc func(d time.Duration, f func())
}

// Limiter rate-limits log lines per kind. It is safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time
	after func(time.Duration, func())

	mu    sync.Mutex
	kinds map[string]*kind
}

// kind is the state of one key.
type kind struct {
	next      time.Time // no line before this
	n         int       // events suppressed since the last line
	level     slog.Level
	msg       string
	args      []any // of the last suppressed event, shown in the summary
	scheduled bool  // a summary is scheduled
}

// New returns a Limiter writing to log at most one line per kind per every (<= 0:
// DefaultInterval).
func New(log *slog.Logger, every time.Duration, opts Options) *Limiter {
	if log == nil {
		log = slog.Default()
	}
	if every <= 0 {
		every = DefaultInterval
	}
	l := &Limiter{log: log, every: every, now: opts.Now, after: opts.AfterFunc, kinds: map[string]*kind{}}
	if l.now == nil {
		l.now = time.Now
	}
	if l.after == nil {
		l.after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return l
}

// Interval returns the interval between two lines of one kind.
func (l *Limiter) Interval() time.Duration { return l.every }

// Warn is Log at slog.LevelWarn.
func (l *Limiter) Warn(key, msg string, args ...any) { l.Log(slog.LevelWarn, key, msg, args...) }

// Info is Log at slog.LevelInfo.
func (l *Limiter) Info(key, msg string, args ...any) { l.Log(slog.LevelInfo, key, msg, args...) }

// Log writes msg with args at level if no line of kind key was written in the last
// interval; otherwise it counts the event, and the next line of that kind (the next
// event after the interval, or a summary at the interval's end) carries
// "suppressed"=count. key names a kind of event, a reason such as "per_peer", never a
// peer or anything else a sender chooses.
func (l *Limiter) Log(level slog.Level, key, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[key]
	if k == nil {
		if len(l.kinds) >= maxKinds-1 {
			key = overflowKey
			k = l.kinds[key]
		}
		if k == nil {
			k = &kind{}
			l.kinds[key] = k
		}
	}
	now := l.now()
	if !now.Before(k.next) {
		l.write(k, now, level, msg, args)
		return
	}
	k.n++
	k.level, k.msg = level, msg
	k.args = append(k.args[:0], args...)
	if !k.scheduled {
		k.scheduled = true
		l.after(k.next.Sub(now), func() { l.fire(k) })
	}
}

// write logs one line (with the count suppressed before it, if any) and starts a new
// interval. l.mu is held: lines of one kind come out in order.
func (l *Limiter) write(k *kind, now time.Time, level slog.Level, msg string, args []any) {
	if k.n > 0 {
		args = append(args[:len(args):len(args)], "suppressed", k.n, "interval", l.every)
	}
	l.log.Log(context.Background(), level, msg, args...)
	k.n, k.args = 0, k.args[:0]
	k.next = now.Add(l.every)
}

// fire writes the summary of events suppressed in an interval that no later event
// closed.
func (l *Limiter) fire(k *kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k.scheduled = false
	if k.n == 0 {
		return
	}
	now := l.now()
	if now.Before(k.next) { // woken early: try again at the end of the interval
		k.scheduled = true
		l.after(k.next.Sub(now), func() { l.fire(k) })
		return
	}
	l.write(k, now, k.level, k.msg, k.args)
}

// Flush writes the summaries of every kind with suppressed events now, for a clean
// shutdown.
func (l *Limiter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range l.kinds {
		if k.n > 0 {
			l.write(k, now, k.level, k.msg, k.args)
		}
	}
}
