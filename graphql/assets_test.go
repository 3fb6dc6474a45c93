package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// newAssetServer serves the API over a real asset registry on the test store.
func newAssetServer(t testing.TB) (*httptest.Server, *assets.Service) {
	return newAssetServerWith(t, DefaultLimits())
}

// newAssetServerWith is newAssetServer with other limits.
func newAssetServerWith(t testing.TB, l Limits) (*httptest.Server, *assets.Service) {
	t.Helper()
	ctx := context.Background()
	st, err := assets.OpenStore(ctx, testkit.Store(t))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := assets.NewService(ctx, st, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Deps{Assets: svc, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer, "alice": auth.RoleBiomed, "desk-tok": auth.RoleServiceDesk, "admin-tok": auth.RoleAdmin},
		nil, testkit.Logger(), l)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, svc
}

func gqlDo(t *testing.T, url, token, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return post(t, url, token, string(body))
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestAssetAPI(t *testing.T) {
	srv, svc := newAssetServer(t)
	now := time.Now().UTC().Truncate(time.Second)
	obs := func(id, ip, name, class, area string, nb ...observation.Neighbor) observation.Observation {
		return observation.Observation{ID: id, Collector: "c1", Site: "main", ObservedAt: now, ValidUntil: now.Add(time.Hour),
			Source: observation.SourceSNMPPoll, State: observation.StateUp, Conditions: []string{},
			Address: &observation.Address{IP: ip}, Identity: observation.Identity{SysName: name, Class: class},
			Location: &observation.Location{CareArea: area}, Neighbors: nb}
	}
	_, err := svc.Apply(context.Background(), []observation.Observation{
		obs("o1", "10.0.0.1", "sw-icu", "NETWORK_SWITCH", "ICU"),
		obs("o2", "10.0.0.2", "vent-1", "VENTILATOR", "ICU", observation.Neighbor{Kind: "CONNECTED_TO", SysName: "sw-icu", Port: "1"}),
		obs("o3", "10.0.0.3", "mon-1", "PATIENT_MONITOR", "ICU", observation.Neighbor{Kind: "CONNECTED_TO", SysName: "sw-icu", Port: "2"}),
		obs("o4", "10.0.0.4", "prn-1", "PRINTER", "ADMIN"),
	}, "r")
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := svc.List(assets.Filter{Search: "sw-icu"}, 0, 1)
	vent, _ := svc.List(assets.Filter{Search: "vent-1"}, 0, 1)

	// Both directions of a relation, from memory.
	_, out := gqlDo(t, srv.URL, "viewer-tok", `query($id: ID!) { asset(id: $id) { name dependents { kind port asset { name upstream { asset { name } } } } } }`,
		map[string]any{"id": sw[0].ID})
	deps := dig(out, "data", "asset", "dependents").([]any)
	if len(deps) != 2 || dig(deps, 0, "asset", "name") != "vent-1" || dig(deps, 0, "asset", "upstream", 0, "asset", "name") != "sw-icu" {
		t.Fatalf("dependents: %v", out)
	}

	// Health summary by care area.
	_, out = gqlDo(t, srv.URL, "viewer-tok", `{ assetHealth(groupBy: [CARE_AREA]) { careArea site class total operational down } }`, nil)
	groups := dig(out, "data", "assetHealth").([]any)
	if len(groups) != 2 || dig(groups, 0, "careArea") != "ICU" || dig(groups, 0, "total") != 3.0 || dig(groups, 0, "operational") != 3.0 || dig(groups, 0, "site") != nil {
		t.Fatalf("health: %v", out)
	}

	// A viewer may not edit; a biomed engineer may, and the history names her.
	edit := `mutation($id: ID!, $in: AssetInput!) { updateAsset(id: $id, input: $in) { assetTag owner location { room careArea } nextPMDue pmOverdue risk { score managed function } } }`
	in := map[string]any{"assetTag": "BME-7", "owner": "Biomed", "location": map[string]any{"room": "12"}, "lastPM": "2020-01-01", "pmIntervalDays": 90}
	if status, out := gqlDo(t, srv.URL, "viewer-tok", edit, map[string]any{"id": vent[0].ID, "in": in}); status != 403 || firstCode(out) != CodeForbidden {
		t.Fatalf("viewer edit: %d %v", status, out)
	}
	status, out := gqlDo(t, srv.URL, "alice", edit, map[string]any{"id": vent[0].ID, "in": in})
	got := dig(out, "data", "updateAsset")
	if status != 200 || dig(got, "assetTag") != "BME-7" || dig(got, "location", "room") != "12" || dig(got, "location", "careArea") != "ICU" ||
		dig(got, "nextPMDue") != "2020-03-31" || dig(got, "pmOverdue") != true || dig(got, "risk", "score") != 20.0 || dig(got, "risk", "managed") != true {
		t.Fatalf("biomed edit: %d %v", status, out)
	}
	if status, out := gqlDo(t, srv.URL, "alice", edit, map[string]any{"id": vent[0].ID, "in": map[string]any{"eui64": "zz"}}); status != 400 || firstCode(out) != CodeBadUserInput {
		t.Fatalf("bad edit: %d %v", status, out)
	}
	_, out = gqlDo(t, srv.URL, "viewer-tok", `query($id: ID!) { asset(id: $id) { history(first: 3) { field actor source after cursor } } }`, map[string]any{"id": vent[0].ID})
	hist := dig(out, "data", "asset", "history").([]any)
	if len(hist) != 3 || dig(hist, 0, "actor") != "user:alice" || dig(hist, 0, "source") != "MANUAL" {
		t.Fatalf("history: %v", out)
	}
	// The next page continues after the cursor, down to the creation record.
	cursor := dig(hist, 2, "cursor")
	_, out = gqlDo(t, srv.URL, "viewer-tok", `query($id: ID!, $c: String) { asset(id: $id) { history(first: 100, after: $c) { field seq } } }`,
		map[string]any{"id": vent[0].ID, "c": cursor})
	rest := dig(out, "data", "asset", "history").([]any)
	if len(rest) == 0 || dig(rest, len(rest)-1, "field") != "created" || dig(rest, len(rest)-1, "seq") != 0.0 ||
		dig(rest, 0, "seq").(float64) != mustSeq(t, cursor)-1 {
		t.Fatalf("second history page after %v: %v", cursor, out)
	}

	// Filters: PM overdue, care area.
	_, out = gqlDo(t, srv.URL, "viewer-tok", `{ assets(filter: {pmOverdue: true}) { totalCount nodes { name } } }`, nil)
	if dig(out, "data", "assets", "totalCount") != 1.0 {
		t.Fatalf("pmOverdue filter: %v", out)
	}

	// Recall shows on the matching asset.
	if _, err := svc.Update(context.Background(), vent[0].ID, assets.Edit{Manufacturer: ptr("Draeger"), Model: ptr("V800")}, "user:alice", ""); err != nil {
		t.Fatal(err)
	}
	_, out = gqlDo(t, srv.URL, "alice", `mutation { addRecall(input: {manufacturer: "DRAEGER", model: "v800", reference: "Z-1"}) { id } }`, nil)
	if dig(out, "data", "addRecall", "id") == nil {
		t.Fatalf("addRecall: %v", out)
	}
	// A recall's URL becomes a link: a script URL is refused, as for advisories.
	status, out = gqlDo(t, srv.URL, "alice", `mutation { addRecall(input: {manufacturer: "DRAEGER", model: "v800", reference: "Z-2", url: "javascript:alert(document.cookie)"}) { id } }`, nil)
	if status != 400 || firstCode(out) != CodeBadUserInput || !strings.Contains(fmt.Sprint(out), "http(s) URL") {
		t.Fatalf("addRecall with a javascript: URL: %d %v", status, out)
	}
	_, out = gqlDo(t, srv.URL, "viewer-tok", `{ assets(filter: {recalled: true}) { nodes { name recalls { reference } } } }`, nil)
	if dig(out, "data", "assets", "nodes", 0, "recalls", 0, "reference") != "Z-1" {
		t.Fatalf("recalls: %v", out)
	}

	// Import and export through the API.
	csv := "asset_tag,manufacturer,model,serial_number,class,care_area\nBME-8,Acme,P1,S1,INFUSION_PUMP,ICU\nBME-9,Acme,P1,S2,NOPE,ICU\n"
	if status, out := gqlDo(t, srv.URL, "desk-tok", `mutation($c: String!) { importAssets(csv: $c) { created } }`, map[string]any{"c": csv}); status != 403 {
		t.Fatalf("service desk import: %d %v", status, out)
	}
	_, out = gqlDo(t, srv.URL, "alice", `mutation($c: String!) { importAssets(csv: $c) { created updated errors { line message } } }`, map[string]any{"c": csv})
	if dig(out, "data", "importAssets", "created") != 1.0 || dig(out, "data", "importAssets", "errors", 0, "line") != 3.0 {
		t.Fatalf("import: %v", out)
	}
	_, out = gqlDo(t, srv.URL, "viewer-tok", `{ assetsCSV(filter: {careArea: "ICU"}) }`, nil)
	text, _ := dig(out, "data", "assetsCSV").(string)
	if lines := strings.Count(text, "\n"); lines != 5 || !strings.Contains(text, "BME-8") || !strings.Contains(text, "Z-1") {
		t.Fatalf("export (%d lines): %s", strings.Count(text, "\n"), text)
	}

	// Relations by hand; errors name their subject.
	prn, _ := svc.List(assets.Filter{Search: "prn-1"}, 0, 1)
	_, out = gqlDo(t, srv.URL, "alice", `mutation($a: ID!, $b: ID!) { addAssetRelation(id: $a, kind: DEPENDS_ON, upstream: $b) { upstream { kind source asset { name } } } }`,
		map[string]any{"a": prn[0].ID, "b": sw[0].ID})
	if dig(out, "data", "addAssetRelation", "upstream", 0, "source") != "MANUAL" {
		t.Fatalf("addAssetRelation: %v", out)
	}
	status, out = gqlDo(t, srv.URL, "alice", `mutation($a: ID!) { addAssetRelation(id: $a, kind: DEPENDS_ON, upstream: "nope") { id } }`, map[string]any{"a": prn[0].ID})
	if status != 404 || firstCode(out) != CodeNotFound {
		t.Fatalf("relation to an unknown asset: %d %v", status, out)
	}
}

func mustSeq(t *testing.T, cursor any) float64 {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(cursor.(string), "h%d", &n); err != nil {
		t.Fatalf("cursor %v: %v", cursor, err)
	}
	return float64(n)
}

func ptr[T any](v T) *T { return &v }
