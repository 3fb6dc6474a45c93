package testkit

import "testing"

// Integration marks a test whose point is a real part (the store's layout, replicas
// on one store, a server process): it is skipped with -short, so that `go test -short`
// runs the logic tests alone, in memory and in seconds. ./test.sh runs it.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
}
