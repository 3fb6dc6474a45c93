package reports_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/reports"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

type rig struct {
	t   *testing.T
	st  *store.Store
	now time.Time
	reg *assets.Service
	eng *incidents.Engine
	seq int
}

func (r *rig) clock() time.Time { return r.now }

func (r *rig) engine() *incidents.Engine {
	ist, err := incidents.OpenStore(context.Background(), r.st)
	if err != nil {
		r.t.Fatal(err)
	}
	e, err := incidents.NewEngine(context.Background(), ist, r.reg, incidents.EngineOptions{Logger: testkit.Logger(), Now: r.clock})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// at moves the clock and runs the engine's timers.
func (r *rig) at(d time.Duration) {
	r.now = t0.Add(d)
	if err := r.eng.Tick(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) state(name, class, area string, down bool) {
	r.seq++
	o := observation.Observation{ID: fmt.Sprintf("o%d", r.seq), Collector: "c", Site: "main", ObservedAt: r.now, ValidUntil: r.now.Add(time.Hour),
		Source: observation.SourceSNMPPoll, Kind: observation.KindChange, State: observation.StateUp, Conditions: []string{},
		Identity: observation.Identity{SysName: name, Class: class, Manufacturer: "Acme", Model: class[:3] + "-1"},
		Location: &observation.Location{CareArea: area, Unit: name}}
	if down {
		o.State, o.Conditions = observation.StateDown, []string{observation.CondSNMPUnreachable}
	}
	outs, err := r.reg.Apply(context.Background(), []observation.Observation{o}, "")
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.eng.Handle(context.Background(), outs); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) ack(name string) {
	list, _ := r.eng.List(incidents.Filter{Open: ptr(true)}, 0, 100)
	for _, i := range list {
		if a, _ := r.reg.Get(i.AssetID); a.Name == name {
			if _, err := r.eng.Acknowledge(context.Background(), i.ID, "user:desk", ""); err != nil {
				r.t.Fatal(err)
			}
			return
		}
	}
	r.t.Fatalf("no open incident on %s", name)
}

var t0 = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestReportFiguresAndStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	r := &rig{t: t, st: testkit.Store(t), now: t0}
	ast, err := assets.OpenStore(ctx, r.st)
	if err != nil {
		t.Fatal(err)
	}
	if r.reg, err = assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger(), Now: r.clock}); err != nil {
		t.Fatal(err)
	}
	r.eng = r.engine()
	m := time.Minute
	// A: ventilator in the ICU (P1: acknowledge 5 min, restore 1 h), acknowledged after
	// 3 min, back after 30 min: within SLA.
	r.state("vent-1", "VENTILATOR", "ICU", true)
	r.at(3 * m)
	r.ack("vent-1")
	r.at(30 * m)
	r.state("vent-1", "VENTILATOR", "ICU", false)
	// B: monitor on a ward (P2: 15 min / 4 h), never acknowledged, back after 25 min:
	// acknowledge target missed.
	r.at(60 * m)
	r.state("mon-1", "PATIENT_MONITOR", "WARD", true)
	r.at(85 * m)
	r.state("mon-1", "PATIENT_MONITOR", "WARD", false)
	// C: the ventilator again; clears after 10 min and returns a minute later (within
	// the reopen window: the same incident), acknowledged after 20 min, back at 40.
	r.at(120 * m)
	r.state("vent-1", "VENTILATOR", "ICU", true)
	r.at(130 * m)
	r.state("vent-1", "VENTILATOR", "ICU", false)
	r.at(131 * m)
	r.state("vent-1", "VENTILATOR", "ICU", true)
	r.at(140 * m)
	r.ack("vent-1")
	r.at(160 * m)
	r.state("vent-1", "VENTILATOR", "ICU", false)
	r.at(170 * m) // settled

	check := func(eng *incidents.Engine, label string) {
		list, _ := eng.List(incidents.Filter{}, 0, 100)
		rep, err := reports.Compute(list, nil, t0.Add(-time.Hour), t0.Add(24*time.Hour), r.now, reports.ByPriority)
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]*reports.Row{}
		for _, row := range rep.Rows {
			rows[row.Key] = row
		}
		if len(rep.Rows) != 5 {
			t.Errorf("%s: %d rows, want one per priority", label, len(rep.Rows))
		}
		p1, p2 := rows["P1"], rows["P2"]
		c1, _ := p1.SLACompliance()
		if p1.Incidents != 2 || p1.MTTA() != 690*time.Second || p1.MTTR() != 35*m || c1 != 0.5 || p1.ReopenRate() != 0.5 || p1.Open != 0 {
			t.Errorf("%s: P1 %+v MTTA %s MTTR %s SLA %.2f reopen %.2f", label, *p1, p1.MTTA(), p1.MTTR(), c1, p1.ReopenRate())
		}
		c2, ok := p2.SLACompliance()
		if p2.Incidents != 1 || p2.Acknowledged != 0 || p2.MTTR() != 25*m || !ok || c2 != 0 || p2.Reopened != 0 {
			t.Errorf("%s: P2 %+v MTTR %s SLA %.2f", label, *p2, p2.MTTR(), c2)
		}
		if rep.Total.Incidents != 3 || rep.Total.SLAMet != 1 || rep.Total.SLAMeasured != 3 {
			t.Errorf("%s: total %+v", label, *rep.Total)
		}
		byArea, _ := reports.Compute(list, nil, t0, t0.Add(24*time.Hour), r.now, reports.ByCareArea)
		if len(byArea.Rows) != 2 || byArea.Rows[0].Key != "ICU" || byArea.Rows[0].Incidents != 2 || byArea.Rows[1].Key != "WARD" {
			t.Errorf("%s: by care area %+v", label, byArea.Rows)
		}
		models := func(id string) string {
			a, _ := r.reg.Get(id)
			return a.Manufacturer + " " + a.Model
		}
		byModel, _ := reports.Compute(list, models, t0, t0.Add(24*time.Hour), r.now, reports.ByModel)
		if len(byModel.Rows) != 2 || byModel.Rows[0].Key != "Acme VEN-1" {
			t.Errorf("%s: by model %+v", label, byModel.Rows)
		}
		csv, err := byModel.CSV()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "from,to,group_by,key,incidents") ||
			!strings.Contains(lines[1], ",MODEL,Acme VEN-1,2,0,0,2,2,690,2100,2,1,50.0,1,50.0") || !strings.Contains(lines[3], ",total,3,") {
			t.Errorf("%s: CSV\n%s", label, csv)
		}
	}
	check(r.eng, "live")
	// The figures come from stored incidents: a restarted engine reports the same.
	check(r.engine(), "reloaded")

	// The dashboard gauges.
	reg := prometheus.NewRegistry()
	reg.MustRegister(reports.NewCollector(r.eng, r.clock))
	want := `
# HELP medcmdb_incident_mtta_seconds Mean time to acknowledge of the incidents opened within the window (not suppressed), by priority.
# TYPE medcmdb_incident_mtta_seconds gauge
medcmdb_incident_mtta_seconds{priority="P1",window="24h"} 690
medcmdb_incident_mtta_seconds{priority="P1",window="30d"} 690
medcmdb_incident_mtta_seconds{priority="P1",window="7d"} 690
# HELP medcmdb_sla_compliance_ratio Share of the incidents opened within the window whose SLA outcome is known that met both targets, by priority.
# TYPE medcmdb_sla_compliance_ratio gauge
medcmdb_sla_compliance_ratio{priority="P1",window="24h"} 0.5
medcmdb_sla_compliance_ratio{priority="P1",window="30d"} 0.5
medcmdb_sla_compliance_ratio{priority="P1",window="7d"} 0.5
medcmdb_sla_compliance_ratio{priority="P2",window="24h"} 0
medcmdb_sla_compliance_ratio{priority="P2",window="30d"} 0
medcmdb_sla_compliance_ratio{priority="P2",window="7d"} 0
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want), "medcmdb_incident_mtta_seconds", "medcmdb_sla_compliance_ratio"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "medcmdb_incidents_opened"); n != 15 {
		t.Errorf("medcmdb_incidents_opened: %d series, want 5 priorities × 3 windows", n)
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	if _, err := reports.Compute(nil, nil, t0, t0, t0, reports.ByPriority); err == nil {
		t.Error("empty range accepted")
	}
	if _, err := reports.Compute(nil, nil, t0, t0.Add(time.Hour), t0, "COLOUR"); err == nil {
		t.Error("unknown grouping accepted")
	}
}
