package lease_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/lease"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// clock is a manual clock shared by the replicas of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOneLeaderAndTakeOverAfterExpiry(t *testing.T) {
	ctx := context.Background()
	db := testkit.Store(t).DB
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := lease.Options{TTL: 15 * time.Second, Logger: testkit.Logger(), Now: clk.now}
	a := lease.New(db, "scheduler", "replica-a", opts)
	b := lease.New(db, "scheduler", "replica-b", opts)

	for range 3 {
		for _, l := range []*lease.Lease{a, b} {
			if err := l.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clk.add(5 * time.Second)
	}
	if !a.Leading() || b.Leading() {
		t.Fatalf("a leading=%v b leading=%v: want exactly a (first to ask)", a.Leading(), b.Leading())
	}
	// a dies (stops renewing). b takes over once the lease expires, not before.
	clk.add(5 * time.Second)
	if err := b.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Leading() {
		t.Fatal("b took over before the lease expired")
	}
	clk.add(11 * time.Second)
	if err := b.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.Leading() || b.Term() != 2 {
		t.Fatalf("b leading=%v term=%d after expiry, want term 2", b.Leading(), b.Term())
	}
	if a.Leading() {
		t.Fatal("a still believes it leads after its lease ran out")
	}
	// a comes back: it must not take the lease back while b renews.
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Leading() {
		t.Fatal("a resumed leading over b")
	}
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	ctx := context.Background()
	db := testkit.Store(t).DB
	var ls []*lease.Lease
	for i := range 8 {
		ls = append(ls, lease.New(db, "race", "r"+string(rune('a'+i)), lease.Options{TTL: time.Minute, Logger: testkit.Logger()}))
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { _ = l.Step(ctx) })
	}
	wg.Wait()
	leaders := 0
	for _, l := range ls {
		if l.Leading() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders, want 1", leaders)
	}
}
