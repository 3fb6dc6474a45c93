package problems_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/problems"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// rig is a registry and an engine on the embedded store, on a simulated clock.
type rig struct {
	t   *testing.T
	st  *store.Store
	now time.Time
	reg *assets.Service
	eng *incidents.Engine
	pol *incidents.Policy
	seq int
}

func newRig(t *testing.T, policyYAML string) *rig {
	ctx := context.Background()
	pol, err := incidents.ParsePolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: testkit.Store(t), now: time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC), pol: pol}
	ast, err := assets.OpenStore(ctx, r.st)
	if err != nil {
		t.Fatal(err)
	}
	if r.reg, err = assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger(), Now: r.clock}); err != nil {
		t.Fatal(err)
	}
	ist, err := incidents.OpenStore(ctx, r.st)
	if err != nil {
		t.Fatal(err)
	}
	if r.eng, err = incidents.NewEngine(ctx, ist, r.reg, incidents.EngineOptions{Policy: pol, Logger: testkit.Logger(), Now: r.clock}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) clock() time.Time { return r.now }

func (r *rig) apply(name, model string, down bool) {
	r.seq++
	o := observation.Observation{ID: fmt.Sprintf("o%d", r.seq), Collector: "c", Site: "s", ObservedAt: r.now, ValidUntil: r.now.Add(time.Hour),
		Source: observation.SourceSNMPPoll, Kind: observation.KindChange,
		Identity: observation.Identity{SysName: name, Class: "INFUSION_PUMP", Manufacturer: "Acme", Model: model},
		Location: &observation.Location{CareArea: "WARD", Unit: "unit-" + name},
		State:    observation.StateUp, Conditions: []string{}}
	if down {
		o.State, o.Condition, o.Conditions = observation.StateDown, observation.CondHL7HeartbeatLost, []string{observation.CondHL7HeartbeatLost}
	}
	outs, err := r.reg.Apply(context.Background(), []observation.Observation{o}, "")
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.eng.Handle(context.Background(), outs); err != nil {
		r.t.Fatal(err)
	}
}

// fail makes a device fail for ten minutes, then waits an hour: one incident.
func (r *rig) fail(name, model string) {
	r.apply(name, model, true)
	r.now = r.now.Add(10 * time.Minute)
	r.apply(name, model, false)
	r.now = r.now.Add(time.Hour)
	if err := r.eng.Tick(context.Background()); err != nil { // settle the auto-resolution
		r.t.Fatal(err)
	}
}

func (r *rig) open() *problems.Service {
	s, err := problems.Open(context.Background(), r.st, r.eng, r.reg, problems.Options{Policy: r.pol, Logger: testkit.Logger(), Now: r.clock})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

const testPolicy = `
problems:
  asset: {threshold: 3, window: 72h}
  model: {threshold: 4, window: 720h, min_assets: 3}
`

func TestRecurrenceOpensProblemsAndStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, testPolicy)
	svc := r.open()
	// pump-1 fails twice: below the threshold.
	r.fail("pump-1", "P100")
	r.fail("pump-1", "P100")
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := svc.List(problems.Filter{}, 0, 10); n != 0 {
		t.Fatalf("%d problems after two incidents", n)
	}
	// A third failure within 72 h: an asset problem.
	r.fail("pump-1", "P100")
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	list, n := svc.List(problems.Filter{Scope: problems.ScopeAsset}, 0, 10)
	if n != 1 || list[0].Count != 3 || list[0].State != problems.StateOpen || !strings.HasPrefix(list[0].Number, "PRB") {
		t.Fatalf("asset problems: %d %+v", n, list)
	}
	p := list[0]
	incs, _ := r.eng.List(incidents.Filter{}, 0, 10)
	if !p.FirstSeen.Equal(incs[len(incs)-1].OpenedAt) || !p.LastSeen.Equal(incs[0].OpenedAt) {
		t.Errorf("first/last seen %s/%s, incidents opened %s..%s", p.FirstSeen, p.LastSeen, incs[len(incs)-1].OpenedAt, incs[0].OpenedAt)
	}
	if len(p.Conditions) != 1 || p.Conditions[0] != (problems.ConditionCount{Condition: observation.CondHL7HeartbeatLost, Count: 3}) {
		t.Errorf("conditions %+v", p.Conditions)
	}
	if !strings.Contains(p.Title, "pump-1") || !strings.Contains(p.Title, "3 incidents") {
		t.Errorf("title %q", p.Title)
	}
	if got := svc.ForIncident(incs[0].ID); len(got) != 1 || got[0].ID != p.ID {
		t.Errorf("ForIncident: %v", got)
	}

	// Two more pumps of the same model fail: a model problem across three devices,
	// and the asset problem gains nothing (their incidents are theirs).
	r.fail("pump-2", "P100")
	r.fail("pump-3", "P100")
	r.fail("other-1", "Z9") // another model: never counted with P100
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	models, n := svc.List(problems.Filter{Scope: problems.ScopeModel}, 0, 10)
	if n != 1 || models[0].Count != 5 || models[0].Assets != 3 || models[0].Model != "P100" {
		t.Fatalf("model problems: %d %+v", n, models)
	}
	if got, _ := svc.Get(p.ID); got.Count != 3 {
		t.Errorf("asset problem count %d after other pumps failed", got.Count)
	}

	// pump-1 fails again: both of its problems gain the incident.
	r.fail("pump-1", "P100")
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.Get(p.ID); got.Count != 4 {
		t.Errorf("asset problem count %d, want 4", got.Count)
	}

	// A second service on the same store sees the same problems (round trip).
	again := r.open()
	for _, want := range []*problems.Problem{mustGet(t, svc, p.ID), mustGet(t, svc, models[0].ID)} {
		got := mustGet(t, again, want.ID)
		if got.Number != want.Number || got.Count != want.Count || got.Key != want.Key || !got.FirstSeen.Equal(want.FirstSeen) ||
			!got.LastSeen.Equal(want.LastSeen) || strings.Join(got.IncidentIDs, ",") != strings.Join(want.IncidentIDs, ",") {
			t.Errorf("reloaded %+v\nwant %+v", got, want)
		}
	}

	// Unlink one incident: it is not linked again by detection.
	victim := mustGet(t, svc, p.ID).IncidentIDs[0]
	if _, err := svc.Unlink(ctx, p.ID, victim, "user:ann"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, svc, p.ID); got.Count != 3 || strings.Contains(strings.Join(got.IncidentIDs, ","), victim) {
		t.Errorf("after unlink: %+v", got)
	}
	// Link it back by hand.
	if got, err := svc.Link(ctx, p.ID, victim, "user:ann"); err != nil || got.Count != 4 {
		t.Fatalf("link: %v %+v", err, got)
	}
	if _, err := svc.Link(ctx, p.ID, "nope", "user:ann"); !errors.Is(err, problems.ErrNotFound) {
		t.Errorf("linking an unknown incident: %v", err)
	}

	// Close with a root cause; a closed problem is not reopened by its incidents...
	if _, err := svc.Close(ctx, p.ID, "", "user:ann"); !errors.Is(err, problems.ErrInvalid) {
		t.Errorf("close without root cause: %v", err)
	}
	closed, err := svc.Close(ctx, p.ID, "HL7 module firmware 2.1 drops the link under load; upgraded to 2.3", "user:ann")
	if err != nil || closed.State != problems.StateClosed || closed.ClosedBy != "user:ann" {
		t.Fatalf("close: %v %+v", err, closed)
	}
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := svc.List(problems.Filter{Scope: problems.ScopeAsset, State: problems.StateOpen}, 0, 10); n != 0 {
		t.Errorf("%d open asset problems right after closing", n)
	}
	if got := mustGet(t, r.open(), p.ID); got.State != problems.StateClosed || got.RootCause != closed.RootCause {
		t.Errorf("closed problem reloaded as %+v", got)
	}
	// ...but a new recurrence after the closing opens a new one.
	r.now = r.now.Add(time.Minute)
	r.fail("pump-1", "P100")
	r.fail("pump-1", "P100")
	r.fail("pump-1", "P100")
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	open, n := svc.List(problems.Filter{Scope: problems.ScopeAsset, State: problems.StateOpen}, 0, 10)
	if n != 1 || open[0].ID == p.ID || open[0].Count != 3 {
		t.Fatalf("new recurrence: %d %+v", n, open)
	}
}

func TestIncidentsOutsideTheWindowDoNotCount(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, testPolicy)
	svc := r.open()
	r.fail("pump-1", "P100")
	r.fail("pump-1", "P100")
	r.now = r.now.Add(72 * time.Hour) // the first two fall out of the window
	r.fail("pump-1", "P100")
	if err := svc.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := svc.List(problems.Filter{}, 0, 10); n != 0 {
		t.Errorf("%d problems from incidents spread over more than the window", n)
	}
}

func mustGet(t *testing.T, s *problems.Service, id string) *problems.Problem {
	t.Helper()
	p, ok := s.Get(id)
	if !ok {
		t.Fatalf("problem %s not found", id)
	}
	return p
}
