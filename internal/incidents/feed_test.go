package incidents_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestChangeFeedBetweenEngines: two replicas on one shared store. What one writes
// (an opening, an acknowledgement, a resolution) the other sees after one poll, and
// a write from a stale copy conflicts, reloads and succeeds on retry.
func TestChangeFeedBetweenEngines(t *testing.T) {
	testkit.Integration(t) // the feed is read from the shared store
	ctx := context.Background()
	s := testkit.SharedStore(t)
	now := time.Now().UTC()
	svcA := seedAssets(t, ctx, s, []*assets.Asset{newAsset("vent01", "vent01", assets.ClassVentilator, "10.8.0.1", "ICU-1", "ICU", now)})
	ast, err := assets.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	svcB, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	engine := func(svc *assets.Service) *incidents.Engine {
		st, err := incidents.OpenStore(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		e, err := incidents.NewEngine(ctx, st, svc, incidents.EngineOptions{Logger: testkit.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := engine(svcA), engine(svcB)

	ingest(t, ctx, svcA, a, []observation.Observation{poll("10.8.0.1", true)})
	open := true
	list, n := a.List(incidents.Filter{Open: &open}, 0, 10)
	if n != 1 {
		t.Fatalf("A: %d open incidents", n)
	}
	id := list[0].ID
	if _, ok := b.Get(id); ok {
		t.Fatal("B knows the incident before polling")
	}
	if got, err := b.Refresh(ctx); err != nil || got != 1 {
		t.Fatalf("B's poll brought %d incidents (err %v), want 1", got, err)
	}
	if _, n := b.List(incidents.Filter{Open: &open}, 0, 10); n != 1 {
		t.Fatalf("B: %d open incidents", n)
	}

	// Acknowledged through A: B shows it after a poll.
	if _, err := a.Acknowledge(ctx, id, "nurse-desk", "on it"); err != nil {
		t.Fatal(err)
	}
	b.Refresh(ctx)
	if got, _ := b.Get(id); got.State != incidents.StateAcknowledged {
		t.Fatalf("B sees %s, want ACKNOWLEDGED", got.State)
	}
	if got, _ := b.Refresh(ctx); got != 0 {
		t.Fatalf("a poll with nothing new brought %d", got)
	}

	// B, now current, adds a note without conflict; A's copy is stale, so A's note
	// conflicts, A reloads, and the retry goes through with both notes kept.
	if _, err := b.AddNote(ctx, id, "biomed", "spare on its way"); err != nil {
		t.Fatalf("note through B: %v", err)
	}
	if _, err := a.AddNote(ctx, id, "noc", "switch fine"); !errors.Is(err, incidents.ErrConflict) {
		t.Fatalf("stale note through A: err %v, want ErrConflict", err)
	}
	inc, err := a.AddNote(ctx, id, "noc", "switch fine")
	if err != nil {
		t.Fatalf("retry on A: %v", err)
	}
	notes := 0
	for _, ev := range inc.Timeline {
		if ev.Kind == incidents.EventNote {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("%d notes on the timeline, want 2: %+v", notes, inc.Timeline)
	}

	// Resolved through B: A drops it from its open list after a poll.
	b.Refresh(ctx)
	if _, err := b.Resolve(ctx, id, "biomed", "replaced"); err != nil {
		t.Fatal(err)
	}
	a.Refresh(ctx)
	if _, n := a.List(incidents.Filter{Open: &open}, 0, 10); n != 0 {
		t.Fatalf("A still lists %d open incidents", n)
	}
}
