package incidents

import (
	"testing"
	"time"
)

// TestDecide: the transition of one step for each case the engine meets, without an
// engine or a store.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	base := stepFacts{now: now, hold: 2 * time.Minute, recoveryHold: time.Minute, flapStable: 10 * time.Minute, flapThreshold: 4}
	yes := func() bool { return true }
	no := func() bool { return false }
	for _, tc := range []struct {
		name string
		set  func(*stepFacts)
		want action
	}{
		{"active, within the hold: wait", func(f *stepFacts) { f.on, f.since, f.consequence = true, now.Add(-time.Minute), no }, 0},
		{"active, hold over: open", func(f *stepFacts) { f.on, f.since = true, now.Add(-2*time.Minute) }, actOpen},
		{"active, within the hold but a consequence of a root: open at once", func(f *stepFacts) {
			f.on, f.since, f.consequence = true, now, yes
		}, actOpen},
		{"active and flapping, within the hold: open (flapping)", func(f *stepFacts) { f.on, f.since, f.edges = true, now, 4 }, actOpen},
		{"active but resolved by hand while active: quiet", func(f *stepFacts) {
			f.on, f.since, f.quiet, f.consequence = true, now.Add(-time.Hour), true, yes
		}, 0},
		{"active, incident open: nothing", func(f *stepFacts) { f.on, f.holder = true, true }, 0},
		{"active, incident settling: reopen", func(f *stepFacts) { f.on, f.holder, f.settling = true, true, true }, actReopen},
		{"active, incident settling, flapping: reopen and mark", func(f *stepFacts) {
			f.on, f.holder, f.settling, f.edges = true, true, true, 5
		}, actReopen | actMarkFlapping},
		{"active, incident already flapping: nothing", func(f *stepFacts) {
			f.on, f.holder, f.holderFlapping, f.edges = true, true, true, 9
		}, 0},
		{"clear, no incident, no edges: forget", func(f *stepFacts) {}, actForget},
		{"clear, no incident, recent edges: keep", func(f *stepFacts) { f.edges = 2 }, 0},
		{"clear, incident settling: nothing", func(f *stepFacts) { f.holder, f.settling, f.clearSince = true, true, now.Add(-time.Hour) }, 0},
		{"clear, within the recovery hold: wait", func(f *stepFacts) { f.holder, f.clearSince = true, now.Add(-30*time.Second) }, 0},
		{"clear, recovery hold over: auto-resolve", func(f *stepFacts) { f.holder, f.clearSince = true, now.Add(-time.Minute) }, actAutoResolve},
		{"clear, flapping incident: waits the flap's stable time", func(f *stepFacts) {
			f.holder, f.holderFlapping, f.clearSince = true, true, now.Add(-5*time.Minute)
		}, 0},
		{"clear, flapping incident stable long enough: auto-resolve", func(f *stepFacts) {
			f.holder, f.holderFlapping, f.clearSince = true, true, now.Add(-10*time.Minute)
		}, actAutoResolve},
		{"clear, starts flapping: mark, and wait the stable time", func(f *stepFacts) {
			f.holder, f.edges, f.clearSince = true, 4, now.Add(-5*time.Minute)
		}, actMarkFlapping},
		{"clear, starts flapping, stable long enough: mark and resolve", func(f *stepFacts) {
			f.holder, f.edges, f.clearSince = true, 4, now.Add(-time.Hour)
		}, actMarkFlapping | actAutoResolve},
		{"clear, recovery hold longer than the flap's stable time wins", func(f *stepFacts) {
			f.recoveryHold, f.holder, f.holderFlapping, f.clearSince = time.Hour, true, true, now.Add(-30*time.Minute)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.set(&f)
			if got := decide(f); got != tc.want {
				t.Fatalf("decide = %05b, want %05b", got, tc.want)
			}
		})
	}
}
