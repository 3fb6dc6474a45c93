package incidents_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestLeaseElectsOneReplicaAndExpires(t *testing.T) {
	ctx := context.Background()
	s := testkit.Store(t)
	clk := newClock()
	a, b := incidents.NewLeases(s, clk.Now), incidents.NewLeases(s, clk.Now)
	must := func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !must(a.Acquire(ctx, "sla", time.Minute)) {
		t.Fatal("first replica did not get the lease")
	}
	if must(b.Acquire(ctx, "sla", time.Minute)) {
		t.Fatal("second replica got a held lease")
	}
	clk.Advance(30 * time.Second)
	if !must(a.Acquire(ctx, "sla", time.Minute)) {
		t.Fatal("holder could not renew")
	}
	clk.Advance(61 * time.Second)
	if !must(b.Acquire(ctx, "sla", time.Minute)) {
		t.Fatal("expired lease not taken over")
	}
	if must(a.Acquire(ctx, "sla", time.Minute)) {
		t.Fatal("old holder kept the lease")
	}
}

func TestJobsRecoverSkipOverlapAndRecordSuccess(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := incidents.NewMetrics(reg)
	j := incidents.NewJobs(testkit.Logger(), m, nil)
	var runs, panics, running, overlaps atomic.Int64
	if err := j.Add("ok", "@every 1s", 5*time.Second, func(ctx context.Context) error {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		runs.Add(1)
		time.Sleep(1500 * time.Millisecond) // longer than the period
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := j.Add("boom", "@every 1s", time.Second, func(context.Context) error {
		panics.Add(1)
		panic("job bug")
	}); err != nil {
		t.Fatal(err)
	}
	if err := j.Add("fails", "@every 1s", time.Second, func(context.Context) error { return errors.New("store down") }); err != nil {
		t.Fatal(err)
	}
	if err := j.Add("bad", "sometimes", time.Second, nil); err == nil {
		t.Fatal("bad schedule accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	time.Sleep(4 * time.Second)
	cancel()
	<-done
	if runs.Load() < 1 || overlaps.Load() != 0 || panics.Load() < 2 {
		t.Fatalf("runs %d overlaps %d panics %d", runs.Load(), overlaps.Load(), panics.Load())
	}
	last := gaugeValue(t, reg, "medcmdb_job_last_success_timestamp_seconds", "ok")
	if last < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last success %v", last)
	}
	if v := gaugeValue(t, reg, "medcmdb_job_last_success_timestamp_seconds", "fails"); v != 0 {
		t.Fatalf("a failing job recorded success at %v", v)
	}
}

// gaugeValue reads one labelled series of a gathered gauge.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, job string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "job" && l.GetValue() == job {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{job=%q}", name, job)
	return 0
}
