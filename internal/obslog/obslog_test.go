package obslog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func obs(i int, at time.Time, kind observation.Kind) observation.Observation {
	return observation.Observation{ID: fmt.Sprintf("o%d", i), Collector: "c", ObservedAt: at, ValidUntil: at.Add(time.Hour),
		Source: observation.SourceSNMPPoll, Kind: kind, State: observation.StateDown, Conditions: []string{"snmp.unreachable"},
		Address: &observation.Address{IP: "10.0.0.1"}, Identity: observation.Identity{SysName: fmt.Sprintf("d%d", i)}, Clinical: i%2 == 1}
}

func TestRecordReadPrune(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	log := obslog.Open(st.DB, testkit.Logger())
	day := time.Date(2026, 2, 1, 23, 59, 0, 0, time.UTC)
	// Only what changed state is kept: a refresh that raised nothing, a duplicate and
	// an outcome without observation are not.
	o1, o2, o3, o4 := obs(1, day, observation.KindChange), obs(2, day, observation.KindRefresh), obs(3, day, observation.KindRefresh), obs(4, day, observation.KindEvent)
	outs := []assets.Outcome{{Observation: &o1}, {Observation: &o2}, {Observation: &o3, Raised: []string{"snmp.unreachable"}},
		{Observation: &o4, Duplicate: true}, {}}
	if err := log.Record(ctx, day, "req-1", outs); err != nil {
		t.Fatal(err)
	}
	if err := log.Record(ctx, day, "req-2", []assets.Outcome{{Observation: &o2}}); err != nil { // nothing kept: nothing written
		t.Fatal(err)
	}
	next := day.Add(2 * time.Minute) // the next UTC day
	many := make([]observation.Observation, 1200)
	for i := range many {
		many[i] = obs(100+i, next, observation.KindChange)
	}
	if err := log.Write(ctx, next, "req-3", many); err != nil {
		t.Fatal(err)
	}
	var got []string
	var batches int
	if err := log.Read(ctx, day.Add(-time.Hour), time.Time{}, func(b *obslog.Batch) error {
		batches++
		for _, o := range b.Observations {
			got = append(got, o.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if batches != 4 || len(got) != 2+1200 || got[0] != "o1" || got[1] != "o3" || got[2] != "o100" || got[len(got)-1] != "o1299" {
		t.Fatalf("read %d batches, %d observations: %v...", batches, len(got), got[:3])
	}
	// The first day's documents round-trip the observation (clinical flag included).
	var first struct {
		RequestID    string    `bson:"requestId"`
		At           time.Time `bson:"at"`
		Count        int       `bson:"count"`
		Observations string    `bson:"observations"`
	}
	if err := st.DB.Collection("observation_log_20260201").FindOne(ctx, bson.M{}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	if first.RequestID != "req-1" || !first.At.Equal(day) || first.Count != 2 || !strings.Contains(first.Observations, `"sysName":"d3"`) ||
		!strings.Contains(first.Observations, `"clinical":true`) {
		t.Errorf("stored batch %+v", first)
	}
	// Retention drops whole days.
	n, err := log.Prune(ctx, next)
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	count := 0
	_ = log.Read(ctx, time.Time{}, time.Time{}, func(b *obslog.Batch) error { count += len(b.Observations); return nil })
	if count != 1200 {
		t.Errorf("after pruning the first day: %d observations", count)
	}
}

// BenchmarkWrite measures what recording costs an applied batch on the store in use,
// against a plain insert of one small document (the baseline).
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	st := testkit.Store(b)
	log := obslog.Open(st.DB, testkit.Logger())
	at := time.Now()
	for _, n := range []int{1, 50} {
		batch := make([]observation.Observation, n)
		for i := range batch {
			batch[i] = obs(i, at, observation.KindChange)
		}
		b.Run(fmt.Sprintf("log/%d", n), func(b *testing.B) {
			for range b.N {
				if err := log.Write(ctx, at, "", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("baseline-insert", func(b *testing.B) {
		col := st.DB.Collection("baseline")
		for range b.N {
			if _, err := col.InsertOne(ctx, bson.M{"v": "x"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What the log keeps: what can change an incident engine's decisions, and what
// created an asset. Events (a trap storm) and stale or replayed observations are not.
func TestKeep(t *testing.T) {
	at := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	o := func(kind observation.Kind) *observation.Observation { x := obs(1, at, kind); return &x }
	for _, tc := range []struct {
		name string
		out  assets.Outcome
		want bool
	}{
		{"change", assets.Outcome{Observation: o(observation.KindChange)}, true},
		{"discovery", assets.Outcome{Observation: o(observation.KindDiscovered)}, true},
		{"refresh that changed nothing", assets.Outcome{Observation: o(observation.KindRefresh)}, false},
		{"refresh that raised", assets.Outcome{Observation: o(observation.KindRefresh), Raised: []string{"x"}}, true},
		{"refresh that created", assets.Outcome{Observation: o(observation.KindRefresh), Created: true}, true},
		{"event", assets.Outcome{Observation: o(observation.KindEvent), Event: "snmp.trap"}, false},
		{"event that created its asset", assets.Outcome{Observation: o(observation.KindEvent), Created: true}, true},
		{"stale change", assets.Outcome{Observation: o(observation.KindChange), Stale: true}, false},
		{"duplicate", assets.Outcome{Observation: o(observation.KindChange), Duplicate: true}, false},
		{"no observation", assets.Outcome{}, false},
	} {
		if got := obslog.Keep(tc.out); got != tc.want {
			t.Errorf("%s: Keep = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Past its size, the log loses its oldest days first, never the current one.
func TestPruneSize(t *testing.T) {
	ctx := context.Background()
	log := obslog.Open(testkit.Store(t).DB, testkit.Logger())
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	many := make([]observation.Observation, 400)
	for i := range many {
		many[i] = obs(i, day, observation.KindChange)
	}
	for d := range 4 {
		if err := log.Write(ctx, day.AddDate(0, 0, d), "r", many); err != nil {
			t.Fatal(err)
		}
	}
	total, err := log.Size(ctx)
	if err != nil || total <= 0 {
		t.Fatalf("size %d, %v", total, err)
	}
	today := day.AddDate(0, 0, 3)
	// Room for a little over two days: the two oldest go.
	if n, err := log.PruneSize(ctx, total/2+total/8, today); err != nil || n != 2 {
		t.Fatalf("pruned %d days (%v), want 2", n, err)
	}
	var first time.Time
	if err := log.Read(ctx, time.Time{}, time.Time{}, func(b *obslog.Batch) error {
		if first.IsZero() {
			first = b.At
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !first.Equal(day.AddDate(0, 0, 2)) {
		t.Errorf("oldest day left %s, want %s", first, day.AddDate(0, 0, 2))
	}
	// A limit below today's own size leaves today.
	if n, err := log.PruneSize(ctx, 1, today); err != nil || n != 1 {
		t.Fatalf("pruned %d days (%v), want 1", n, err)
	}
	if left, _ := log.Size(ctx); left <= 0 {
		t.Error("the current day was dropped")
	}
}
