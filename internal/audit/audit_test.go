package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestRecordListAndRetentionOnTheStore(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	l := audit.New(st.DB, testkit.Logger())
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	entries := []audit.Entry{
		{At: base, Actor: "user:alice", Role: "servicedesk", Operation: "acknowledgeIncident", Target: "INC-1", Remote: "127.0.0.1:5000", OK: true},
		{At: base.Add(time.Minute), Actor: "user:bob", Role: "viewer", Operation: "acknowledgeIncident", Target: "INC-2", OK: false, Error: "FORBIDDEN"},
		{At: base.Add(2 * time.Minute), Actor: "user:alice", Role: "servicedesk", Operation: "resolveIncident", Target: "INC-1", OK: true},
		{At: base.Add(3 * time.Minute), Actor: "user:admin", Role: "admin", Operation: "createToken", Target: "noc", Summary: "role=viewer", OK: true},
	}
	for _, e := range entries {
		l.Record(ctx, e)
	}

	all, total, err := l.List(ctx, audit.Query{}, 0, 10)
	if err != nil || total != 4 || len(all) != 4 {
		t.Fatalf("list: %d of %d, %v", len(all), total, err)
	}
	// Newest first.
	for i, want := range []string{"createToken", "resolveIncident", "acknowledgeIncident", "acknowledgeIncident"} {
		if all[i].Operation != want {
			t.Fatalf("entry %d is %s, want %s (newest first)", i, all[i].Operation, want)
		}
	}
	if all[3].Remote != "127.0.0.1:5000" || !all[3].At.Equal(base) || all[2].Error != "FORBIDDEN" || all[2].OK {
		t.Fatalf("entries did not round-trip: %+v / %+v", all[3], all[2])
	}

	page, total, err := l.List(ctx, audit.Query{}, 1, 2)
	if err != nil || total != 4 || len(page) != 2 || page[0].Operation != "resolveIncident" {
		t.Fatalf("page [1,3): %+v total %d, %v", page, total, err)
	}
	byActor, total, err := l.List(ctx, audit.Query{Actor: "user:alice"}, 0, 10)
	if err != nil || total != 2 || len(byActor) != 2 {
		t.Fatalf("by actor: %d, %v", total, err)
	}
	byOp, total, _ := l.List(ctx, audit.Query{Operation: "acknowledgeIncident"}, 0, 10)
	if total != 2 || byOp[0].Actor != "user:bob" {
		t.Fatalf("by operation: %+v", byOp)
	}
	since, total, _ := l.List(ctx, audit.Query{Since: base.Add(90 * time.Second)}, 0, 10)
	if total != 2 || len(since) != 2 {
		t.Fatalf("since: %d", total)
	}

	n, err := l.DeleteBefore(ctx, base.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("retention deleted %d, %v; want 2", n, err)
	}
	left, total, _ := l.List(ctx, audit.Query{}, 0, 10)
	if total != 2 || left[1].Operation != "resolveIncident" {
		t.Fatalf("after retention: %+v", left)
	}
}

func TestRecordStampsTimeWhenMissing(t *testing.T) {
	ctx := context.Background()
	l := audit.New(testkit.Store(t).DB, testkit.Logger())
	before := time.Now().Add(-time.Second)
	l.Record(ctx, audit.Entry{Actor: "user:x", Operation: "updateAsset", OK: true})
	got, _, err := l.List(ctx, audit.Query{}, 0, 1)
	if err != nil || len(got) != 1 || got[0].At.Before(before) || got[0].ID == "" {
		t.Fatalf("%+v %v", got, err)
	}
}
