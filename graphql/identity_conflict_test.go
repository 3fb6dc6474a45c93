package graphql

import (
	"context"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// TestEditNotBlockedByIdentityConflict is issue 16 item 9: two devices that share a
// manufacturer and serial but report different EUI-64s are two assets; a biomed
// engineer's edit of either one's notes (or any field that is not an identifier) goes
// through, and both show the shared identifier in identityConflicts. Giving an asset an
// identifier another one holds is still refused.
func TestEditNotBlockedByIdentityConflict(t *testing.T) {
	srv, svc := newAssetServer(t)
	now := time.Now().UTC().Truncate(time.Second)
	pump := func(id, ip, eui string) observation.Observation {
		return observation.Observation{ID: id, Collector: "c1", Site: "main", ObservedAt: now, ValidUntil: now.Add(time.Hour),
			Source: observation.SourceHL7, State: observation.StateUp, Conditions: []string{},
			Address:  &observation.Address{IP: ip},
			Identity: observation.Identity{EUI64: eui, Manufacturer: "Baxter", Model: "Sigma", Serial: "SN-42", Class: "INFUSION_PUMP"}}
	}
	for _, o := range []observation.Observation{pump("p1", "10.9.0.1", "0012A1FFFE000001"), pump("p2", "10.9.0.2", "0012A1FFFE000002")} {
		if _, err := svc.Apply(context.Background(), []observation.Observation{o}, "r"); err != nil {
			t.Fatal(err)
		}
	}
	list, total := svc.List(assets.Filter{Search: "SN-42"}, 0, 10)
	if total != 2 {
		t.Fatalf("%d assets with serial SN-42, want two devices", total)
	}
	edit := `mutation($id: ID!, $in: AssetInput!) { updateAsset(id: $id, input: $in) { id notes owner
		identityConflicts { identifier value assetIds assets { id eui64 } } } }`
	for i, a := range list {
		other := list[1-i]
		status, out := gqlDo(t, srv.URL, "alice", edit, map[string]any{"id": a.ID, "in": map[string]any{"notes": "checked " + a.EUI64, "owner": "Biomed"}})
		if status != 200 || dig(out, "data", "updateAsset", "notes") != "checked "+a.EUI64 {
			t.Fatalf("editing the notes of %s (eui64 %s): %d %v", a.ID, a.EUI64, status, out)
		}
		c := dig(out, "data", "updateAsset", "identityConflicts")
		if n := len(c.([]any)); n != 1 || dig(c, 0, "identifier") != "manufacturer+serial" || dig(c, 0, "value") != "Baxter SN-42" ||
			dig(c, 0, "assetIds", 0) != other.ID || dig(c, 0, "assets", 0, "eui64") != other.EUI64 {
			t.Fatalf("identityConflicts of %s: %v", a.ID, c)
		}
	}
	// The same through a read, with no conflict on an unrelated asset.
	_, out := gqlDo(t, srv.URL, "viewer-tok", `{ assets(filter: {search: "Baxter"}) { nodes { identityConflicts { identifier } } } }`, nil)
	if nodes := dig(out, "data", "assets", "nodes").([]any); len(nodes) != 2 || dig(nodes, 0, "identityConflicts", 0, "identifier") != "manufacturer+serial" {
		t.Fatalf("assets query: %v", out)
	}
	// An edit that takes another asset's EUI-64 is still refused, and changes nothing.
	status, out := gqlDo(t, srv.URL, "alice", edit, map[string]any{"id": list[0].ID, "in": map[string]any{"eui64": list[1].EUI64, "notes": "x"}})
	if status == 200 || firstCode(out) != CodeBadUserInput {
		t.Fatalf("taking another asset's EUI-64: %d %v", status, out)
	}
	if a, _ := svc.Get(list[0].ID); a.EUI64 != list[0].EUI64 || a.Biomed.Notes != "checked "+list[0].EUI64 {
		t.Fatalf("a refused edit changed the asset: eui64 %s notes %q", a.EUI64, a.Biomed.Notes)
	}
}
