package incidents_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// rig is an engine over the in-memory store (the same rules as the shared store's,
// see TestCollectionContract in docstore), a fake asset registry, a recording service
// desk and a settable clock.
type rig struct {
	t     *testing.T
	ctx   context.Context
	st    *incidents.Store
	src   *fakeAssets
	clk   *clock
	sink  *recordSink
	e     *incidents.Engine
	maint *incidents.Maintenance
}

func newRig(t *testing.T, policy string) *rig {
	t.Helper()
	ctx := context.Background()
	st := incidents.NewMemStore()
	p, err := incidents.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ctx: ctx, st: st, src: &fakeAssets{m: map[string]*assets.Asset{}}, clk: newClock(), sink: &recordSink{}}
	r.maint = memMaintenance(t, r.clk.Now)
	r.e, err = incidents.NewEngine(ctx, st, r.src, incidents.EngineOptions{
		Policy: p, Logger: testkit.Logger(), Now: r.clk.Now, Sink: r.sink, Maintenance: r.maint,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// set replaces an asset and reconciles it, then runs the timers.
func (r *rig) set(a *assets.Asset) {
	r.t.Helper()
	r.src.set(a)
	if err := r.e.Reconcile(r.ctx, a); err != nil {
		r.t.Fatal(err)
	}
	r.tick()
}

func (r *rig) tick() {
	r.t.Helper()
	if err := r.e.Tick(r.ctx); err != nil {
		r.t.Fatal(err)
	}
}

// advance moves the clock in steps of at most a second, running the timers as the
// engine's loop does.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	for d > 0 {
		s := min(d, time.Second)
		r.clk.Advance(s)
		d -= s
		r.tick()
	}
}

func (r *rig) all() []*incidents.Incident {
	list, _ := r.e.List(incidents.Filter{}, 0, 1000)
	return list
}

func kinds(i *incidents.Incident) []string {
	var out []string
	for _, ev := range i.Timeline {
		out = append(out, ev.Kind)
	}
	return out
}

func TestFlappingDeviceIsOneIncidentWithAtMostTwoNotifications(t *testing.T) {
	for _, c := range []struct {
		name  string
		class assets.Class
		area  string
	}{
		{"life support, no hold", assets.ClassVentilator, "ICU"},
		{"printer, 2 min hold", assets.ClassPrinter, "ADMIN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "")
			// Down and up every 5 s for two minutes, then stable.
			for k := 0; k < 24; k++ {
				if k%2 == 0 {
					r.set(asset("dev", c.class, c.area, "snmp.unreachable"))
				} else {
					r.set(asset("dev", c.class, c.area))
				}
				r.advance(5 * time.Second)
			}
			// Stable for flap.stable (2 min) resolves it, the reopen window (2 min)
			// settles it.
			r.advance(5 * time.Minute)
			list := r.all()
			if len(list) != 1 {
				t.Fatalf("%d incidents, want one", len(list))
			}
			inc := list[0]
			if !inc.Flapping || inc.State != incidents.StateResolved || inc.Settling() {
				t.Fatalf("incident flapping=%v state=%s settling=%v, want a flapping incident resolved for good", inc.Flapping, inc.State, inc.Settling())
			}
			ev := r.sink.events(inc.ID)
			if len(ev) > 2 || !slices.Equal(ev, []string{incidents.NotifyOpened, incidents.NotifyResolved}) {
				t.Fatalf("notifications %v, want opened then resolved", ev)
			}
			if k := kinds(inc); !slices.Contains(k, incidents.EventFlapping) {
				t.Errorf("timeline %v has no flapping event", k)
			}
			// After the episode the condition is news again.
			r.set(asset("dev", c.class, c.area, "snmp.unreachable"))
			r.advance(3 * time.Minute)
			if n := len(r.all()); n != 2 {
				t.Errorf("%d incidents after a new failure, want 2", n)
			}
		})
	}
}

func TestHoldRecoveryHoldAndReopenWindow(t *testing.T) {
	r := newRig(t, "recovery_hold: {default: 30s}\nreopen_window: 1m\nhold: {classes: {INFUSION_PUMP: 10s}}\n")
	r.set(asset("pump", assets.ClassInfusionPump, "WARD", "hl7.heartbeat_lost"))
	r.advance(9 * time.Second)
	if n := len(r.all()); n != 0 {
		t.Fatalf("incident opened during the 10 s hold")
	}
	r.advance(time.Second)
	list := r.all()
	if len(list) != 1 || list[0].State != incidents.StateOpen {
		t.Fatalf("no open incident after the hold: %+v", list)
	}
	id := list[0].ID
	// A blip shorter than the hold never opens anything.
	r.set(asset("pump2", assets.ClassInfusionPump, "WARD", "hl7.heartbeat_lost"))
	r.advance(5 * time.Second)
	r.set(asset("pump2", assets.ClassInfusionPump, "WARD"))
	r.advance(20 * time.Second)
	if n := len(r.all()); n != 1 {
		t.Fatalf("%d incidents: a 5 s blip opened one", n)
	}

	// Recovery hold: clear for 29 s still open, 30 s auto-resolved (settling).
	r.set(asset("pump", assets.ClassInfusionPump, "WARD"))
	r.advance(29 * time.Second)
	if i, _ := r.e.Get(id); i.State != incidents.StateOpen {
		t.Fatalf("resolved before the recovery hold: %s", i.State)
	}
	r.advance(time.Second)
	i, _ := r.e.Get(id)
	if i.State != incidents.StateResolved || !i.Settling() {
		t.Fatalf("state %s settling %v after the recovery hold", i.State, i.Settling())
	}
	if ev := r.sink.events(id); !slices.Equal(ev, []string{"opened"}) {
		t.Fatalf("notifications %v while settling, want only opened", ev)
	}
	// It comes back within the reopen window: the same incident reopens, silently.
	r.advance(20 * time.Second)
	r.set(asset("pump", assets.ClassInfusionPump, "WARD", "hl7.heartbeat_lost"))
	i, _ = r.e.Get(id)
	if i.State != incidents.StateOpen || i.ResolvedAt != nil || len(r.all()) != 1 {
		t.Fatalf("not reopened: state %s, %d incidents", i.State, len(r.all()))
	}
	if k := kinds(i); !slices.Contains(k, incidents.EventRecurred) {
		t.Errorf("timeline %v has no recurrence", k)
	}
	// Then it recovers for good: resolved after the hold, notified after the window.
	r.set(asset("pump", assets.ClassInfusionPump, "WARD"))
	r.advance(30*time.Second + 59*time.Second)
	if ev := r.sink.events(id); len(ev) != 1 {
		t.Fatalf("resolution notified before the reopen window passed: %v", ev)
	}
	r.advance(2 * time.Second)
	if ev := r.sink.events(id); !slices.Equal(ev, []string{"opened", "resolved"}) {
		t.Fatalf("notifications %v, want opened, resolved", ev)
	}
	// The key is free again: a new failure is a new incident.
	r.set(asset("pump", assets.ClassInfusionPump, "WARD", "hl7.heartbeat_lost"))
	r.advance(10 * time.Second)
	if n := len(r.all()); n != 2 {
		t.Fatalf("%d incidents after a new failure, want 2", n)
	}
}

func TestNotesAcknowledgeAndManualResolve(t *testing.T) {
	r := newRig(t, "")
	r.set(asset("vent", assets.ClassVentilator, "ICU", "snmp.unreachable"))
	inc := r.all()[0]
	if _, err := r.e.AddNote(r.ctx, inc.ID, "user:ann", "spare ventilator on its way"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.AddNote(r.ctx, "nope", "user:ann", "x"); err == nil {
		t.Fatal("note on a missing incident accepted")
	}
	if _, err := r.e.Acknowledge(r.ctx, inc.ID, "user:bob", ""); err != nil {
		t.Fatal(err)
	}
	r.src.set(asset("vent", assets.ClassVentilator, "ICU"))
	got, err := r.e.Resolve(r.ctx, inc.ID, "user:bob", "swapped")
	if err != nil {
		t.Fatal(err)
	}
	if got.Settling() || got.State != incidents.StateResolved {
		t.Fatalf("a manual resolve is final: %+v", got)
	}
	if k := strings.Join(kinds(got), ","); k != "opened,notified,note,acknowledged,resolved,notified" {
		t.Fatalf("timeline %s", k)
	}
	if _, err := r.e.AddNote(r.ctx, inc.ID, "user:ann", "post-mortem: cable"); err != nil {
		t.Fatalf("notes on resolved incidents: %v", err)
	}
	if ev := r.sink.events(inc.ID); !slices.Equal(ev, []string{"opened", "resolved"}) {
		t.Fatalf("notifications %v", ev)
	}
	// The timeline survives a restart.
	e2, err := incidents.NewEngine(r.ctx, r.st, r.src, incidents.EngineOptions{Logger: testkit.Logger(), Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e2.Get(inc.ID)
	if len(again.Timeline) != 7 || again.Timeline[6].Note != "post-mortem: cable" {
		t.Fatalf("timeline after restart: %v", kinds(again))
	}
}

func TestMaintenanceWindowSuppressesNotificationsAndSLAClocks(t *testing.T) {
	r := newRig(t, "")
	start := r.clk.Now().Add(10 * time.Minute)
	w, err := r.maint.Create(r.ctx, incidents.Window{CareArea: "icu", Start: start, End: start.Add(30 * time.Minute), Reason: "firmware upgrade", CreatedBy: "user:bio"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.maint.Create(r.ctx, incidents.Window{Start: start, End: start.Add(time.Hour), Reason: "x"}); err == nil {
		t.Fatal("a window without scope was accepted")
	}
	if _, err := r.maint.Create(r.ctx, incidents.Window{Class: "PRINTER", Start: start, End: start.Add(-time.Hour), Reason: "x"}); err == nil {
		t.Fatal("a window ending before it starts was accepted")
	}
	// Scheduled ahead: before it starts, incidents notify as usual.
	r.set(asset("mon-early", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"))
	if ev := r.sink.events(""); len(ev) != 1 {
		t.Fatalf("notifications before the window: %v", ev)
	}
	r.advance(15 * time.Minute) // now inside the window
	if err := r.e.CheckSLA(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.set(asset("mon", assets.ClassPatientMonitor, "ICU", "snmp.unreachable"))
	r.set(asset("pump-ward", assets.ClassInfusionPump, "WARD", "snmp.unreachable"))
	open := true
	list, _ := r.e.List(incidents.Filter{AssetID: "mon", Open: &open}, 0, 10)
	if len(list) != 1 {
		t.Fatal("the record must exist during maintenance")
	}
	mon := list[0]
	if mon.Notified || mon.PausedSince == nil || r.e.InMaintenance(mon) == nil {
		t.Fatalf("incident in maintenance: notified=%v paused=%v", mon.Notified, mon.PausedSince)
	}
	if ev := r.sink.events(""); len(ev) != 2 { // mon-early, pump-ward
		t.Fatalf("notifications during the window: %v", ev)
	}
	// The SLA clock stands still: no breach though the ack target passes.
	r.advance(20 * time.Minute)
	if err := r.e.CheckSLA(r.ctx); err != nil {
		t.Fatal(err)
	}
	mon, _ = r.e.Get(mon.ID)
	if mon.AckBreachedAt != nil || mon.EscalationLevel != 0 || mon.SLABreached(r.clk.Now()) {
		t.Fatalf("SLA ran during maintenance: %+v", mon)
	}
	early, _ := r.e.List(incidents.Filter{AssetID: "mon-early"}, 0, 1)
	if early[0].PausedSince == nil {
		t.Errorf("an incident entering a window has its clock paused too")
	}
	// The window ends (cancelled early): clock resumes with due times pushed, and the
	// incident is notified.
	if _, err := r.maint.Cancel(r.ctx, w.ID, "user:bio"); err != nil {
		t.Fatal(err)
	}
	paused := r.clk.Now().Sub(*mon.PausedSince)
	due := mon.AckDueAt
	r.tick()
	if err := r.e.CheckSLA(r.ctx); err != nil {
		t.Fatal(err)
	}
	mon, _ = r.e.Get(mon.ID)
	if mon.PausedSince != nil || !mon.AckDueAt.Equal(due.Add(paused)) {
		t.Fatalf("ack due %s, want %s pushed by %s", mon.AckDueAt, due, paused)
	}
	if !mon.Notified || !slices.Contains(kinds(mon), incidents.EventSLAResumed) {
		t.Fatalf("after the window: notified=%v timeline %v", mon.Notified, kinds(mon))
	}
	if _, err := r.maint.Cancel(r.ctx, w.ID, "user:bio"); err == nil {
		t.Fatal("cancelling an ended window succeeded")
	}
	if l := r.maint.List(false); len(l) != 0 {
		t.Fatalf("ended windows listed: %v", l)
	}
}

func TestSLABreachAndEscalationLevels(t *testing.T) {
	r := newRig(t, "")
	r.set(asset("vent", assets.ClassVentilator, "ICU", "snmp.unreachable"))
	inc := r.all()[0]
	check := func() *incidents.Incident {
		t.Helper()
		if err := r.e.CheckSLA(r.ctx); err != nil {
			t.Fatal(err)
		}
		i, _ := r.e.Get(inc.ID)
		return i
	}
	r.advance(4 * time.Minute)
	if i := check(); i.EscalationLevel != 0 || i.AckBreachedAt != nil {
		t.Fatalf("escalated before the 5 min acknowledge target")
	}
	r.clk.Advance(2 * time.Minute)
	i := check()
	if i.EscalationLevel != 1 || i.AckBreachedAt == nil || !i.SLABreached(r.clk.Now()) {
		t.Fatalf("after 6 min unacknowledged: level %d breached %v", i.EscalationLevel, i.AckBreachedAt)
	}
	if _, err := r.e.Acknowledge(r.ctx, inc.ID, "user:duty", ""); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(55 * time.Minute) // restore target (1 h) passed
	if i = check(); i.EscalationLevel != 2 || i.RestoreBreachedAt == nil {
		t.Fatalf("restore breach: level %d", i.EscalationLevel)
	}
	r.clk.Advance(time.Hour) // an hour past restore: the P1-only third level
	if i = check(); i.EscalationLevel != 3 {
		t.Fatalf("level %d, want 3", i.EscalationLevel)
	}
	if i = check(); i.EscalationLevel != 3 {
		t.Fatal("levels fire once")
	}
	ev := r.sink.events(inc.ID)
	if !slices.Equal(ev, []string{"opened", "escalated", "escalated", "escalated"}) {
		t.Fatalf("notifications %v", ev)
	}
	var names []string
	for _, n := range r.sink.all() {
		if n.Event == "escalated" {
			names = append(names, n.Incident.Escalation)
		}
	}
	if strings.Join(names, ",") != "duty-engineer,biomed-lead,clinical-director" {
		t.Fatalf("escalation levels %v", names)
	}
	// A P4 incident never reaches the P1/P2-only level.
	r.set(asset("lab", assets.ClassLabAnalyzer, "LAB", "snmp.unreachable"))
	lab, _ := r.e.List(incidents.Filter{AssetID: "lab"}, 0, 1)
	r.clk.Advance(100 * time.Hour)
	check()
	got, _ := r.e.Get(lab[0].ID)
	if got.Priority != incidents.P4 || got.EscalationLevel != 3 || strings.Count(strings.Join(kinds(got), ","), "escalated") != 2 {
		t.Fatalf("P4 escalations: level %d timeline %v", got.EscalationLevel, kinds(got))
	}
}
