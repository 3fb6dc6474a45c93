package graphql

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// roleTable is the authorisation policy, written out independently of FieldRoles:
// every root field, a minimal call of it, and the roles that may make it.
var roleTable = []struct {
	field   string
	query   string
	allowed []auth.Role
}{
	{"assets", `{ assets { totalCount } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"asset", `{ asset(id: "a1") { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"incidents", `{ incidents { totalCount } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"incident", `{ incident(id: "x") { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"reportObservations", `mutation { reportObservations(batch: {collector: "c", observations: []}) { accepted } }`, []auth.Role{auth.RoleCollector, auth.RoleAdmin}},
	{"acknowledgeIncident", `mutation { acknowledgeIncident(id: "x") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"resolveIncident", `mutation { resolveIncident(id: "x") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"tokens", `{ tokens { id } }`, []auth.Role{auth.RoleAdmin}},
	{"createToken", `mutation { createToken(name: "n", role: VIEWER) { token } }`, []auth.Role{auth.RoleAdmin}},
	{"revokeToken", `mutation { revokeToken(id: "nope") { id } }`, []auth.Role{auth.RoleAdmin}},
	{"auditLog", `{ auditLog { totalCount } }`, []auth.Role{auth.RoleAdmin}},
	{"addIncidentNote", `mutation { addIncidentNote(id: "x", note: "n") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"maintenanceWindows", `{ maintenanceWindows { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"createMaintenanceWindow", `mutation { createMaintenanceWindow(input: {site: "s", reason: "r", end: "2030-01-01T00:00:00Z"}) { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"cancelMaintenanceWindow", `mutation { cancelMaintenanceWindow(id: "x") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"assetHealth", `{ assetHealth { total } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"recalls", `{ recalls { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"assetsCSV", `{ assetsCSV }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"updateAsset", `mutation { updateAsset(id: "a1", input: {}) { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"retireAsset", `mutation { retireAsset(id: "a1") { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"addAssetRelation", `mutation { addAssetRelation(id: "a1", kind: CONNECTED_TO, upstream: "a2") { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"removeAssetRelation", `mutation { removeAssetRelation(id: "a1", kind: CONNECTED_TO, upstream: "a2") { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"addRecall", `mutation { addRecall(input: {manufacturer: "m", model: "x", reference: "r"}) { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"removeRecall", `mutation { removeRecall(id: "r1") }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"importAssets", `mutation { importAssets(csv: "id\n") { created } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"startAssetImport", `mutation { startAssetImport(csv: "id\n") { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"assetImport", `{ assetImport(id: "imp-x") { state } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"problems", `{ problems { totalCount } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"problem", `{ problem(id: "p1") { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"linkIncidentToProblem", `mutation { linkIncidentToProblem(problemId: "p", incidentId: "i") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"unlinkIncidentFromProblem", `mutation { unlinkIncidentFromProblem(problemId: "p", incidentId: "i") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"closeProblem", `mutation { closeProblem(id: "p", rootCause: "r") { id } }`, []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}},
	{"incidentReport", `{ incidentReport(from: "2026-01-01T00:00:00Z") { total { incidents } } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"incidentReportCSV", `{ incidentReportCSV(from: "2026-01-01T00:00:00Z") }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"advisories", `{ advisories { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"addAdvisory", `mutation { addAdvisory(input: {source: VENDOR, reference: "r", title: "t", severity: LOW, manufacturer: "m", model: "x"}) { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"removeAdvisory", `mutation { removeAdvisory(id: "a") }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"rogueDevices", `{ rogueDevices { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"rogueAllowList", `{ rogueAllowList { id } }`, []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}},
	{"addRogueAllow", `mutation { addRogueAllow(input: {oui: "00:11:22"}) { id } }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
	{"removeRogueAllow", `mutation { removeRogueAllow(id: "x") }`, []auth.Role{auth.RoleBiomed, auth.RoleAdmin}},
}

func TestEveryRoleOnEveryField(t *testing.T) {
	for f := range FieldRoles {
		if !slices.ContainsFunc(roleTable, func(r struct {
			field   string
			query   string
			allowed []auth.Role
		}) bool {
			return r.field == f
		}) {
			t.Errorf("root field %s has no row in roleTable: add its policy", f)
		}
	}
	secrets := map[auth.Role]string{}
	fa := fakeAuth{}
	for _, r := range auth.Roles {
		secrets[r] = "tok-" + string(r)
		fa["tok-"+string(r)] = r
	}
	tokens := auth.NewStore(testkit.Store(t).DB)
	h, err := NewHandler(Deps{Assets: &fakeAssets{}, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}, Tokens: tokens, Audit: &memAudit{}},
		fa, nil, testkit.Logger(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(t, h)
	for _, row := range roleTable {
		for _, role := range auth.Roles {
			t.Run(row.field+"/"+string(role), func(t *testing.T) {
				_, out := post(t, srv, secrets[role], fmt.Sprintf(`{"query": %q}`, row.query))
				forbidden := firstCode(out) == CodeForbidden
				want := !slices.Contains(row.allowed, role)
				if forbidden != want {
					t.Errorf("%s as %s: forbidden=%v, want %v (%v)", row.field, role, forbidden, want, out)
				}
				if forbidden && !strings.Contains(fmt.Sprint(out), string(role)) {
					t.Errorf("FORBIDDEN does not name the role: %v", out)
				}
			})
		}
	}
}
