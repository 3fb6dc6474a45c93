package assets_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// sharedStores are the stores two replicas can share: one in memory always, and the
// shared FerretDB (as two cmdb processes on one MongoDB) without -short. Each returns
// what one more replica opens.
func sharedStores() map[string]func(t *testing.T) func() assets.Repository {
	return map[string]func(t *testing.T) func() assets.Repository{
		"mem": func(*testing.T) func() assets.Repository {
			st := assets.NewMemStore()
			return func() assets.Repository { return st }
		},
		"ferretdb": func(t *testing.T) func() assets.Repository {
			testkit.Integration(t)
			s := testkit.SharedStore(t)
			return func() assets.Repository {
				st, err := assets.OpenStore(context.Background(), s)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		},
	}
}

// onSharedStores runs test once per shared store, as a subtest named after it.
func onSharedStores(t *testing.T, test func(t *testing.T, replicas func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service))) {
	for name, open := range sharedStores() {
		t.Run(name, func(t *testing.T) {
			next := open(t)
			test(t, func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service) {
				return replicas(t, now, next)
			})
		})
	}
}

// replicas opens two asset services on one shared store, with one clock.
func replicas(t *testing.T, now *time.Time, next func() assets.Repository) (*assets.Service, *assets.Service) {
	t.Helper()
	open := func() *assets.Service {
		svc, err := assets.NewService(context.Background(), next(), assets.Options{Logger: testkit.Logger(), Now: func() time.Time { return *now }})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	return open(), open()
}

func TestChangeFeedBetweenReplicas(t *testing.T) {
	onSharedStores(t, func(t *testing.T, replicas func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service)) {
		ctx := context.Background()
		f := &fixture{t: t, now: t0}
		a, b := replicas(t, &f.now)
		f.svc = a

		created := f.apply(f.obs(snmp("10.0.0.5", "pump-1")))[0].Asset
		if _, ok := b.Get(created.ID); ok {
			t.Fatal("replica B knows the asset before polling")
		}
		outs, err := b.Refresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(outs) != 1 || !outs[0].Created || outs[0].Asset.ID != created.ID {
			t.Fatalf("first poll: %+v", outs)
		}
		if got, _ := b.Get(created.ID); got.Status != assets.StatusOperational || got.Name != "pump-1" {
			t.Fatalf("B sees %s %q", got.Status, got.Name)
		}
		// The overlap reads the same write again: it changes nothing.
		if outs, err = b.Refresh(ctx); err != nil || len(outs) != 0 {
			t.Fatalf("second poll: %d outcomes, err %v", len(outs), err)
		}

		// A condition raised through A reaches B as a raised condition.
		f.apply(f.obs(func(o *observation.Observation) {
			snmp("10.0.0.5", "pump-1")(o)
			o.State, o.Conditions = observation.StateDown, []string{observation.CondSNMPUnreachable}
		}))
		outs, _ = b.Refresh(ctx)
		if len(outs) != 1 || !slices.Equal(outs[0].Raised, []string{observation.CondSNMPUnreachable}) || outs[0].StatusBefore != assets.StatusOperational {
			t.Fatalf("B after the failure: %+v", outs)
		}

		// B edits the asset; A's copy is now stale. A's next write conflicts, A reloads,
		// and the batch goes through when the collector sends it again.
		owner := "biomed-east"
		if _, err := b.Update(ctx, created.ID, assets.Edit{Owner: &owner}, "alice", "req-b"); err != nil {
			t.Fatal(err)
		}
		up := f.obs(snmp("10.0.0.5", "pump-1"))
		if _, err := a.Apply(ctx, []observation.Observation{up}, "req-a"); !errors.Is(err, assets.ErrConflict) {
			t.Fatalf("stale write on A: err %v, want ErrConflict", err)
		}
		if _, err := a.Apply(ctx, []observation.Observation{up}, "req-a"); err != nil {
			t.Fatalf("retry after reload: %v", err)
		}
		got, _ := a.Get(created.ID)
		if got.Status != assets.StatusOperational || got.Biomed.Owner != owner {
			t.Fatalf("A after retry: %s owner %q (B's edit must survive)", got.Status, got.Biomed.Owner)
		}
		b.Refresh(ctx)
		if got, _ := b.Get(created.ID); got.Status != assets.StatusOperational || got.Version != mustGet(t, a, created.ID).Version {
			t.Fatalf("B after A's retry: %s v%d", got.Status, got.Version)
		}
	})
}

func mustGet(t *testing.T, s *assets.Service, id string) *assets.Asset {
	t.Helper()
	a, ok := s.Get(id)
	if !ok {
		t.Fatalf("no asset %s", id)
	}
	return a
}

// TestOwnershipOfChannels: a replica that does not hear a collector neither expires
// its channels nor counts them stale; the one that hears it does.
func TestOwnershipOfChannels(t *testing.T) {
	onSharedStores(t, func(t *testing.T, replicas func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service)) {
		ctx := context.Background()
		f := &fixture{t: t, now: t0}
		a, b := replicas(t, &f.now)
		f.svc = a
		// Two collectors watch the same device; c1 reports through A, c2 through B.
		dev := f.apply(f.obs(snmp("10.0.0.9", "mon-9")))[0].Asset
		o2 := f.obs(snmp("10.0.0.9", "mon-9"))
		o2.ID, o2.Collector = "c2-1", "c2"
		b.Refresh(ctx)
		if _, err := b.Apply(ctx, []observation.Observation{o2}, "req"); err != nil {
			t.Fatal(err)
		}
		a.Refresh(ctx)
		a.SetOwnership(func(c string) bool { return c == "c1" })
		b.SetOwnership(func(c string) bool { return c == "c2" })

		// c2 keeps reporting (to B), c1 stops. Past c1's validity, A expires c1's channel
		// and the device stays known: c2's channel is B's to judge.
		for range 4 {
			f.now = f.now.Add(time.Minute)
			o := f.obs(snmp("10.0.0.9", "mon-9"))
			o.ID, o.Collector, o.Kind = o.ID+"-c2", "c2", observation.KindRefresh
			if _, err := b.Apply(ctx, []observation.Observation{o}, "req"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.Expire(ctx); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, a, dev.ID)
		if got.Status != assets.StatusOperational {
			t.Fatalf("after c1 expired on A: %s, want OPERATIONAL (c2 still watches it)", got.Status)
		}
		expired := map[string]bool{}
		for _, ch := range got.Channels {
			expired[ch.Collector] = ch.Expired
		}
		if !expired["c1"] || expired["c2"] {
			t.Fatalf("expired channels %v, want c1 only", expired)
		}
		// B expires nothing of c1's: A did, and B learns it from the feed.
		if outs, err := b.Expire(ctx); err != nil || len(outs) != 0 {
			t.Fatalf("B expired %d assets (err %v), want none", len(outs), err)
		}
	})
}

func TestCollectorRecord(t *testing.T) {
	onSharedStores(t, func(t *testing.T, replicas func(t *testing.T, now *time.Time) (*assets.Service, *assets.Service)) {
		ctx := context.Background()
		now := t0
		a, b := replicas(t, &now)
		out, err := a.SetCollectorState(ctx, "site-north-1", "north", false, now)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Created || out.Asset.Class != assets.ClassCollector || out.Asset.Status != assets.StatusOperational {
			t.Fatalf("first sight: %+v", out)
		}
		// B never polled: it finds A's record through the identity claim, not a second one.
		outB, err := b.SetCollectorState(ctx, "site-north-1", "north", false, now)
		if err != nil {
			t.Fatal(err)
		}
		if outB.Asset.ID != out.Asset.ID || !outB.Duplicate {
			t.Fatalf("B: %+v, want A's record unchanged", outB)
		}
		if list, n := b.List(assets.Filter{Class: assets.ClassCollector}, 0, 10); n != 1 || list[0].ID != out.Asset.ID {
			t.Fatalf("collectors on B: %d", n)
		}
		if _, n := b.List(assets.Filter{}, 0, 10); n != 0 {
			t.Fatalf("an unfiltered list shows %d records, want none (collectors only on request)", n)
		}

		now = now.Add(time.Minute)
		silent, err := a.SetCollectorState(ctx, "site-north-1", "north", true, now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(silent.Raised, []string{observation.CondCollectorSilent}) || silent.Asset.Status != assets.StatusDown {
			t.Fatalf("silent: raised %v status %s", silent.Raised, silent.Asset.Status)
		}
		if s, known := a.CollectorSilent("SITE-NORTH-1"); !s || !known {
			t.Fatalf("CollectorSilent = %v, %v", s, known)
		}
		again, _ := a.SetCollectorState(ctx, "site-north-1", "north", true, now.Add(time.Second))
		if !again.Duplicate {
			t.Fatal("the same state again was written")
		}
		// Never UNKNOWN by itself: the record does not expire.
		now = now.Add(48 * time.Hour)
		if outs, _ := a.Expire(ctx); len(outs) != 0 {
			t.Fatalf("expiry touched %d records", len(outs))
		}
		back, _ := a.SetCollectorState(ctx, "site-north-1", "north", false, now)
		if !slices.Equal(back.Cleared, []string{observation.CondCollectorSilent}) || back.Asset.Status != assets.StatusOperational {
			t.Fatalf("heard again: cleared %v status %s", back.Cleared, back.Asset.Status)
		}
	})
}
