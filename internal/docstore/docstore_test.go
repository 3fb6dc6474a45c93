package docstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/docstore"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

type doc struct {
	ID      string    `bson:"_id"`
	Version int64     `bson:"version"`
	At      time.Time `bson:"at"`
	Note    string    `bson:"note,omitempty"`
	hidden  string
}

// backends are the collections the contract runs on: in memory always, and in the
// embedded FerretDB (a plain and a partitioned collection) without -short.
func backends(t *testing.T) map[string]func(t *testing.T) (docstore.Collection[doc], docstore.Counter) {
	return map[string]func(t *testing.T) (docstore.Collection[doc], docstore.Counter){
		"mem": func(*testing.T) (docstore.Collection[doc], docstore.Counter) {
			return docstore.Mem[doc]("docs"), docstore.MemCounter()
		},
		"ferretdb": func(t *testing.T) (docstore.Collection[doc], docstore.Counter) {
			testkit.Integration(t)
			s := testkit.Store(t)
			return docstore.Mongo[doc](s.DB.Collection("docs")), docstore.MongoCounter(s.DB.Collection("counters"))
		},
		"ferretdb-partitioned": func(t *testing.T) (docstore.Collection[doc], docstore.Counter) {
			testkit.Integration(t)
			s := testkit.Store(t)
			p, err := s.Partitioned(context.Background(), "docs")
			if err != nil {
				t.Fatal(err)
			}
			return docstore.Partitioned[doc]("docs", p), docstore.MongoCounter(s.DB.Collection("counters"))
		},
	}
}

// TestCollectionContract: the in-memory twin answers as MongoDB does, for every
// operation the services use.
func TestCollectionContract(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c, counter := open(t)
			at := time.Date(2026, 5, 1, 3, 0, 0, 123456789, time.UTC)

			if err := c.Insert(ctx, "a", doc{ID: "a", Version: 1, At: at, hidden: "x"}); err != nil {
				t.Fatal(err)
			}
			if err := c.Insert(ctx, "a", doc{ID: "a", Version: 9}); !errors.Is(err, docstore.ErrExists) {
				t.Fatalf("second insert of a: %v, want ErrExists", err)
			}
			got, ok, err := c.Get(ctx, "a")
			if err != nil || !ok {
				t.Fatalf("get a: %v %v", ok, err)
			}
			// What comes back is what the store keeps: milliseconds, UTC, no unexported fields.
			if got.Version != 1 || !got.At.Equal(at.Truncate(time.Millisecond)) || got.At.Location() != time.UTC || got.hidden != "" {
				t.Fatalf("a read back as %+v", got)
			}
			if _, ok, err := c.Get(ctx, "missing"); ok || err != nil {
				t.Fatalf("get missing: %v %v", ok, err)
			}

			// Replace: guarded by the version field when asked, never creates.
			if err := c.Replace(ctx, "a", doc{ID: "a", Version: 2, At: at}, 5); !errors.Is(err, docstore.ErrConflict) {
				t.Fatalf("replace at the wrong version: %v", err)
			}
			if err := c.Replace(ctx, "a", doc{ID: "a", Version: 2, At: at, Note: "two"}, 1); err != nil {
				t.Fatal(err)
			}
			if err := c.Replace(ctx, "a", doc{ID: "a", Version: 3, At: at, Note: "three"}, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.Replace(ctx, "b", doc{ID: "b", Version: 1}, 0); !errors.Is(err, docstore.ErrConflict) {
				t.Fatalf("replace of a missing document: %v", err)
			}
			if got, _, _ := c.Get(ctx, "a"); got.Note != "three" || got.Version != 3 {
				t.Fatalf("a after replaces: %+v", got)
			}

			// Put creates or replaces.
			later := at.Add(time.Hour)
			for _, d := range []doc{{ID: "b", At: later}, {ID: "b", At: later, Note: "again"}, {ID: "c", At: at.Add(-time.Hour)}} {
				if err := c.Put(ctx, d.ID, d); err != nil {
					t.Fatal(err)
				}
			}
			all, err := c.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(all); !slices.Equal(ids, []string{"a", "b", "c"}) {
				t.Fatalf("all: %v", ids)
			}
			if b, _, _ := c.Get(ctx, "b"); b.Note != "again" {
				t.Fatalf("b after two puts: %+v", b)
			}

			// Since: at or after, at the store's millisecond precision.
			since, err := c.Since(ctx, "at", at.Add(time.Microsecond))
			if err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(since); !slices.Equal(ids, []string{"a", "b"}) {
				t.Fatalf("since %s: %v", at, ids)
			}
			if since, _ := c.Since(ctx, "at", at.Add(time.Millisecond)); !slices.Equal(idsOf(since), []string{"b"}) {
				t.Fatalf("since a millisecond later: %v", idsOf(since))
			}

			// Deletes report what they removed.
			if ok, err := c.Delete(ctx, "c"); !ok || err != nil {
				t.Fatalf("delete c: %v %v", ok, err)
			}
			if ok, err := c.Delete(ctx, "c"); ok || err != nil {
				t.Fatalf("delete c again: %v %v", ok, err)
			}
			if n, err := c.DeleteMany(ctx, []string{"a", "b", "zz"}); n != 2 || err != nil {
				t.Fatalf("delete many: %d %v", n, err)
			}
			if all, _ := c.All(ctx); len(all) != 0 {
				t.Fatalf("left after deletes: %v", idsOf(all))
			}
			if err := c.Insert(ctx, "a", doc{ID: "a"}); err != nil {
				t.Fatalf("insert after delete: %v", err)
			}

			// Counters start at 0 and are independent.
			for _, step := range []struct {
				name      string
				add, want int64
			}{{"x", 1, 1}, {"x", 1, 2}, {"y", 16, 16}, {"x", 16, 18}, {"y", 16, 32}} {
				if got, err := counter.Add(ctx, step.name, step.add); got != step.want || err != nil {
					t.Fatalf("counter %s + %d = %d (%v), want %d", step.name, step.add, got, err, step.want)
				}
			}
		})
	}
}

// TestMemRefusesADocumentUnderAnotherID: the id a document is stored under is its _id,
// as in MongoDB; a caller passing another one is told at once.
func TestMemRefusesADocumentUnderAnotherID(t *testing.T) {
	c := docstore.Mem[doc]("docs")
	if err := c.Insert(context.Background(), "a", doc{ID: "b"}); err == nil {
		t.Fatal("a document with _id b stored as a")
	}
}

func idsOf(list []doc) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	slices.Sort(out)
	return out
}
