package obslog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func obs(i int, at time.Time, kind discovery.Kind) discovery.Observation {
	return discovery.Observation{ID: fmt.Sprintf("o%d", i), Collector: "c", ObservedAt: at, ValidUntil: at.Add(time.Hour),
		Source: discovery.SourceSNMPPoll, Kind: kind, State: discovery.StateDown, Conditions: []string{"snmp.unreachable"},
		Address: &discovery.Address{IP: "10.0.0.1"}, Identity: discovery.Identity{SysName: fmt.Sprintf("d%d", i)}, Clinical: i%2 == 1}
}

func TestRecordReadPrune(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	log := obslog.Open(st.DB, testkit.Logger())
	day := time.Date(2026, 2, 1, 23, 59, 0, 0, time.UTC)
	// Only what changed state is kept: a refresh that raised nothing, a duplicate and
	// an outcome without observation are not.
	o1, o2, o3, o4 := obs(1, day, discovery.KindChange), obs(2, day, discovery.KindRefresh), obs(3, day, discovery.KindRefresh), obs(4, day, discovery.KindEvent)
	outs := []assets.Outcome{{Observation: &o1}, {Observation: &o2}, {Observation: &o3, Raised: []string{"snmp.unreachable"}},
		{Observation: &o4, Duplicate: true}, {}}
	if err := log.Record(ctx, day, "req-1", outs); err != nil {
		t.Fatal(err)
	}
	if err := log.Record(ctx, day, "req-2", []assets.Outcome{{Observation: &o2}}); err != nil { // nothing kept: nothing written
		t.Fatal(err)
	}
	next := day.Add(2 * time.Minute) // the next UTC day
	many := make([]discovery.Observation, 1200)
	for i := range many {
		many[i] = obs(100+i, next, discovery.KindChange)
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
		batch := make([]discovery.Observation, n)
		for i := range batch {
			batch[i] = obs(i, at, discovery.KindChange)
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
