package incidents_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// clock is a settable time source for engine logic tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordSink records notifications like a service desk that accepts everything,
// deduplicating by id as the outbox does.
type recordSink struct {
	mu   sync.Mutex
	list []*incidents.Notification
}

func (r *recordSink) Write(_ context.Context, n *incidents.Notification) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.ContainsFunc(r.list, func(x *incidents.Notification) bool { return x.ID == n.ID }) {
		r.list = append(r.list, n)
	}
	return 1, nil
}

func (r *recordSink) events(incidentID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.list {
		if incidentID == "" || n.Incident.ID == incidentID {
			out = append(out, n.Event)
		}
	}
	return out
}

func (r *recordSink) all() []*incidents.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}
