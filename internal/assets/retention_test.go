package assets

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// Issue 16 item 7, against the embedded store: retention removes event history older
// than the cutoff and keeps the creation record and every status and identity change;
// the replaced buckets are deleted; the result survives a restart; an asset is not
// rewritten again until its oldest event is past the cutoff by the slack; a record
// written before events were tracked is read once and then tracked.
func TestPruneEventsKeepsEverythingElse(t *testing.T) {
	testkit.Integration(t) // the history buckets of the FerretDB layout, by id ranges
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	st, err := OpenStore(ctx, testkit.Store(t))
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Service {
		svc, err := NewService(ctx, st, Options{Logger: testkit.Logger(), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		return svc
	}
	svc := open()
	seq := 0
	apply := func(at time.Time, mut func(*observation.Observation)) Outcome {
		t.Helper()
		seq++
		now = at
		o := observation.Observation{ID: fmt.Sprintf("c1-b-%d", seq), Collector: "c1", Site: "main", ObservedAt: at, ValidUntil: at.Add(time.Hour),
			Source: observation.SourceSNMPPoll, Kind: observation.KindChange, State: observation.StateUp, Conditions: []string{},
			Address: &observation.Address{IP: "10.0.0.40"}, Identity: observation.Identity{SysName: "ups-40", Firmware: "1.0"}}
		if mut != nil {
			mut(&o)
		}
		outs, err := svc.Apply(ctx, []observation.Observation{o}, "r")
		if err != nil {
			t.Fatal(err)
		}
		return outs[0]
	}
	event := func(o *observation.Observation) {
		o.Source, o.Kind, o.Condition, o.Conditions = observation.SourceSNMPTrap, observation.KindEvent, observation.CondUnknownTrap, nil
	}
	id := apply(t0, nil).Asset.ID
	for i := range 40 { // a storm on day 0
		apply(t0.Add(time.Duration(i+1)*time.Minute), event)
	}
	apply(t0.Add(2*time.Hour), func(o *observation.Observation) { // a late trap of the storm
		event(o)
		o.ObservedAt = t0.Add(30 * time.Second)
	})
	apply(t0.Add(24*time.Hour), func(o *observation.Observation) {
		o.State, o.Condition, o.Conditions = observation.StateDown, observation.CondSNMPUnreachable, []string{observation.CondSNMPUnreachable}
	})
	apply(t0.Add(25*time.Hour), func(o *observation.Observation) { o.Identity.Firmware = "2.0" })
	for i := range 5 { // day 10
		apply(t0.Add(240*time.Hour+time.Duration(i)*time.Minute), func(o *observation.Observation) { event(o); o.Identity.Firmware = "2.0" })
	}
	a, _ := svc.Get(id)
	if !a.EventsTracked || !a.OldestEvent.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("tracking: %v oldest %s", a.EventsTracked, a.OldestEvent)
	}
	want := func(svc *Service) []string {
		a, _ := svc.getRaw(id)
		hist, err := svc.History(ctx, a, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := len(hist) - 1; i >= 0; i-- {
			out = append(out, hist[i].Field)
		}
		return out
	}
	before := want(svc)
	sealed := a.HistorySealed

	// Retention of 5 days, slack 1 day, run on day 10.
	cutoff := t0.Add(5 * 24 * time.Hour)
	stats, err := svc.PruneEvents(ctx, cutoff, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Assets != 1 || stats.Entries != 41 || stats.Buckets != int64(sealed) {
		t.Fatalf("pruned %+v, want 1 asset, 41 entries, %d buckets", stats, sealed)
	}
	var expect []string
	for _, f := range before {
		if f != FieldEvent {
			expect = append(expect, f)
		}
	}
	expect = append(expect, FieldEvent, FieldEvent, FieldEvent, FieldEvent, FieldEvent)
	check := func(svc *Service, when string) {
		t.Helper()
		got := want(svc)
		if fmt.Sprint(got) != fmt.Sprint(expect) {
			t.Fatalf("%s: history\n %v\nwant\n %v", when, got, expect)
		}
		if got[0] != "created" || !contains(got, "status") || !contains(got, "firmwareVersion") {
			t.Fatalf("%s: history lost its creation, status or identity records: %v", when, got)
		}
		a, _ := svc.getRaw(id)
		if !a.OldestEvent.Equal(t0.Add(240*time.Hour)) || a.FirmwareVersion != "2.0" || a.Status != StatusOperational {
			t.Fatalf("%s: oldest event %s, firmware %s, status %s", when, a.OldestEvent, a.FirmwareVersion, a.Status)
		}
	}
	check(svc, "after the prune")
	svc.Close()
	svc = open()
	check(svc, "after a restart")

	// Nothing more to do until the next events are past the cutoff and the slack.
	if s, err := svc.PruneEvents(ctx, t0.Add(240*time.Hour+time.Hour), 24*time.Hour); err != nil || s.Assets != 0 {
		t.Fatalf("second pass: %+v %v", s, err)
	}
	check(svc, "after a pass with nothing due")

	// A record written before events were tracked is read once, then tracked.
	svc.mu.Lock()
	legacy := svc.assets[id].Clone()
	legacy.EventsTracked, legacy.OldestEvent = false, time.Time{}
	svc.assets[id] = legacy
	svc.mu.Unlock()
	if s, err := svc.PruneEvents(ctx, cutoff, 24*time.Hour); err != nil || s.Assets != 0 {
		t.Fatalf("legacy pass: %+v %v", s, err)
	}
	check(svc, "after tracking a legacy record")
	if a, _ := svc.getRaw(id); !a.EventsTracked {
		t.Fatal("legacy record still untracked")
	}
	// All events past: the last ones go, the asset keeps no event and is not a
	// candidate any more.
	s, err := svc.PruneEvents(ctx, t0.Add(300*time.Hour), 0)
	if err != nil || s.Entries != 5 {
		t.Fatalf("last pass: %+v %v", s, err)
	}
	if a, _ := svc.getRaw(id); !a.OldestEvent.IsZero() || a.HistoryCount != len(expect)-5 {
		t.Fatalf("after the last pass: oldest %s, %d entries", a.OldestEvent, a.HistoryCount)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
