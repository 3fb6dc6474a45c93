package lograte

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock whose scheduled functions run when it is advanced past
// their time.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []timer
}

type timer struct {
	at time.Time
	f  func()
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, timer{c.t.Add(d), f})
}

// Advance moves the clock by d, running every function due by then.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.t) {
			due = append(due, tm.f)
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func (c *clock) pending() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.timers) }

func newTest(t *testing.T) (*Limiter, *clock, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	c := &clock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	return New(log, 10*time.Second, Options{Now: c.Now, AfterFunc: c.AfterFunc}), c, &buf
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestFirstEventAtOnceThenOneSummaryPerInterval(t *testing.T) {
	l, c, buf := newTest(t)
	l.Warn("per_peer", "refused", "peer", "p0")
	got := lines(buf)
	if len(got) != 1 || got[0] != `level=WARN msg=refused peer=p0` {
		t.Fatalf("first event: %q, want it logged at once and unchanged", got)
	}
	// 1,000 more within the interval: nothing now, one summary at its end naming the
	// last event and the count.
	for i := range 1000 {
		c.Advance(5 * time.Millisecond)
		l.Warn("per_peer", "refused", "peer", fmt.Sprintf("p%d", i+1))
	}
	if got := lines(buf); got != nil {
		t.Fatalf("lines within the interval: %q", got)
	}
	c.Advance(5 * time.Second) // 10 s after the first line
	got = lines(buf)
	if len(got) != 1 || got[0] != `level=WARN msg=refused peer=p1000 suppressed=1000 interval=10s` {
		t.Fatalf("summary: %q", got)
	}
	// Nothing more happens: no further line, no timer left behind.
	c.Advance(time.Minute)
	if got := lines(buf); got != nil || c.pending() != 0 {
		t.Fatalf("after the flood: lines %q, %d timers pending", got, c.pending())
	}
	// A later event is a first occurrence again.
	l.Warn("per_peer", "refused", "peer", "late")
	if got := lines(buf); len(got) != 1 || got[0] != `level=WARN msg=refused peer=late` {
		t.Fatalf("event after a quiet interval: %q", got)
	}
}

func TestSustainedFloodIsOneLinePerIntervalWithExactCounts(t *testing.T) {
	l, c, buf := newTest(t)
	// 100 events a second for 60 s.
	for range 6000 {
		l.Warn("k", "refused")
		c.Advance(10 * time.Millisecond)
	}
	c.Advance(10 * time.Second)
	got := lines(buf)
	if len(got) < 6 || len(got) > 8 {
		t.Fatalf("%d lines for a 60 s flood with a 10 s interval, want 6 to 8:\n%s", len(got), strings.Join(got, "\n"))
	}
	total := 0
	for i, line := range got {
		if i == 0 { // the first event, logged as it came
			total++
			continue
		}
		// A summary line stands for the n events suppressed before it.
		n := 0
		j := strings.Index(line, "suppressed=")
		if j < 0 {
			t.Fatalf("line %d %q has no count", i, line)
		}
		fmt.Sscanf(line[j:], "suppressed=%d", &n)
		total += n
	}
	if total != 6000 {
		t.Fatalf("lines account for %d events, want 6000:\n%s", total, strings.Join(got, "\n"))
	}
}

func TestKindsAreIndependent(t *testing.T) {
	l, c, buf := newTest(t)
	l.Warn("per_peer", "refused", "reason", "per_peer")
	l.Warn("max_connections", "refused", "reason", "max_connections")
	l.Warn("per_peer", "refused", "reason", "per_peer")
	l.Info("rejected", "message rejected")
	if got := lines(buf); len(got) != 3 {
		t.Fatalf("three kinds, first events: %q", got)
	}
	c.Advance(10 * time.Second)
	got := lines(buf)
	if len(got) != 1 || !strings.Contains(got[0], "reason=per_peer suppressed=1") {
		t.Fatalf("summaries: %q, want one for per_peer", got)
	}
}

func TestEventAfterIntervalCarriesTheCount(t *testing.T) {
	// With no summary timer run (a clock that never fires), the next event past the
	// interval still reports what was suppressed before it.
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Second, Options{
		Now: func() time.Time { return now }, AfterFunc: func(time.Duration, func()) {},
	})
	l.Warn("k", "m")
	l.Warn("k", "m")
	l.Warn("k", "m")
	now = now.Add(time.Second)
	l.Warn("k", "m", "peer", "x")
	got := lines(&buf)
	if len(got) != 2 || !strings.HasSuffix(got[1], "msg=m peer=x suppressed=2 interval=1s") {
		t.Fatalf("lines %q", got)
	}
}

func TestFlushAndBoundedKinds(t *testing.T) {
	l, _, buf := newTest(t)
	for i := range 2 * maxKinds {
		key := fmt.Sprint(i)
		l.Warn(key, "m")
		l.Warn(key, "m")
	}
	if n := len(l.kinds); n != maxKinds {
		t.Fatalf("%d kinds tracked, want the bound %d", n, maxKinds)
	}
	buf.Reset()
	l.Flush()
	got := lines(buf)
	// One summary per kind tracked: the overflow kind's counts every key past the bound.
	if len(got) != maxKinds {
		t.Fatalf("flush wrote %d lines, want %d", len(got), maxKinds)
	}
	if last := got[len(got)-1]; !strings.Contains(strings.Join(got, "\n"), fmt.Sprintf("suppressed=%d", 2*(2*maxKinds-(maxKinds-1))-1)) {
		t.Fatalf("no overflow summary counting every event of the keys past the bound; last line %q", last)
	}
	l.Flush()
	if got := lines(buf); got != nil {
		t.Fatalf("second flush: %q", got)
	}
}

func TestDisabledLevelCostsNothing(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), time.Second, Options{})
	l.Warn("k", "m")
	if buf.Len() != 0 || len(l.kinds) != 0 {
		t.Fatalf("disabled level: wrote %q, tracked %d kinds", buf.String(), len(l.kinds))
	}
}
