package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/replay"
	"github.com/medcmdb/medcmdb/internal/server"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// The features beyond the alert, through a running cmdb: knowledge links on the
// incident and in the webhook, a rogue device's security incident, an advisory on the
// asset, the report, the dashboard metrics, and the observation log that replay reads.
func TestBeyondTheAlertThroughTheServer(t *testing.T) {
	var mu sync.Mutex
	var hooks []incidents.Notification
	desk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Notification incidents.Notification `json:"notification"`
		}
		if err := json.Unmarshal(body, &msg); err == nil {
			mu.Lock()
			hooks = append(hooks, msg.Notification)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer desk.Close()
	policyYAML := fmt.Sprintf(`
reopen_window: 0s
problems:
  asset: {threshold: 2, window: 24h}
  schedule: "@every 1s"
webhooks:
  - {name: desk, kind: generic, url: %q, secret: "beyond-test-secret-0123456789"}
knowledge:
  - {class: VENTILATOR, condition: snmp.unreachable, title: "Ventilator offline", url: "https://wiki.example.org/rb/vent-offline"}
  - {manufacturer: Acme, model: V1, title: "Acme V1 quirks", text: "Power-cycle the comms module (rear switch) before escalating."}
  - {condition: "security.*", title: "Unknown device procedure", url: "https://wiki.example.org/rb/rogue"}
`, desk.URL)
	pol, err := incidents.ParsePolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dir, Policy: pol, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()
	tok, err := os.ReadFile(srv.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	g := &testkit.GraphQL{URL: srv.URL() + "/graphql", Token: strings.TrimSpace(string(tok))}

	now := time.Now().UTC()
	obs := []map[string]any{
		{"id": "o1", "collector": "c1", "site": "main", "observedAt": now, "validUntil": now.Add(time.Hour), "source": "SNMP_POLL", "kind": "CHANGE",
			"address":  map[string]any{"ip": "10.1.0.5"},
			"identity": map[string]any{"sysName": "vent-7", "class": "VENTILATOR", "manufacturer": "Acme", "model": "V1", "firmware": "2.3.0", "macs": []string{"00:aa:bb:00:00:07"}},
			"location": map[string]any{"careArea": "ICU", "unit": "ICU-2"},
			"state":    "DOWN", "condition": "snmp.unreachable", "conditions": []string{"snmp.unreachable"}, "clinical": true},
		{"id": "o2", "collector": "c1", "site": "main", "observedAt": now, "validUntil": now.Add(time.Hour), "source": "SNMP_SWEEP", "kind": "DISCOVERED",
			"address":  map[string]any{"ip": "10.1.0.99"},
			"identity": map[string]any{"sysName": "mystery", "sysObjectID": "1.3.6.1.4.1.31337.1", "macs": []string{"de:ad:be:ef:00:99"}},
			"location": map[string]any{"careArea": "ICU", "unit": "ICU-2"},
			"state":    "UP", "conditions": []string{}, "clinical": true},
	}
	var rep struct {
		ReportObservations struct{ Accepted int } `json:"reportObservations"`
	}
	g.Query(t, `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }`,
		map[string]any{"b": map[string]any{"collector": "c1", "observations": obs}}, &rep)
	if rep.ReportObservations.Accepted != 2 {
		t.Fatalf("accepted %d", rep.ReportObservations.Accepted)
	}

	type knowledge struct{ Title, URL, Text, Match string }
	type incident struct {
		ID, Condition, Priority string
		Asset                   struct{ Name string }
		Knowledge               []knowledge
	}
	var list struct {
		Incidents struct{ Nodes []incident }
	}
	testkit.Eventually(t, 15*time.Second, func() error {
		if err := g.Try(`{ incidents(filter: {open: true}) { nodes { id condition priority asset { name } knowledge { title url text match } } } }`, nil, &list); err != nil {
			return err
		}
		if len(list.Incidents.Nodes) != 2 {
			return fmt.Errorf("%d open incidents", len(list.Incidents.Nodes))
		}
		return nil
	})
	byCond := map[string]incident{}
	for _, i := range list.Incidents.Nodes {
		byCond[i.Condition] = i
	}
	vent, rogueInc := byCond["snmp.unreachable"], byCond[observation.CondRogueDevice]
	if vent.Priority != "P1" || len(vent.Knowledge) != 2 || vent.Knowledge[0].Title != "Ventilator offline" || vent.Knowledge[1].Text == "" {
		t.Errorf("ventilator incident %+v", vent)
	}
	if rogueInc.Asset.Name != "mystery" || len(rogueInc.Knowledge) != 1 || rogueInc.Knowledge[0].URL != "https://wiki.example.org/rb/rogue" {
		t.Errorf("rogue incident %+v", rogueInc)
	}
	var rogues struct{ RogueDevices []struct{ Name string } }
	g.Query(t, `{ rogueDevices { name } }`, nil, &rogues)
	if len(rogues.RogueDevices) != 1 || rogues.RogueDevices[0].Name != "mystery" {
		t.Errorf("rogueDevices %+v", rogues)
	}

	// The webhook carries the runbooks.
	testkit.Eventually(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range hooks {
			if n.Incident.Condition == "snmp.unreachable" && len(n.Knowledge) == 2 && n.Knowledge[0].URL == "https://wiki.example.org/rb/vent-offline" {
				return nil
			}
		}
		return fmt.Errorf("%d notifications, none with the ventilator's runbooks", len(hooks))
	})

	// An advisory marks the ventilator.
	var adv struct{ AddAdvisory struct{ ID string } }
	g.Query(t, `mutation { addAdvisory(input: {source: VENDOR, publisher: "Acme PSIRT", reference: "ACME-SA-2026-03", title: "V1 comms module crash",
		severity: HIGH, manufacturer: "acme", model: "v1", firmware: ">= 2.0, < 2.4"}) { id } }`, nil, &adv)
	var asset struct {
		Assets struct {
			Nodes []struct {
				Advisories []struct{ Reference string }
				Rogue      bool
			}
		}
	}
	g.Query(t, `{ assets(filter: {search: "vent-7"}) { nodes { advisories { reference } rogue } } }`, nil, &asset)
	if n := asset.Assets.Nodes; len(n) != 1 || len(n[0].Advisories) != 1 || n[0].Advisories[0].Reference != "ACME-SA-2026-03" || n[0].Rogue {
		t.Errorf("asset advisories %+v", asset)
	}

	// The report and its CSV.
	var report struct {
		IncidentReport struct {
			Total struct{ Incidents int }
			Rows  []struct {
				Key       string
				Incidents int
			}
		}
		IncidentReportCSV string
	}
	vars := map[string]any{"from": now.Add(-time.Hour)}
	g.Query(t, `query($from: Time!) { incidentReport(from: $from, groupBy: CLASS) { total { incidents } rows { key incidents } }
		incidentReportCSV(from: $from, groupBy: CARE_AREA) }`, vars, &report)
	t.Logf("report CSV:\n%s", report.IncidentReportCSV)
	if report.IncidentReport.Total.Incidents != 2 || len(report.IncidentReport.Rows) != 2 ||
		!strings.Contains(report.IncidentReportCSV, ",CARE_AREA,ICU,2,") {
		t.Errorf("report %+v", report)
	}

	// The ventilator recovers and fails again: two incidents, a problem.
	for i, st := range []string{"UP", "DOWN"} {
		o := obs[0]
		o["id"], o["observedAt"], o["state"] = fmt.Sprintf("o%d", 3+i), now.Add(time.Duration(i+1)*time.Second), st
		if st == "UP" {
			o["conditions"] = []string{}
		} else {
			o["conditions"] = []string{"snmp.unreachable"}
		}
		g.Query(t, `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }`,
			map[string]any{"b": map[string]any{"collector": "c1", "observations": []map[string]any{o}}}, &rep)
	}
	type problem struct {
		ID, Number, Scope, State, RootCause string
		IncidentCount                       int
		Incidents                           []struct{ ID string }
	}
	var probs struct{ Problems struct{ Nodes []problem } }
	testkit.Eventually(t, 20*time.Second, func() error {
		if err := g.Try(`{ problems(filter: {state: OPEN}) { nodes { id number scope state incidentCount incidents { id } } } }`, nil, &probs); err != nil {
			return err
		}
		if len(probs.Problems.Nodes) != 1 {
			return fmt.Errorf("%d open problems", len(probs.Problems.Nodes))
		}
		return nil
	})
	pr := probs.Problems.Nodes[0]
	if pr.Scope != "ASSET" || pr.IncidentCount != 2 || len(pr.Incidents) != 2 {
		t.Fatalf("problem %+v", pr)
	}
	var linked struct {
		Incident struct{ Problems []struct{ Number string } }
	}
	g.Query(t, `query($id: ID!) { incident(id: $id) { problems { number } } }`, map[string]any{"id": pr.Incidents[0].ID}, &linked)
	if len(linked.Incident.Problems) != 1 || linked.Incident.Problems[0].Number != pr.Number {
		t.Errorf("incident.problems %+v", linked)
	}
	var un struct{ UnlinkIncidentFromProblem problem }
	g.Query(t, `mutation($p: ID!, $i: ID!) { unlinkIncidentFromProblem(problemId: $p, incidentId: $i) { incidentCount } }`,
		map[string]any{"p": pr.ID, "i": pr.Incidents[0].ID}, &un)
	if un.UnlinkIncidentFromProblem.IncidentCount != 1 {
		t.Errorf("after unlink: %+v", un)
	}
	if r, err := g.Do(`mutation($p: ID!) { closeProblem(id: $p, rootCause: "  ") { id } }`, map[string]any{"p": pr.ID}); err != nil || r.Code() != "BAD_USER_INPUT" {
		t.Errorf("closing without a root cause: %v %+v", err, r)
	}
	var closed struct{ CloseProblem problem }
	g.Query(t, `mutation($p: ID!) { closeProblem(id: $p, rootCause: "comms module firmware 2.3.0; upgrade to 2.4") { state rootCause } }`,
		map[string]any{"p": pr.ID}, &closed)
	if closed.CloseProblem.State != "CLOSED" || !strings.Contains(closed.CloseProblem.RootCause, "2.3.0") {
		t.Errorf("closed %+v", closed)
	}

	// The dashboard metrics.
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`medcmdb_advisory_affected_assets{severity="HIGH",source="VENDOR"} 1`,
		`medcmdb_rogue_devices 1`,
		`medcmdb_incidents_opened{priority="P1",window="24h"} 2`,
		`medcmdb_problems_open{scope="ASSET"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The observation log kept both observations; replay reads it once the store is free.
	stop()
	st, err := store.Open(context.Background(), store.Options{DataDir: dir, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	n := 0
	if err := obslog.Open(st.DB, nil).Read(context.Background(), now.Add(-time.Hour), time.Time{}, func(b *obslog.Batch) error {
		n += len(b.Observations)
		if !b.Observations[0].Clinical {
			t.Error("the clinical flag was not kept")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("observation log holds %d observations, want 4", n)
	}
	cand, err := incidents.ParsePolicy([]byte(policyYAML + "care_area_acuity: {ICU: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := replay.Run(context.Background(), replay.Options{Live: st, Baseline: pol, Candidate: cand, From: now.Add(-time.Minute), To: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// ICU at acuity 3: the ventilator P1 → P2, and the rogue device (replayed from its
	// recorded clinical flag) P4 → P5.
	moves := map[string]string{}
	for _, c := range rp.Changed {
		moves[c.Baseline.AssetName] = string(c.Baseline.Priority) + "→" + string(c.Candidate.Priority)
	}
	if len(rp.Changed) != 3 || moves["vent-7"] != "P1→P2" || moves["mystery"] != "P4→P5" || rp.Counts[0].Live != 2 || rp.Counts[0].Baseline != 2 {
		t.Errorf("replay of the server's history: %v %+v\nchanged %+v\nonly base %+v\nonly cand %+v", moves, rp.Counts, rp.Changed, rp.OnlyBaseline, rp.OnlyCandidate)
	}
}
