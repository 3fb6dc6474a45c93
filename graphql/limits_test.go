package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestHostileQueryShapes(t *testing.T) {
	srv, _ := newTestServer(t)
	deep := "{ assets { nodes { " + strings.Repeat("incidents { asset { ", 8) + "id" + strings.Repeat(" } }", 8) + " } } }"
	var wide strings.Builder
	wide.WriteString("{ ")
	for i := range 1200 {
		fmt.Fprintf(&wide, "a%d: assets(first: 1) { totalCount } ", i)
	}
	wide.WriteString("}")
	costly := "{ assets(first: 500) { nodes { history(first: 500) { field } incidents { timeline { kind } } } } }"
	cycle := "query { assets { ...A } } fragment A on AssetConnection { nodes { incidents { asset { id } } } ...A }"
	cases := map[string]string{"deep": deep, "wide": wide.String(), "costly": costly, "fragment cycle": cycle,
		// The validator walks fragments and operations the request does not run: before
		// they were measured too, these overflowed its stack and killed the process.
		"unused fragment spreading itself":      "query { assets { totalCount } } fragment F on Query { ...F }",
		"unused fragments spreading each other": "query { assets { totalCount } } fragment A on Query { ... on Query { ...B } } fragment B on Query { assets { totalCount } ...A }",
		"operation not run spreading a cycle":   "query a { assets { totalCount } } query b { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
		"operation not run too deep":            "query a { assets { totalCount } } query b " + deep,
		"fragment not used too deep":            "query { assets { totalCount } } fragment F on Query " + deep,
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			body := fmt.Sprintf(`{"query": %q, "operationName": "a"}`, q)
			if !strings.HasPrefix(q, "query a ") {
				body = fmt.Sprintf(`{"query": %q}`, q)
			}
			status, out := post(t, srv.URL, "viewer-tok", body)
			if status != 400 {
				t.Errorf("status %d, want 400", status)
			}
			if c := firstCode(out); c != CodeQueryTooComplex && c != CodeBadUserInput {
				t.Errorf("code %q (%v)", c, out)
			}
		})
	}
	// An ordinary dashboard query passes.
	status, out := post(t, srv.URL, "viewer-tok", `{"query":"{ assets(first: 200) { totalCount nodes { id name history(first: 50) { field } incidents { number } } } }"}`)
	if status != 200 {
		t.Fatalf("dashboard query refused: %d %v", status, out)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	rl := newRateLimiter(1, 3)
	now := time.Unix(0, 0)
	rl.now = func() time.Time { return now }
	for i := range 3 {
		if !rl.allow("a") {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	if rl.allow("a") {
		t.Fatal("request past the burst allowed")
	}
	if !rl.allow("b") {
		t.Fatal("another token was limited")
	}
	now = now.Add(1100 * time.Millisecond)
	if !rl.allow("a") {
		t.Fatal("bucket did not refill")
	}
}

type memAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (m *memAudit) Record(_ context.Context, e audit.Entry) {
	m.mu.Lock()
	m.entries = append(m.entries, e)
	m.mu.Unlock()
}
func (m *memAudit) List(context.Context, audit.Query, int, int) ([]audit.Entry, int, error) {
	return m.entries, len(m.entries), nil
}

func TestTokensAndAudit(t *testing.T) {
	tokens := auth.NewStore(testkit.Store(t).DB)
	adminSecret, _, err := tokens.Create(context.Background(), "root", auth.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	log := &memAudit{}
	h, err := NewHandler(Deps{Assets: &fakeAssets{}, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}, Tokens: tokens, Audit: log},
		tokens, nil, testkit.Logger(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(t, h)
	status, out := post(t, srv, adminSecret, `{"query":"mutation { createToken(name: \"desk-1\", role: SERVICEDESK) { token info { id name role } } }"}`)
	if status != 200 {
		t.Fatalf("createToken: %d %v", status, out)
	}
	created := out["data"].(map[string]any)["createToken"].(map[string]any)
	secret := created["token"].(string)
	id := created["info"].(map[string]any)["id"].(string)

	// The new token works with its role: it may read, but not manage tokens.
	if status, _ := post(t, srv, secret, `{"query":"{ assets { totalCount } }"}`); status != 200 {
		t.Fatalf("new token cannot read: %d", status)
	}
	if status, out := post(t, srv, secret, `{"query":"{ tokens { id } }"}`); status != 403 || firstCode(out) != CodeForbidden {
		t.Fatalf("servicedesk listed tokens: %d %v", status, out)
	}
	// Revoked: refused at once on this replica.
	if status, out := post(t, srv, adminSecret, fmt.Sprintf(`{"query":"mutation { revokeToken(id: \"%s\") { revoked } }"}`, id)); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	if status, out := post(t, srv, secret, `{"query":"{ assets { totalCount } }"}`); status != 401 {
		t.Fatalf("revoked token still works: %d %v", status, out)
	}
	// The list never shows secrets.
	_, out = post(t, srv, adminSecret, `{"query":"{ tokens { id name role revoked } }"}`)
	if strings.Contains(fmt.Sprint(out), secret) || strings.Contains(fmt.Sprint(out), auth.Hash(secret)) {
		t.Fatal("token list leaks a secret or full hash")
	}
	// Every mutation was audited, allowed or not; no secret in the audit log.
	post(t, srv, secret, `{"query":"mutation { createToken(name: \"x\", role: ADMIN) { token } }"}`) // revoked: 401, never executed
	var ops []string
	for _, e := range log.entries {
		ops = append(ops, fmt.Sprintf("%s:%s:%v", e.Actor, e.Operation, e.OK))
		if strings.Contains(e.Summary, secret) {
			t.Errorf("audit summary leaks the secret: %q", e.Summary)
		}
		if e.RequestID == "" || e.Remote == "" {
			t.Errorf("audit entry without request id or remote address: %+v", e)
		}
	}
	if strings.Join(ops, ",") != "root:createToken:true,root:revokeToken:true" {
		t.Fatalf("audit trail %v", ops)
	}
}

func TestNestingIsCheckedBeforeParsing(t *testing.T) {
	cases := []struct {
		q    string
		deep bool
	}{
		{"{ assets { nodes { id } } }", false},
		{strings.Repeat("{a", MaxNesting) + strings.Repeat("}", MaxNesting), false},
		{strings.Repeat("{a", MaxNesting+1), true},
		{"{a(x:" + strings.Repeat("[", MaxNesting) + "}", true},
		// Brackets in strings, block strings and comments are text, not nesting.
		{`{a(x:"` + strings.Repeat("{", 100) + `") }`, false},
		{`{a(x:"\"` + strings.Repeat("[", 100) + `") }`, false},
		{`{a(x:"""` + strings.Repeat("(", 100) + `\""" still text """) }`, false},
		{"{a # " + strings.Repeat("{", 100) + "\n}", false},
		// ...but not after the string ends.
		{`{a(x:"s")` + strings.Repeat("{", 100), true},
		{`{a(x:"""s""")` + strings.Repeat("{", 100), true},
	}
	for _, c := range cases {
		if got := nestingTooDeep(c.q); got != c.deep {
			t.Errorf("nestingTooDeep(%.60q) = %v, want %v", c.q, got, c.deep)
		}
	}
}

// A few megabytes of nesting overflowed the parser's stack and killed the process. Such
// a query is now longer than MaxQueryBytes; within that, nesting is refused too.
func TestDeeplyNestedQueryIsRefused(t *testing.T) {
	srv, _ := newTestServer(t)
	for name, c := range map[string]struct {
		q      string
		status int
		code   string
	}{
		"selections, megabytes": {"{" + strings.Repeat("a{", 3_000_000), 413, CodeBadUserInput},
		"list value, megabytes": {"{a(x:" + strings.Repeat("[", 6_000_000), 413, CodeBadUserInput},
		"selections":            {"{" + strings.Repeat("a{", MaxQueryBytes/2-1), 400, CodeQueryTooComplex},
		"list value":            {"{a(x:" + strings.Repeat("[", MaxQueryBytes-5), 400, CodeQueryTooComplex},
	} {
		body, _ := json.Marshal(map[string]string{"query": c.q})
		status, out := post(t, srv.URL, "viewer-tok", string(body))
		if status != c.status || firstCode(out) != c.code {
			t.Errorf("%s: status %d, code %q, want %d %s", name, status, firstCode(out), c.status, c.code)
		}
	}
}
