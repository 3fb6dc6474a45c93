package graphql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// A NOC's first question, asked of the real engine: a ward workstation opened first
// (P4), an ED switch took two monitors down on SNMP and HL7, and an ICU ventilator
// failed last. The default order puts the P1s first and hides nothing; the suppressed
// filter leaves what someone must act on; the switch names what it took down, devices
// and incidents apart; keyset cursors page through it all.
func TestIncidentsOrderSuppressedFilterAndImpact(t *testing.T) {
	ctx := context.Background()
	reg := &engineAssets{}
	down := func(conds ...string) []*assets.Channel {
		return []*assets.Channel{{Collector: "c", Channel: "snmp", State: "DOWN", Conditions: conds}}
	}
	ws := &assets.Asset{ID: "ws", Name: "ward-ws-1", Class: assets.ClassWorkstation, Location: assets.Location{CareArea: "WARD"}, Channels: down("snmp.unreachable")}
	sw := &assets.Asset{ID: "sw", Name: "ed-sw-1", Class: assets.ClassNetworkSwitch, Location: assets.Location{CareArea: "ED", Unit: "ED-1"}, Channels: down("snmp.unreachable")}
	mon := func(id string, patient bool) *assets.Asset {
		return &assets.Asset{ID: id, Name: id, Class: assets.ClassPatientMonitor, PatientConnected: patient,
			Location: assets.Location{CareArea: "ED", Unit: "ED-1"}, Upstream: []assets.Relation{{Kind: assets.RelConnectedTo, Target: "sw"}},
			Channels: down("snmp.unreachable", "hl7.heartbeat_lost")}
	}
	vent := &assets.Asset{ID: "vent", Name: "icu-vent-1", Class: assets.ClassVentilator, Location: assets.Location{CareArea: "ICU"}, Channels: down("snmp.unreachable")}
	reg.list = []*assets.Asset{ws, mon("ed-mon-1", true), mon("ed-mon-2", false), sw, vent}
	st, err := incidents.OpenStore(ctx, testkit.Store(t))
	if err != nil {
		t.Fatal(err)
	}
	p := incidents.DefaultPolicy()
	p.Hold = incidents.PerClass{} // the workstation opens at once, first
	e, err := incidents.NewEngine(ctx, st, reg, incidents.EngineOptions{Logger: testkit.Logger(), Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range reg.list {
		if err := e.Reconcile(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	h, err := NewHandler(Deps{Assets: reg, Incidents: e, Reporter: &recordingReporter{}},
		fakeAuth{"viewer-tok": auth.RoleViewer}, nil, testkit.Logger(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	type node struct {
		ID, Number, Priority, State string
		Suppressed                  bool
		Asset                       struct{ Name string }
	}
	type conn struct {
		TotalCount int
		Nodes      []node
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	list := func(args string) (conn, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": `{ incidents` + args + ` { totalCount nodes { id number priority state suppressed asset { name } } pageInfo { hasNextPage endCursor } } }`})
		_, out := post(t, srv.URL, "viewer-tok", string(b))
		var c struct {
			Data struct{ Incidents conn }
		}
		raw, _ := json.Marshal(out)
		_ = json.Unmarshal(raw, &c)
		return c.Data.Incidents, out
	}
	names := func(c conn) []string {
		var out []string
		for _, n := range c.Nodes {
			out = append(out, n.Asset.Name)
		}
		return out
	}

	// 1 workstation, 2 monitors x 2 conditions, the switch, the ventilator.
	all, out := list(`(first: 50)`)
	if all.TotalCount != 7 || len(all.Nodes) != 7 {
		t.Fatalf("all incidents: %v", out)
	}
	if all.Nodes[0].Priority != "P1" || all.Nodes[len(all.Nodes)-1].Asset.Name != "ward-ws-1" {
		t.Fatalf("default order should start with a P1 and end with the workstation: %v", names(all))
	}
	newest, _ := list(`(first: 50, orderBy: NEWEST)`)
	if newest.Nodes[0].Asset.Name != "icu-vent-1" || newest.Nodes[len(newest.Nodes)-1].Asset.Name != "ward-ws-1" {
		t.Fatalf("NEWEST: %v", names(newest))
	}

	// What someone must act on: the switch, the ventilator and the workstation.
	act, out := list(`(filter: {open: true, suppressed: false}, first: 20)`)
	if act.TotalCount != 3 || !slices.Equal(names(act), []string{"ed-sw-1", "icu-vent-1", "ward-ws-1"}) {
		t.Fatalf("actionable, in order: %v (%v)", names(act), out)
	}
	sup, _ := list(`(filter: {suppressed: true})`)
	if sup.TotalCount != 4 || slices.ContainsFunc(sup.Nodes, func(n node) bool { return !n.Suppressed }) {
		t.Fatalf("suppressed: %+v", sup)
	}

	// Keyset paging, two at a time, gives the same list; an offset cursor still works.
	var paged []string
	after := ""
	for range 10 {
		arg := `(first: 2)`
		if after != "" {
			arg = `(first: 2, after: "` + after + `")`
		}
		c, out := list(arg)
		if c.TotalCount != 7 {
			t.Fatalf("page %q: %v", after, out)
		}
		for _, n := range c.Nodes {
			paged = append(paged, n.ID)
		}
		if !c.PageInfo.HasNextPage {
			break
		}
		after = *c.PageInfo.EndCursor
	}
	var want []string
	for _, n := range all.Nodes {
		want = append(want, n.ID)
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("keyset pages %v, want %v", paged, want)
	}
	offset := base64.RawURLEncoding.EncodeToString([]byte("o:5"))
	if c, out := list(`(first: 5, after: "` + offset + `")`); len(c.Nodes) != 2 || c.Nodes[0].ID != want[5] || c.PageInfo.HasNextPage {
		t.Fatalf("offset cursor: %v", out)
	}
	bad := base64.RawURLEncoding.EncodeToString([]byte("k:0:9:1:x"))
	if _, out := list(`(after: "` + bad + `")`); firstCode(out) != CodeBadUserInput {
		t.Fatalf("a cursor with rank 9: %v", out)
	}

	// The switch: two devices, four incidents, named so, and the devices listed.
	b, _ := json.Marshal(map[string]any{"query": `{ incidents(filter: {assetId: "sw"}) { nodes {
		suppressedCount suppressedIncidentCount suppressedDeviceCount impactedCount impactedIncidentCount impactedDeviceCount
		impactedDevices { id name class patientConnected location { unit careArea } }
		few: impactedDevices(first: 1) { id } } } }`})
	_, out = post(t, srv.URL, "viewer-tok", string(b))
	var root struct {
		Data struct {
			Incidents struct {
				Nodes []struct {
					SuppressedCount, SuppressedIncidentCount, SuppressedDeviceCount int
					ImpactedCount, ImpactedIncidentCount, ImpactedDeviceCount       int
					ImpactedDevices                                                 []struct {
						ID, Name, Class  string
						PatientConnected bool
						Location         struct{ Unit, CareArea string }
					}
					Few []struct{ ID string }
				}
			}
		}
	}
	raw, _ := json.Marshal(out)
	_ = json.Unmarshal(raw, &root)
	if len(root.Data.Incidents.Nodes) != 1 {
		t.Fatalf("switch incident: %v", out)
	}
	r := root.Data.Incidents.Nodes[0]
	if r.SuppressedCount != 4 || r.SuppressedIncidentCount != 4 || r.SuppressedDeviceCount != 2 ||
		r.ImpactedCount != 4 || r.ImpactedIncidentCount != 4 || r.ImpactedDeviceCount != 2 {
		t.Fatalf("root counts: %+v", r)
	}
	if len(r.ImpactedDevices) != 2 || r.ImpactedDevices[0].Name != "ed-mon-1" || !r.ImpactedDevices[0].PatientConnected ||
		r.ImpactedDevices[0].Class != "PATIENT_MONITOR" || r.ImpactedDevices[0].Location.Unit != "ED-1" || len(r.Few) != 1 {
		t.Fatalf("impacted devices: %+v", r)
	}
}

// FuzzIncidentCursor: any `after` string is read as a key, as an offset or refused,
// never a panic; a key read back from its encoding is the same key.
func FuzzIncidentCursor(f *testing.F) {
	f.Add(encodeIncidentKey(incidents.SortKey{Rank: 2, At: 1764800000000000000, ID: "imx9a:b"}))
	f.Add(encodeIncidentKey(incidents.SortKey{Resolved: true, At: -5, ID: ""}))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte("k:0:9:1:x")))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte("k:2::")))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte("o:12")))
	f.Add("not base64 !")
	f.Fuzz(func(t *testing.T, s string) {
		k, ok, err := decodeIncidentKey(s)
		if err != nil || !ok {
			return
		}
		back, ok, err := decodeIncidentKey(encodeIncidentKey(k))
		if err != nil || !ok || back != k {
			t.Fatalf("key %+v from %q came back as %+v (%v, %v)", k, s, back, ok, err)
		}
	})
}
