package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// Issue 16 items 8 and 10: a collector token reports only as its own collector (and
// site), refusals are audited, and token names are printable, bounded and unique
// among active tokens. Everything goes through the cmdb binary's GraphQL over HTTP.

// tokenCMDB is a cmdb binary on a data dir, with its admin token.
type tokenCMDB struct {
	proc     *testkit.Proc
	admin    *testkit.GraphQL
	storeURI string // the embedded store's socket URI, from the log
}

func startTokenCMDB(t *testing.T, dataDir string) *tokenCMDB {
	t.Helper()
	p := testkit.Start(t, testkit.Binary(t, "cmdb"), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	base := p.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	secret, err := auth.ReadTokenFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &tokenCMDB{proc: p, admin: &testkit.GraphQL{URL: base + "/graphql", Token: secret},
		storeURI: p.WaitFor(`msg="store connected" uri=(\S+)`, time.Second)}
}

// as is a client with another token.
func (c *tokenCMDB) as(secret string) *testkit.GraphQL {
	return &testkit.GraphQL{URL: c.admin.URL, Token: secret}
}

// createToken creates a token with args (GraphQL argument syntax) and returns its
// secret.
func (c *tokenCMDB) createToken(t *testing.T, args string) string {
	t.Helper()
	var out struct{ CreateToken struct{ Token string } }
	c.admin.Query(t, `mutation { createToken(`+args+`) { token } }`, nil, &out)
	return out.CreateToken.Token
}

// binding returns the collector and site a token named name is bound to.
func (c *tokenCMDB) binding(t *testing.T, name string) (collector, site string) {
	t.Helper()
	var toks struct {
		Tokens []struct{ Name, Collector, Site string }
	}
	c.admin.Query(t, `{ tokens { name collector site } }`, nil, &toks)
	for _, tk := range toks.Tokens {
		if tk.Name == name {
			return tk.Collector, tk.Site
		}
	}
	t.Fatalf("no token %s in %+v", name, toks.Tokens)
	return "", ""
}

// obs is one valid observation of a device named sysName.
func obs(id, collector, site, sysName string) map[string]any {
	now := time.Now().UTC()
	return map[string]any{"id": id, "collector": collector, "site": site, "observedAt": now.Format(time.RFC3339Nano),
		"validUntil": now.Add(time.Minute).Format(time.RFC3339Nano), "source": "SNMP_POLL", "kind": "DISCOVERED", "state": "UP",
		"identity": map[string]any{"sysName": sysName}, "address": map[string]any{"ip": "10.77.0.1"}}
}

const reportMutation = `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }`

func report(t *testing.T, g *testkit.GraphQL, collector string, o ...map[string]any) *testkit.Response {
	t.Helper()
	r, err := g.Do(reportMutation, map[string]any{"b": map[string]any{"collector": collector, "observations": o}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantAccepted(t *testing.T, what string, r *testkit.Response) {
	t.Helper()
	var d struct{ ReportObservations struct{ Accepted int } }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &d) != nil || d.ReportObservations.Accepted != 1 {
		t.Fatalf("%s: HTTP %d %s %v, want 1 accepted", what, r.Status, r.Data, r.Errors)
	}
}

func wantRefused(t *testing.T, what string, r *testkit.Response, code, msg string) {
	t.Helper()
	if r.Code() != code || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, msg) {
		t.Fatalf("%s: HTTP %d %v, want %s saying %q", what, r.Status, r.Errors, code, msg)
	}
}

func TestCollectorTokensAreBound(t *testing.T) {
	c := startTokenCMDB(t, t.TempDir())
	// Bound by default to the collector of its name, as `cmdb token create` does.
	north := c.createToken(t, `name: "north", role: COLLECTOR`)
	g := c.as(north)
	wantAccepted(t, "north reporting as north", report(t, g, "north", obs("n-1", "north", "Main", "dev-north")))

	r := report(t, g, "vm", obs("n-2", "vm", "Main", "dev-vm"))
	wantRefused(t, "north's token reporting as vm", r, "FORBIDDEN", `reports only as collector "north"`)
	if r.Status != http.StatusForbidden {
		t.Errorf("refusal answered HTTP %d, want 403 (a collector keeps the batch and retries)", r.Status)
	}
	r = report(t, g, "north", obs("n-3", "north", "Main", "dev-ok"), obs("n-4", "vm", "Main", "dev-vm2"))
	wantRefused(t, "north's batch carrying vm's observation", r, "FORBIDDEN", `observation 1 names collector "vm"`)
	var found struct{ Assets struct{ TotalCount int } }
	for _, name := range []string{"dev-vm", "dev-vm2", "dev-ok"} {
		c.admin.Query(t, `query($s: String) { assets(filter: {search: $s}) { totalCount } }`, map[string]any{"s": name}, &found)
		if found.Assets.TotalCount != 0 {
			t.Errorf("asset %s exists: a refused batch changed something", name)
		}
	}

	if collector, site := c.binding(t, "north"); collector != "north" || site != "" {
		t.Errorf("createToken(name: north, role: COLLECTOR) bound to %q/%q, want north and any site", collector, site)
	}

	// An explicit collector and site.
	south := c.createToken(t, `name: "south-token", role: COLLECTOR, collector: "south", site: "South"`)
	if collector, site := c.binding(t, "south-token"); collector != "south" || site != "South" {
		t.Fatalf("binding %q/%q, want south/South", collector, site)
	}
	g = c.as(south)
	wantRefused(t, "south's token for site Main", report(t, g, "south", obs("s-1", "south", "Main", "dev-s1")), "FORBIDDEN", `reports only for site "South"`)
	wantRefused(t, "south's token as its token name", report(t, g, "south-token", obs("s-2", "south-token", "South", "dev-s2")), "FORBIDDEN", "reports only as collector")
	wantAccepted(t, "south in South", report(t, g, "south", obs("s-3", "south", "South", "dev-s3")))

	r, err := c.admin.Do(`mutation { createToken(name: "wall", role: VIEWER, collector: "north") { token } }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "a viewer token bound to a collector", r, "BAD_USER_INPUT", "only collector tokens are")

	// Each refusal is in the audit log, with who and why.
	var audit struct {
		AuditLog struct {
			Nodes []struct {
				Actor, Target, Error string
				OK                   bool
			}
		}
	}
	c.admin.Query(t, `{ auditLog(operation: "reportObservations", first: 50) { nodes { actor target ok error } } }`, nil, &audit)
	refused := map[string]string{}
	for _, e := range audit.AuditLog.Nodes {
		if !e.OK {
			refused[e.Actor+"→"+e.Target] = e.Error
		}
	}
	for _, k := range []string{"north→vm", "north→north", "south-token→south", "south-token→south-token"} {
		if !strings.Contains(refused[k], "reports only") {
			t.Errorf("no audited refusal for %s: %v", k, refused)
		}
	}
}

// A collector token made before bindings (no collector in its record) is bound to the
// collector of its first report, which is audited and logged; after that it is refused
// as anyone else.
func TestCollectorTokenFromBeforeBindings(t *testing.T) {
	dir := t.TempDir()
	startTokenCMDB(t, dir).proc.Stop()
	// Write the token as an older cmdb did, while no cmdb holds the store.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: dir, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	secret := "mcm_legacy-collector-token-for-the-migration-test"
	_, err = st.DB.Collection("tokens").InsertOne(ctx, bson.M{"_id": auth.Hash(secret), "name": "site-a", "role": "collector", "createdAt": time.Now().UTC(), "createdBy": "cli"})
	st.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	c := startTokenCMDB(t, dir)
	g := c.as(secret)
	wantAccepted(t, "first report of the old token", report(t, g, "collector-a", obs("a-1", "collector-a", "Main", "dev-a1")))
	wantRefused(t, "the old token as another collector", report(t, g, "vm", obs("a-2", "vm", "Main", "dev-vm")), "FORBIDDEN", `reports only as collector "collector-a"`)
	if collector, site := c.binding(t, "site-a"); collector != "collector-a" || site != "Main" {
		t.Fatalf("old token after its first report: bound to %q/%q, want collector-a / Main", collector, site)
	}
	wantAccepted(t, "the old token again as its collector", report(t, g, "collector-a", obs("a-3", "collector-a", "Main", "dev-a3")))
	var audit struct {
		AuditLog struct {
			Nodes []struct{ Actor, Target, Summary string }
		}
	}
	c.admin.Query(t, `{ auditLog(operation: "bindCollectorToken") { nodes { actor target summary } } }`, nil, &audit)
	if n := audit.AuditLog.Nodes; len(n) != 1 || n[0].Actor != "site-a" || n[0].Target != "collector-a" {
		t.Errorf("audit of the binding: %+v, want one entry for site-a → collector-a", n)
	}
	c.proc.WaitFor(`collector token bound on first use`, 5*time.Second)
}

// Token names: no control or formatting characters, at most 100 characters, not the
// name of another active token; through the API and the CLI.
func TestTokenNamesAreChecked(t *testing.T) {
	c := startTokenCMDB(t, t.TempDir())
	create := func(name string) *testkit.Response {
		r, err := c.admin.Do(`mutation($n: String!) { createToken(name: $n, role: VIEWER) { token info { id } } }`, map[string]any{"n": name})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for name, why := range map[string]string{
		"desk\nadmin":            "control or formatting character",
		"desk\x1b[31m":           "control or formatting character",
		"\u202egnp.exe":          "control or formatting character",
		strings.Repeat("x", 101): "at most 100",
		"   ":                    "required",
	} {
		r := create(name)
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(fmt.Sprint(r.Errors), why) {
			t.Errorf("createToken(name: %q): %v, want BAD_USER_INPUT saying %q", name, r.Errors, why)
		}
	}
	var made struct {
		CreateToken struct{ Info struct{ ID string } }
	}
	r := create("desk")
	if err := json.Unmarshal(r.Data, &made); err != nil || len(r.Errors) > 0 {
		t.Fatalf("createToken(desk): %v %s", r.Errors, r.Data)
	}
	wantRefused(t, "a second active desk", create("desk"), "BAD_USER_INPUT", "already has this name")
	c.admin.Query(t, `mutation($id: ID!) { revokeToken(id: $id) { revoked } }`, map[string]any{"id": made.CreateToken.Info.ID}, nil)
	if r := create("desk"); len(r.Errors) > 0 {
		t.Fatalf("desk again after revoking the first: %v", r.Errors)
	}

	// The CLI, on the running cmdb's store through its socket.
	bin := testkit.Binary(t, "cmdb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := func(args ...string) (string, error) {
		return testkit.Run(ctx, bin, append([]string{"token", "create", "--mongo-uri", c.storeURI, "--log-level", "error"}, args...)...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "viewer", "--name", "bell\a"}, "control or formatting character"},
		{[]string{"--role", "viewer", "--name", strings.Repeat("y", 300)}, "at most 100"},
		{[]string{"--role", "viewer", "--name", "desk"}, "already has this name"},
		{[]string{"--role", "viewer", "--name", "wall", "--collector", "north"}, "only collector tokens are"},
		{[]string{"--role", "collector", "--name", "c", "--site", "x\ty"}, "site has a control"},
	} {
		out, err := cli(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("token create %q: err=%v, output %q; want a refusal saying %q", c.args, err, out, c.want)
		}
		if strings.Contains(out, "mcm_") {
			t.Errorf("token create %q printed a token although refused: %q", c.args, out)
		}
	}
	out, err := cli("--role", "collector", "--name", "east")
	if err != nil || !strings.Contains(out, "mcm_") || !strings.Contains(out, `reports only as collector "east"`) {
		t.Fatalf("token create east: %v %q", err, out)
	}
	if _, err := cli("--role", "collector", "--name", "east"); err == nil {
		t.Error("a second active east through the CLI was accepted")
	}
}
