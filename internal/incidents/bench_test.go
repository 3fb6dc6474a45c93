package incidents_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// benchRig is a registry of n monitors in 10 units of 10 behind 10 switches, an
// engine with an outbox, all on the embedded store.
func benchRig(b *testing.B, n int) (*assets.Service, *incidents.Engine, []string) {
	ctx := context.Background()
	s := testkit.Store(b)
	now := time.Now().UTC()
	var list []*assets.Asset
	var ips []string
	for k := range 10 {
		list = append(list, newAsset(fmt.Sprintf("sw%02d", k), fmt.Sprintf("sw%02d", k), assets.ClassNetworkSwitch, fmt.Sprintf("10.8.0.%d", k+1), fmt.Sprintf("U%d", k), "WARD", now))
	}
	for k := range n {
		ip := fmt.Sprintf("10.8.%d.%d", 1+k/250, 1+k%250)
		ips = append(ips, ip)
		list = append(list, newAsset(fmt.Sprintf("m%04d", k), fmt.Sprintf("m%04d", k), assets.ClassPatientMonitor, ip, fmt.Sprintf("U%d", k%10), "WARD", now, fmt.Sprintf("sw%02d", k%10)))
	}
	svc := seedAssets(b, ctx, s, list)
	p := incidents.DefaultPolicy()
	p.ReopenWindow = 0
	p.Webhooks = []incidents.Webhook{{Name: "desk", URL: "http://127.0.0.1:9/x", Kind: incidents.KindGeneric, Secret: testSecret}}
	ob, err := incidents.OpenOutbox(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	st, err := incidents.OpenStore(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	e, err := incidents.NewEngine(ctx, st, svc, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(),
		Sink: incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger()})})
	if err != nil {
		b.Fatal(err)
	}
	return svc, e, ips
}

// BenchmarkObservations measures the observations per second the engine absorbs:
// batches of 100 state changes (DOWN then UP: every one opens or resolves an
// incident), the registry's apply and the engine's part timed separately. The
// registry's own rate is the baseline of the same run.
func BenchmarkObservations(b *testing.B) {
	ctx := context.Background()
	svc, e, ips := benchRig(b, 1000)
	var reg, eng time.Duration
	obs := 0
	down := true
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lo := (i / 2 * 100) % len(ips)
		var batch []observation.Observation
		for _, ip := range ips[lo : lo+100] {
			batch = append(batch, poll(ip, down))
		}
		t0 := time.Now()
		outs, err := svc.Apply(ctx, batch, "bench")
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.Handle(ctx, outs); err != nil {
			b.Fatal(err)
		}
		reg += t1.Sub(t0)
		eng += time.Since(t1)
		obs += len(batch)
		down = !down
	}
	b.ReportMetric(float64(obs)/eng.Seconds(), "engine_obs/s")
	b.ReportMetric(float64(obs)/reg.Seconds(), "registry_obs/s")
	b.ReportMetric(float64(obs)/(reg+eng).Seconds(), "total_obs/s")
}

// BenchmarkDownToVisible measures, one device at a time, the time from handing a DOWN
// observation to the cmdb (registry + engine) until its incident is visible to a
// query, and reports p50 and p99.
func BenchmarkDownToVisible(b *testing.B) {
	ctx := context.Background()
	svc, e, ips := benchRig(b, 1000)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ip := ips[i%len(ips)]
		id := fmt.Sprintf("m%04d", i%len(ips))
		t0 := time.Now()
		outs, err := svc.Apply(ctx, []observation.Observation{poll(ip, true)}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Handle(ctx, outs); err != nil {
			b.Fatal(err)
		}
		open := true
		if _, n := e.List(incidents.Filter{AssetID: id, Open: &open}, 0, 1); n != 1 {
			b.Fatalf("incident of %s not visible", id)
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		outs, err = svc.Apply(ctx, []observation.Observation{poll(ip, false)}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Handle(ctx, outs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// BenchmarkRetainedMemory says what the cmdb keeps in memory per incident, as a soak
// sees it: monitors fail and recover, 1,000 at a time, each device once (each opens
// and resolves an incident and adds two status changes to its asset's history), and
// the live heap is read after a GC. Then retention prunes the resolved incidents: what
// remains above the heap before any failure is the asset history (two status changes
// per failure), kept for ever by design. The first
// thousand are the warm-up. Run with -benchtime 1x.
func BenchmarkRetainedMemory(b *testing.B) {
	ctx := context.Background()
	const rounds = 3
	for b.Loop() {
		svc, e, ips := benchRig(b, 1000*(rounds+1))
		round := func(devs []string) {
			for _, down := range []bool{true, false} {
				for lo := 0; lo < len(devs); lo += 100 {
					var batch []observation.Observation
					for _, ip := range devs[lo : lo+100] {
						batch = append(batch, poll(ip, down))
					}
					outs, err := svc.Apply(ctx, batch, "bench")
					if err != nil {
						b.Fatal(err)
					}
					if err := e.Handle(ctx, outs); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		hPre := liveHeap()
		round(ips[:1000])
		h0 := liveHeap()
		_, before := e.List(incidents.Filter{}, 0, 0)
		for k := 1; k <= rounds; k++ {
			round(ips[k*1000 : (k+1)*1000])
		}
		h1 := liveHeap()
		_, total := e.List(incidents.Filter{}, 0, 0)
		n := total - before
		if n != rounds*1000 {
			b.Fatalf("%d incidents from %d devices failing once each", n, rounds*1000)
		}
		pruned, err := e.Prune(ctx, time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if pruned < n {
			b.Fatalf("retention pruned %d of %d resolved incidents", pruned, n)
		}
		h2 := liveHeap()
		b.ReportMetric(float64(h1-h0)/float64(n), "B/incident_kept")
		// Every device failed once and all their incidents are gone now: the heap is
		// compared with the one before any failure.
		b.ReportMetric((float64(h2)-float64(hPre))/(1<<20), "MiB_after_retention_vs_before")
		b.ReportMetric(float64(h1-h0)/(1<<20), "MiB_grown")
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
