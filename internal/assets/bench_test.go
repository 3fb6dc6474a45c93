package assets_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func benchDevice(i int, at time.Time, id string, down bool) observation.Observation {
	o := observation.Observation{
		ID: id, Collector: "bench", Site: "main", ObservedAt: at, ValidUntil: at.Add(time.Hour),
		Source: observation.SourceSNMPPoll, State: observation.StateUp, Conditions: []string{},
		Address: &observation.Address{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)},
		Identity: observation.Identity{SysName: fmt.Sprintf("dev-%06d", i), Class: "INFUSION_PUMP", SysDescr: "simulated",
			MACs: []string{fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)}},
		Location: &observation.Location{Building: "Tower A", Unit: "ICU-" + strconv.Itoa(i%5), CareArea: "ICU"},
	}
	if down {
		o.State, o.Condition, o.Conditions = observation.StateDown, observation.CondSNMPUnreachable, []string{observation.CondSNMPUnreachable}
	}
	return o
}

// BenchmarkApplyStateChanges applies batches of 1,000 state changes (UP <-> DOWN) to
// an inventory of MEDCMDB_BENCH_ASSETS assets (default 5,000) on the test store, with
// append-only versions and, as the baseline, with in-place updates.
func BenchmarkApplyStateChanges(b *testing.B) {
	b.Run("append-only", func(b *testing.B) { benchApply(b, true) })
	b.Run("in-place", func(b *testing.B) { benchApply(b, false) })
}

func benchApply(b *testing.B, appendOnly bool) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("MEDCMDB_BENCH_ASSETS")); err == nil && v >= 1000 {
		n = v
	}
	ctx := context.Background()
	st, err := assets.OpenStore(ctx, testkit.Store(b))
	if err != nil {
		b.Fatal(err)
	}
	st.SetAppendOnly(appendOnly)
	svc, err := assets.NewService(ctx, st, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for start := 0; start < n; start += 1000 {
		var obs []observation.Observation
		for i := start; i < min(start+1000, n); i++ {
			obs = append(obs, benchDevice(i, t0, "seed-"+strconv.Itoa(i), false))
		}
		if _, err := svc.Apply(ctx, obs, "seed"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d assets in %s", n, time.Since(t0))
	seq := 0
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		at := t0.Add(time.Duration(round+1) * time.Second)
		var obs []observation.Observation
		for k := range 1000 {
			seq++
			obs = append(obs, benchDevice((round*1000+k)%n, at, "b-"+strconv.Itoa(seq), round%2 == 0))
		}
		if _, err := svc.Apply(ctx, obs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	start := time.Now()
	stale := st.StaleVersions()
	if n, err := st.Compact(ctx); err != nil {
		b.Fatal(err)
	} else if n > 0 {
		b.Logf("compacted %d of %d replaced versions in %s", n, stale, time.Since(start))
	}
}
