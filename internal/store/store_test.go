package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestEmbeddedStoreIsExclusive(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{DataDir: dir, Logger: log}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open of one data dir: %v, want ErrLocked", err)
	}
	s.Close(ctx)
	s2, err := Open(ctx, Options{DataDir: dir, Logger: log})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	s2.Close(ctx)
}

func TestRedactURI(t *testing.T) {
	got := redactURI("mongodb://cmdb:hunter2@db1,db2/?replicaSet=rs0")
	if got == "" || strings.Contains(got, "hunter2") || !strings.Contains(got, "cmdb") {
		t.Fatalf("redacted %q", got)
	}
}
