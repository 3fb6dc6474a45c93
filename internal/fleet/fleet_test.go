package fleet_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/fleet"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

type leader struct{ on bool }

func (l *leader) Leading() bool { return l.on }

type recorder struct {
	mu   sync.Mutex
	outs []assets.Outcome
}

func (r *recorder) Handle(_ context.Context, outs []assets.Outcome) error {
	r.mu.Lock()
	r.outs = append(r.outs, outs...)
	r.mu.Unlock()
	return nil
}

// TestTwoReplicasOneCollectorGoesSilent: collector c1 reports to replica A, c2 to
// replica B (the leader). Each replica owns the channels of the collector it hears;
// when c1 stops, the leader marks it silent once the validity of its last report ran
// out (plus the shared record's lag and a grace), and takes over its channels; when
// it reports again it is heard again.
func TestTwoReplicasOneCollectorGoesSilent(t *testing.T) {
	ctx := context.Background()
	s := testkit.SharedStore(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ast, err := assets.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	la, lb := &leader{}, &leader{on: true}
	opts := func(name string, l fleet.Leader) fleet.Options {
		return fleet.Options{Replica: name, Leader: l, Registry: reg, Handler: rec, Logger: testkit.Logger(), Now: clock, Interval: time.Second}
	}
	a, b := fleet.New(s.DB, opts("A", la)), fleet.New(s.DB, opts("B", lb))
	span := 30 * time.Second
	step := func(d time.Duration, reports func()) {
		t.Helper()
		for end := now.Add(d); now.Before(end); now = now.Add(time.Second) {
			if reports != nil {
				reports()
			}
			for _, tr := range []*fleet.Tracker{a, b} {
				if err := tr.Step(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	both := func() { a.Seen("c1", "north", span); b.Seen("c2", "south", span) }

	step(5*time.Second, both)
	for _, name := range []string{"c1", "c2"} {
		if s, known := reg.CollectorSilent(name); !known || s {
			t.Fatalf("%s: silent %v known %v after its first reports", name, s, known)
		}
	}
	// Within the first span a replica does not yet own a collector it just heard.
	if a.Owns("c1") {
		t.Fatal("A owns c1 before hearing it for a whole span")
	}
	step(span, both)
	if !a.Owns("c1") || a.Owns("c2") || b.Owns("c1") || !b.Owns("c2") {
		t.Fatalf("ownership A(c1 %v, c2 %v) B(c1 %v, c2 %v), want each its own", a.Owns("c1"), a.Owns("c2"), b.Owns("c1"), b.Owns("c2"))
	}
	if n := len(rec.outs); n != 2 {
		t.Fatalf("%d outcomes handled, want the two records' creations", n)
	}

	// c1 stops. Before its span plus grace passes it is not silent.
	only2 := func() { b.Seen("c2", "south", span) }
	step(span, only2)
	if s, _ := reg.CollectorSilent("c1"); s {
		t.Fatal("c1 silent before the validity of its last report ran out")
	}
	if b.Owns("c1") {
		t.Fatal("the leader took c1's channels before it was silent")
	}
	// The shared record may trail by a quarter span (7.5 s), and the grace is 2 s.
	step(10*time.Second, only2)
	if s, _ := reg.CollectorSilent("c1"); !s {
		t.Fatal("c1 not silent a quarter span plus grace past its validity")
	}
	if s, _ := reg.CollectorSilent("c2"); s {
		t.Fatal("c2 silent although it reports")
	}
	last := rec.outs[len(rec.outs)-1]
	if !slices.Equal(last.Raised, []string{observation.CondCollectorSilent}) {
		t.Fatalf("last outcome raised %v", last.Raised)
	}
	if !b.Owns("c1") || a.Owns("c1") {
		t.Fatalf("silent c1: owned by leader %v, by A %v; want the leader only", b.Owns("c1"), a.Owns("c1"))
	}

	// c1 comes back (to B this time): heard again, and B owns it after a span.
	step(3*time.Second, func() { b.Seen("c1", "north", span); only2() })
	if s, _ := reg.CollectorSilent("c1"); s {
		t.Fatal("c1 still silent after reporting again")
	}
	if b.Owns("c1") {
		t.Fatal("B owns c1's channels at once after it moved there")
	}
	for _, r := range b.Records() {
		if r.Name == "c1" && r.Replica != "B" {
			t.Fatalf("c1's record names replica %q, want B", r.Replica)
		}
	}
}
