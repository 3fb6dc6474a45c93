package incidents_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/docstore"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
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

// backends are the incident stores a test runs on: in memory always (the logic), and
// the embedded FerretDB without -short (the same test as an integration test).
func backends() map[string]func(t *testing.T) (*incidents.Store, *incidents.Outbox) {
	return map[string]func(t *testing.T) (*incidents.Store, *incidents.Outbox){
		"mem": func(*testing.T) (*incidents.Store, *incidents.Outbox) {
			return incidents.NewMemStore(), incidents.NewMemOutbox()
		},
		"ferretdb": func(t *testing.T) (*incidents.Store, *incidents.Outbox) {
			testkit.Integration(t)
			s := testkit.Store(t)
			st, err := incidents.OpenStore(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			ob, err := incidents.OpenOutbox(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			return st, ob
		},
	}
}

// onEachBackend runs test once per backend, as a subtest named after it.
func onEachBackend(t *testing.T, test func(t *testing.T, st *incidents.Store, ob *incidents.Outbox)) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			st, ob := open(t)
			test(t, st, ob)
		})
	}
}

// memMaintenance returns maintenance windows kept in memory.
func memMaintenance(t testing.TB, now func() time.Time) *incidents.Maintenance {
	t.Helper()
	m, err := incidents.NewMaintenance(context.Background(), docstore.Mem[incidents.Window]("maintenance_windows"), now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
