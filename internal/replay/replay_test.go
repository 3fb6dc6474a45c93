package replay_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/replay"
)

// candidateYAML tries two changes on the default policy: ICU weighted like a ward
// (acuity 3), and printers opening incidents at once (no two-minute hold).
const candidateYAML = `
care_area_acuity: {ICU: 3}
hold:
  classes: {PRINTER: 0s}
`

// expected priorities per class and care area, written from DESIGN §6 and not from
// the engine: ITIL impact × urgency with criticality and acuity levelled (>=4 high,
// 3 medium, else low), a down condition keeping urgency, and no spares.
var (
	underDefaults = map[string]incidents.Priority{
		"VENTILATOR/ICU": incidents.P1, "PATIENT_MONITOR/ICU": incidents.P1, "INFUSION_PUMP/ICU": incidents.P1,
		"PATIENT_MONITOR/WARD": incidents.P2, "INFUSION_PUMP/WARD": incidents.P2, "LAB_ANALYZER/LAB": incidents.P4,
		"PRINTER/ADMIN": incidents.P5, "WORKSTATION/ADMIN": incidents.P5,
	}
	// ICU at acuity 3: urgency medium, so high impact gives P2.
	underCandidate = map[string]incidents.Priority{
		"VENTILATOR/ICU": incidents.P2, "PATIENT_MONITOR/ICU": incidents.P2, "INFUSION_PUMP/ICU": incidents.P2,
		"PATIENT_MONITOR/WARD": incidents.P2, "INFUSION_PUMP/WARD": incidents.P2, "LAB_ANALYZER/LAB": incidents.P4,
		"PRINTER/ADMIN": incidents.P5, "WORKSTATION/ADMIN": incidents.P5,
	}
)

func TestReplayWeekShowsPerPriorityDifferences(t *testing.T) {
	ctx := context.Background()
	devs := hospital()
	eps := schedule(devs, 42)
	baseline := incidents.DefaultPolicy()
	candidate, err := incidents.ParsePolicy([]byte(candidateYAML))
	if err != nil {
		t.Fatal(err)
	}

	// What each policy must give, episode by episode: a blip (one minute) opens an
	// incident only without the printer hold.
	wantBase, wantCand := map[incidents.Priority]int{}, map[incidents.Priority]int{}
	wantChanged, wantNew := 0, 0
	for _, e := range eps {
		k := e.dev.class + "/" + e.dev.area
		if !e.blip() {
			wantBase[underDefaults[k]]++
			wantCand[underCandidate[k]]++
			if underDefaults[k] != underCandidate[k] {
				wantChanged++
			}
			continue
		}
		wantCand[underCandidate[k]]++
		wantNew++
	}
	if wantChanged == 0 || wantNew == 0 {
		t.Fatalf("the generated week exercises nothing: %d changes, %d new", wantChanged, wantNew)
	}

	l := recordWeek(t, baseline, devs, eps)
	liveList, _ := l.eng.List(incidents.Filter{}, 0, 1<<20)
	liveCounts := map[incidents.Priority]int{}
	for _, i := range liveList {
		liveCounts[i.Priority]++
	}
	for _, p := range incidents.Priorities {
		if liveCounts[p] != wantBase[p] {
			t.Errorf("live engine opened %d %s incidents, the defaults say %d", liveCounts[p], p, wantBase[p])
		}
	}
	if l.refreshes == 0 || l.recorded != len(devs)+2*len(eps) {
		t.Errorf("log kept %d observations, want %d (discovery and changes; %d refreshes left out)", l.recorded, len(devs)+2*len(eps), l.refreshes)
	}

	start := time.Now()
	rep, err := replay.Run(ctx, replay.Options{Live: l.store, Baseline: baseline, Candidate: candidate,
		From: weekStart, To: weekStart.Add(week)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replayed %d observations in %d batches under two policies in %s", rep.Observations, rep.Batches, time.Since(start).Round(time.Millisecond))
	var text bytes.Buffer
	if err := rep.WriteText(&text, 5); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())

	if rep.Observations != l.recorded {
		t.Errorf("replayed %d observations, the log kept %d", rep.Observations, l.recorded)
	}
	for _, c := range rep.Counts {
		if c.Live != liveCounts[c.Priority] || c.Baseline != wantBase[c.Priority] || c.Candidate != wantCand[c.Priority] {
			t.Errorf("%s: live %d baseline %d candidate %d; want live %d, baseline %d, candidate %d",
				c.Priority, c.Live, c.Baseline, c.Candidate, liveCounts[c.Priority], wantBase[c.Priority], wantCand[c.Priority])
		}
	}
	if len(rep.Changed) != wantChanged || len(rep.OnlyCandidate) != wantNew || len(rep.OnlyBaseline) != 0 {
		t.Errorf("changed %d, newly opened %d, no longer opened %d; want %d, %d, 0",
			len(rep.Changed), len(rep.OnlyCandidate), len(rep.OnlyBaseline), wantChanged, wantNew)
	}
	if rep.Unchanged != len(eps)-wantNew-wantChanged {
		t.Errorf("unchanged %d, want %d", rep.Unchanged, len(eps)-wantNew-wantChanged)
	}
	for _, c := range rep.Changed {
		if c.Baseline.CareArea != "ICU" || c.Baseline.Priority != incidents.P1 || c.Candidate.Priority != incidents.P2 {
			t.Errorf("unexpected change %+v", c)
		}
		if !slices.ContainsFunc(c.Why, func(s string) bool { return strings.Contains(s, "care area ICU acuity 3") }) {
			t.Errorf("change of %s does not say why: %q", c.Baseline.AssetName, c.Why)
		}
	}
	for _, i := range rep.OnlyCandidate {
		if i.Class != "PRINTER" || i.Priority != incidents.P5 {
			t.Errorf("unexpected new incident %+v", i)
		}
	}

	// Replay never touched live data: the live incidents are as they were.
	after, _ := l.eng.List(incidents.Filter{}, 0, 1<<20)
	if len(after) != len(liveList) {
		t.Errorf("live incidents changed: %d, were %d", len(after), len(liveList))
	}
	names, err := l.store.Client.ListDatabaseNames(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, "_replay_") && strings.HasPrefix(n, l.store.DB.Name()) {
			t.Errorf("scratch database %s left behind", n)
		}
	}
}

// The same policy on both sides changes nothing: the replay reproduces the engine.
func TestReplaySamePolicyIsIdentity(t *testing.T) {
	devs := hospital()
	eps := schedule(devs, 9)
	p := incidents.DefaultPolicy()
	l := recordWeek(t, p, devs, eps)
	rep, err := replay.Run(context.Background(), replay.Options{Live: l.store, Baseline: p, Candidate: p,
		From: weekStart, To: weekStart.Add(week)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changed)+len(rep.OnlyBaseline)+len(rep.OnlyCandidate) != 0 {
		t.Errorf("same policy differs: %+v", rep)
	}
	for _, c := range rep.Counts {
		if c.Baseline != c.Live || c.Candidate != c.Live {
			t.Errorf("%s: live %d, baseline %d, candidate %d", c.Priority, c.Live, c.Baseline, c.Candidate)
		}
	}
}
