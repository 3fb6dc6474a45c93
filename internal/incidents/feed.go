package incidents

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The incident change feed keeps replicas sharing one MongoDB in step, like the
// asset feed (internal/assets/feed.go): an acknowledgement made through one replica
// shows on the others at their next poll, and a replica that writes an incident
// another changed meanwhile gets ErrConflict, reloads and converges.

// feed is the position of the change feed.
type feed struct {
	mu       sync.Mutex
	from     time.Time
	loadedAt time.Time
	// Overlap is how far back of the last poll a poll reads again (clock skew
	// between replicas plus the longest write).
	overlap time.Duration
}

// Refresh swaps into memory the incidents other replicas wrote since the last call
// and returns how many changed. On the embedded store (one writer) it reads nothing.
func (e *Engine) Refresh(ctx context.Context) (int, error) {
	e.feed.mu.Lock()
	defer e.feed.mu.Unlock()
	start := e.now()
	since := e.feed.from
	if since.IsZero() {
		since = e.feed.loadedAt
	}
	list, err := e.store.ChangedSince(ctx, since.Add(-e.feed.overlap))
	if err != nil {
		return 0, err
	}
	e.feed.from = start
	if len(list) == 0 {
		return 0, nil
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	n := 0
	for _, i := range list {
		cur, ok := e.Get(i.ID)
		if ok && i.Version <= cur.Version {
			continue
		}
		e.publish(i)
		e.mu.Lock()
		if !i.holdsKey() && i.ResolvedWhileActive {
			e.quiet[i.Key()] = true
		}
		e.mu.Unlock()
		n++
	}
	return n, nil
}

// ChangedSince reads the incidents written at or after since (the change feed; an
// index on updatedAt serves it on MongoDB). The embedded store has one writer: nil.
func (s *Store) ChangedSince(ctx context.Context, since time.Time) ([]*Incident, error) {
	if !s.versioned {
		return nil, nil
	}
	list, err := s.incidents.Since(ctx, "updatedAt", since)
	if err != nil {
		return nil, fmt.Errorf("reading changed incidents: %w", err)
	}
	return pointers(list), nil
}
