package graphql

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// auditRecorder keeps audit entries in memory, ignoring the context like a store
// that still answers after the request ended.
type auditRecorder struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *auditRecorder) Record(_ context.Context, e audit.Entry) {
	a.mu.Lock()
	a.entries = append(a.entries, e)
	a.mu.Unlock()
}

func (a *auditRecorder) List(context.Context, audit.Query, int, int) ([]audit.Entry, int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Entry(nil), a.entries...), len(a.entries), nil
}

func (a *auditRecorder) of(op string) []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.entries {
		if e.Operation == op {
			out = append(out, e)
		}
	}
	return out
}

func importRows(n int) string {
	var b strings.Builder
	b.WriteString("asset_tag,name,class,manufacturer,serial_number,care_area,notes\n")
	for i := range n {
		fmt.Fprintf(&b, "IMP-%05d,pump %d,INFUSION_PUMP,Baxter,S%05d,ICU,row %d\n", i, i, i, i)
	}
	return b.String()
}

// TestImportOutlivesTheRequest is issue 16 item 6 at the API: an import that takes
// longer than a request may last (here a 2 s limit) is not cut half-way: it goes on
// as a job, every row lands, and it is audited once, with its counts, when it ends.
// (The old resolver ran inside the request: at the limit the import stopped with part
// of the rows applied, and the audit entry was lost with the request's context.)
func TestImportOutlivesTheRequest(t *testing.T) {
	ctx := context.Background()
	st, err := assets.OpenStore(ctx, testkit.Store(t))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := assets.NewService(ctx, st, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	rec := &auditRecorder{}
	lim := DefaultLimits()
	lim.Timeout = 2 * time.Second
	h, err := NewHandler(Deps{Assets: svc, Incidents: fakeIncidents{}, Reporter: &recordingReporter{}, Audit: rec},
		fakeAuth{"alice": auth.RoleBiomed, "bob": auth.RoleBiomed}, nil, testkit.Logger(), lim)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const n = 3000 // seconds of work on the embedded store, well past the limit
	status, out := gqlDo(t, srv.URL, "alice", `mutation($c: String!) { importAssets(csv: $c) { created errors { line } } }`, map[string]any{"c": importRows(n)})
	if status == 200 {
		t.Logf("the import ended within the request: %v", dig(out, "data", "importAssets", "created"))
	} else if firstCode(out) != CodeUnavailable || !strings.Contains(fmt.Sprint(out), "assetImport(id:") {
		t.Fatalf("import past the request limit: %d %v", status, out)
	}
	// Meanwhile a second import is refused, not interleaved.
	if _, total := svc.List(assets.Filter{}, 0, 0); total < n {
		status, out := gqlDo(t, srv.URL, "bob", `mutation { startAssetImport(csv: "asset_tag\nX-1\n") { id } }`, nil)
		if status == 200 || firstCode(out) != CodeLimited || !strings.Contains(fmt.Sprint(out), "already running") {
			t.Fatalf("second import while one runs: %d %v", status, out)
		}
	}
	testkit.Eventually(t, 5*time.Minute, func() error {
		if e := rec.of("importAssets"); len(e) == 0 {
			_, total := svc.List(assets.Filter{}, 0, 0)
			return fmt.Errorf("not audited yet; %d assets", total)
		}
		return nil
	})
	if _, total := svc.List(assets.Filter{}, 0, 0); total != n {
		t.Fatalf("%d assets after the import, want %d", total, n)
	}
	entries := rec.of("importAssets")
	if len(entries) != 1 || !entries[0].OK || entries[0].Actor != "alice" ||
		!strings.Contains(entries[0].Summary, fmt.Sprintf("rows=%d created=%d", n, n)) || !strings.HasPrefix(entries[0].Target, "imp-") {
		t.Fatalf("audit of the import: %+v", entries)
	}

	// startAssetImport answers at once; the job is read back with each bad line.
	status, out = gqlDo(t, srv.URL, "bob", `mutation($c: String!) { startAssetImport(csv: $c) { id state rows } }`,
		map[string]any{"c": "asset_tag,class\nNEW-1,VENTILATOR\nNEW-2,HAIRDRYER\n"})
	id, _ := dig(out, "data", "startAssetImport", "id").(string)
	if status != 200 || id == "" || dig(out, "data", "startAssetImport", "rows") != 2.0 {
		t.Fatalf("startAssetImport: %d %v", status, out)
	}
	var job map[string]any
	testkit.Eventually(t, time.Minute, func() error {
		_, job = gqlDo(t, srv.URL, "bob", `query($id: ID!) { assetImport(id: $id) { state processed rows created notImported errors { line message } error } }`, map[string]any{"id": id})
		if s := dig(job, "data", "assetImport", "state"); s != "DONE" {
			return fmt.Errorf("job %v", job)
		}
		return nil
	})
	a := dig(job, "data", "assetImport")
	if dig(a, "created") != 1.0 || dig(a, "notImported") != 1.0 || dig(a, "errors", 0, "line") != 3.0 || dig(a, "processed") != 2.0 {
		t.Fatalf("finished job: %v", job)
	}
	// Audited once, by its job (a refused second import is audited by the wrapper).
	var mine []audit.Entry
	for _, e := range rec.of("startAssetImport") {
		if e.Target == id {
			mine = append(mine, e)
		} else if e.OK {
			t.Fatalf("unexpected audit entry: %+v", e)
		}
	}
	if len(mine) != 1 || !strings.Contains(mine[0].Summary, "created=1 updated=0 unchanged=0 not_imported=1") {
		t.Fatalf("audit of startAssetImport %s: %+v", id, mine)
	}
}
