package testkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/medcmdb/medcmdb/internal/store"
)

var (
	sharedOnce  sync.Once
	sharedStore *store.Store
	sharedErr   error
	dbSeq       atomic.Int64
)

// Store returns a store for one test: a fresh database in a process-wide embedded
// FerretDB, or in the MongoDB of MEDCMDB_TEST_MONGO_URI when set.
func Store(t testing.TB) *store.Store {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medcmdb-teststore-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedStore, sharedErr = store.Open(context.Background(), store.Options{
			URI: os.Getenv("MEDCMDB_TEST_MONGO_URI"), DataDir: dir, Logger: Logger(),
		})
	})
	if sharedErr != nil {
		t.Fatalf("test store: %v", sharedErr)
	}
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), sanitize(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	s := *sharedStore
	s.DB = sharedStore.Client.Database(name)
	t.Cleanup(func() { _ = s.DB.Drop(context.Background()) })
	return &s
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// Logger returns a logger that is silent unless MEDCMDB_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("MEDCMDB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// SharedStore is Store reached the way several cmdb processes reach a MongoDB:
// several writers (versioned writes, identity claims, the change feed) and MongoDB's
// layout (in-place documents, one partition per collection). Two services opened on
// it act as two replicas. The FerretDB multi-writer layout is covered end to end by
// the e2e replica tests over `cmdb store`.
func SharedStore(t testing.TB) *store.Store {
	t.Helper()
	s := Store(t)
	s.Embedded, s.FerretDB = false, false
	return s
}
