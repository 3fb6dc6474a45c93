package incidents_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestTwoEnginesOneStoreNoDuplicate: two cmdb replicas (registry + engine + outbox
// writer each) on one store, fed the same observations at the same time, produce one
// incident per (asset, condition) and one notification per event.
func TestTwoEnginesOneStoreNoDuplicate(t *testing.T) {
	testkit.Integration(t) // replicas on one FerretDB store
	ctx := context.Background()
	s := testkit.Store(t)
	now := time.Now().UTC()
	var list []*assets.Asset
	var ips []string
	for k := range 30 {
		ip := fmt.Sprintf("10.7.0.%d", k+1)
		ips = append(ips, ip)
		list = append(list, newAsset(fmt.Sprintf("mon%02d", k), fmt.Sprintf("mon%02d", k), assets.ClassPatientMonitor, ip, "ICU-1", "ICU", now))
	}
	svcA := seedAssets(t, ctx, s, list)
	ast, err := assets.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	svcB, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := incidents.ParsePolicy([]byte("reopen_window: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Webhooks = []incidents.Webhook{{Name: "desk", URL: "http://127.0.0.1:9/unused", Kind: incidents.KindGeneric, Secret: testSecret}}
	replica := func(svc *assets.Service) *incidents.Engine {
		st, err := incidents.OpenStore(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := incidents.OpenOutbox(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		n := incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger()}) // never run: entries stay
		e, err := incidents.NewEngine(ctx, st, svc, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(), Sink: n})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	engines := []*incidents.Engine{replica(svcA), replica(svcB)}
	svcs := []*assets.Service{svcA, svcB}

	feed := func(down bool) {
		var batch []observation.Observation
		for _, ip := range ips {
			batch = append(batch, poll(ip, down))
		}
		// The registries apply one after the other (concurrent registries on one
		// store are the asset package's concern); the engines race.
		outs := make([][]assets.Outcome, len(svcs))
		for k, svc := range svcs {
			var err error
			if outs[k], err = svc.Apply(ctx, batch, fmt.Sprintf("req-%d", k)); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for k := range engines {
			wg.Go(func() {
				if err := engines[k].Handle(ctx, outs[k]); err != nil {
					t.Error(err)
				}
				if err := engines[k].Tick(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	feed(true)
	// Each replica converges on its next pass.
	for _, e := range engines {
		if err := e.ReconcileAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, err := incidents.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.LoadAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perAsset := map[string]int{}
	for _, i := range stored {
		perAsset[i.AssetID]++
	}
	if len(stored) != 30 || len(perAsset) != 30 {
		t.Fatalf("%d incidents stored for %d assets, want 30 for 30", len(stored), len(perAsset))
	}
	for k, e := range engines {
		open := true
		if _, n := e.List(incidents.Filter{Open: &open}, 0, 100); n != 30 {
			t.Errorf("replica %d sees %d open incidents, want 30", k, n)
		}
	}
	ob, err := incidents.OpenOutbox(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := ob.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 30 {
		t.Fatalf("%d outbox entries, want one opened notification per incident (30)", len(pending))
	}

	// Both recover them, also at once: still one incident each, now resolved.
	feed(false)
	stored, _ = st.LoadAll(ctx)
	resolved := 0
	for _, i := range stored {
		if i.State == incidents.StateResolved {
			resolved++
		}
	}
	if len(stored) != 30 || resolved != 30 {
		t.Fatalf("after recovery: %d incidents, %d resolved", len(stored), resolved)
	}
	if pending, _ = ob.Pending(ctx); len(pending) != 60 {
		t.Fatalf("%d outbox entries after recovery, want 60 (opened + resolved each)", len(pending))
	}
}
