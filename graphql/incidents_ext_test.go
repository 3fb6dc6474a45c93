package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// engineAssets is an asset source for the real engine behind the API.
type engineAssets struct{ fakeAssets }

func (r *engineAssets) Each(fn func(*assets.Asset)) {
	for _, a := range r.list {
		fn(a)
	}
}

func (r *engineAssets) Dependents(id string) []string {
	var out []string
	for _, a := range r.list {
		for _, u := range a.Upstream {
			if u.Target == id {
				out = append(out, a.ID)
			}
		}
	}
	return out
}

func TestIncidentNotesMaintenanceAndCorrelationFields(t *testing.T) {
	ctx := context.Background()
	s := testkit.Store(t)
	reg := &engineAssets{}
	sw := &assets.Asset{ID: "sw", Name: "sw-1", Class: assets.ClassNetworkSwitch, Location: assets.Location{CareArea: "ICU"},
		Channels: []*assets.Channel{{Collector: "c", Channel: "snmp", State: "DOWN", Conditions: []string{"snmp.unreachable"}}}}
	mon := &assets.Asset{ID: "mon", Name: "mon-1", Class: assets.ClassPatientMonitor, Location: assets.Location{CareArea: "ICU"},
		Upstream: []assets.Relation{{Kind: assets.RelConnectedTo, Target: "sw"}},
		Channels: []*assets.Channel{{Collector: "c", Channel: "snmp", State: "DOWN", Conditions: []string{"snmp.unreachable"}}}}
	reg.list = []*assets.Asset{sw, mon}
	st, err := incidents.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	maint, err := incidents.OpenMaintenance(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := incidents.NewEngine(ctx, st, reg, incidents.EngineOptions{Logger: testkit.Logger(), Maintenance: maint})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range reg.list {
		if err := e.Reconcile(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	h, err := NewHandler(Deps{Assets: reg, Incidents: e, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer, "desk-tok": auth.RoleServiceDesk}, nil, testkit.Logger(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	q := func(token, query string, vars map[string]any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		_, out := post(t, srv.URL, token, string(b))
		return out
	}

	out := q("viewer-tok", `{ incidents(filter: {assetId: "sw"}) { nodes { id priority suppressedCount impactedCount worstImpact dependents flapping notified escalationLevel
		linkedIncidents { asset { id } suppressed suppressedBy { id } } } } }`, nil)
	nodes := out["data"].(map[string]any)["incidents"].(map[string]any)["nodes"].([]any)
	root := nodes[0].(map[string]any)
	linked := root["linkedIncidents"].([]any)
	if root["suppressedCount"] != float64(1) || root["impactedCount"] != float64(1) || root["dependents"] != float64(1) ||
		root["worstImpact"] != "P1: PATIENT_MONITOR in ICU" || len(linked) != 1 ||
		linked[0].(map[string]any)["suppressedBy"].(map[string]any)["id"] != root["id"] {
		t.Fatalf("root incident fields: %v", root)
	}
	id := root["id"].(string)

	// Notes: service desk may, viewers may not, empty ones are refused.
	out = q("desk-tok", `mutation($id: ID!) { addIncidentNote(id: $id, note: "called the ward") { timeline { kind actor note } } }`, map[string]any{"id": id})
	tl := out["data"].(map[string]any)["addIncidentNote"].(map[string]any)["timeline"].([]any)
	if last := tl[len(tl)-1].(map[string]any); last["kind"] != "note" || last["actor"] != "user:desk-tok" || last["note"] != "called the ward" {
		t.Fatalf("timeline %v", tl)
	}
	if c := firstCode(q("viewer-tok", `mutation($id: ID!) { addIncidentNote(id: $id, note: "x") { id } }`, map[string]any{"id": id})); c != CodeForbidden {
		t.Errorf("viewer note: %q", c)
	}
	if c := firstCode(q("desk-tok", `mutation($id: ID!) { addIncidentNote(id: $id, note: "  ") { id } }`, map[string]any{"id": id})); c != CodeBadUserInput {
		t.Errorf("empty note: %q", c)
	}
	if c := firstCode(q("desk-tok", `mutation { addIncidentNote(id: "nope", note: "x") { id } }`, nil)); c != CodeNotFound {
		t.Errorf("note on unknown incident: %q", c)
	}

	// Maintenance windows: create ahead, list, refuse nonsense, cancel.
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	out = q("desk-tok", `mutation($s: Time, $e: Time!) { createMaintenanceWindow(input: {class: PATIENT_MONITOR, careArea: "ICU", start: $s, end: $e, reason: "firmware 2.4"}) { id class careArea active createdBy } }`,
		map[string]any{"s": start, "e": end})
	w, ok := out["data"].(map[string]any)["createMaintenanceWindow"].(map[string]any)
	if !ok || w["active"] != false || w["class"] != "PATIENT_MONITOR" || w["createdBy"] != "user:desk-tok" {
		t.Fatalf("created window: %v", out)
	}
	for name, input := range map[string]string{
		"no scope":      fmt.Sprintf(`{end: %q, reason: "x"}`, end),
		"end in past":   `{site: "main", end: "2001-01-01T00:00:00Z", reason: "x"}`,
		"unknown asset": fmt.Sprintf(`{assetId: "ghost", end: %q, reason: "x"}`, end),
	} {
		c := firstCode(q("desk-tok", `mutation { createMaintenanceWindow(input: `+input+`) { id } }`, nil))
		if c != CodeBadUserInput && c != CodeNotFound {
			t.Errorf("%s: code %q", name, c)
		}
	}
	out = q("viewer-tok", `{ maintenanceWindows { id reason } }`, nil)
	if l := out["data"].(map[string]any)["maintenanceWindows"].([]any); len(l) != 1 {
		t.Fatalf("windows %v", l)
	}
	out = q("desk-tok", `mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { cancelledAt cancelledBy } }`, map[string]any{"id": w["id"]})
	if c := out["data"].(map[string]any)["cancelMaintenanceWindow"].(map[string]any); c["cancelledBy"] != "user:desk-tok" || c["cancelledAt"] == nil {
		t.Fatalf("cancelled: %v", out)
	}
	out = q("viewer-tok", `{ maintenanceWindows { id } all: maintenanceWindows(includeEnded: true) { id } }`, nil)
	if d := out["data"].(map[string]any); len(d["maintenanceWindows"].([]any)) != 0 || len(d["all"].([]any)) != 1 {
		t.Fatalf("after cancel: %v", d)
	}
}
