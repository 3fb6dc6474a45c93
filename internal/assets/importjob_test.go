package assets_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestImportJobStoppedMidwayReportsEveryLine: an import the cmdb stops (shutdown)
// half-way ends FAILED, calls its finished callback once (the audit entry), and every
// data line is either applied or reported with why; none is silently lost.
func TestImportJobStoppedMidwayReportsEveryLine(t *testing.T) {
	ctx := context.Background()
	svc, err := assets.NewService(ctx, assets.NewMemStore(), assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var mu sync.Mutex
	var finished []assets.ImportStatus
	j, err := svc.StartImport(strings.NewReader(importCSV(n)), "user:carol", "req-1", func(st assets.ImportStatus) {
		mu.Lock()
		finished = append(finished, st)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartImport(strings.NewReader("asset_tag\nX\n"), "user:dave", "", nil); err == nil {
		t.Fatal("a second import started while one runs")
	}
	testkit.Eventually(t, time.Minute, func() error {
		if j.Status().Processed == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
	svc.Close() // the cmdb shuts down: the job stops at its next chunk
	<-j.Done()
	mu.Lock()
	defer mu.Unlock()
	if len(finished) != 1 {
		t.Fatalf("finished called %d times", len(finished))
	}
	got := finished[0]
	if got.State != assets.ImportFailed || !strings.Contains(got.Err, "stopped") || got.Result.Created == 0 || got.Result.Created == n {
		t.Fatalf("stopped job: state %s err %q, %d created of %d", got.State, got.Err, got.Result.Created, n)
	}
	if got.Result.Created+len(got.Result.Errors) != n {
		t.Fatalf("%d created + %d reported != %d lines", got.Result.Created, len(got.Result.Errors), n)
	}
	applied := map[string]bool{}
	for _, a := range func() []*assets.Asset { l, _ := svc.List(assets.Filter{}, 0, n); return l }() {
		applied[a.Biomed.AssetTag] = true
	}
	for i, e := range got.Result.Errors {
		if !strings.Contains(e.Message, "importing the file again applies it") || (i > 0 && e.Line <= got.Result.Errors[i-1].Line) {
			t.Fatalf("report %d: %+v", i, e)
		}
	}
	if len(applied) != got.Result.Created {
		t.Fatalf("%d assets in the registry, the job says %d created", len(applied), got.Result.Created)
	}
	if st, ok := svc.ImportJob(got.ID); !ok || st.State != assets.ImportFailed {
		t.Fatalf("job %s read back: %v %+v", got.ID, ok, st.State)
	}
}
