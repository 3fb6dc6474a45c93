package discovery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// recordingSender fails while down, refuses observations whose id contains "poison"
// with a 400, and records everything it accepts.
type recordingSender struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (s *recordingSender) Send(_ context.Context, batch []Observation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("connection refused")
	}
	for _, o := range batch {
		if strings.Contains(o.ID, "poison") {
			return &ClientError{Status: 400, Err: errors.New("bad input")}
		}
	}
	for _, o := range batch {
		s.got = append(s.got, o.ID)
	}
	return nil
}

func (s *recordingSender) ids() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.got, " ")
}

func TestReporterSpoolsThroughOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	snd := &recordingSender{down: true}
	start := func() (*Reporter, context.CancelFunc, chan struct{}) {
		sp, err := OpenSpool(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		r := newReporter(snd, 3, 20*time.Millisecond, 1000, newCollectorMetrics(prometheus.NewRegistry()), testkit.Logger())
		r.spool = sp
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		return r, cancel, done
	}
	r, cancel, done := start()
	for _, id := range []string{"a", "b", "c", "poison-1", "d", "e"} {
		o := spoolObs(0, KindChange)
		o.ID = id
		r.Emit(o)
	}
	// The cmdb is down: everything is spooled, nothing delivered.
	testkit.Eventually(t, 2*time.Second, func() error {
		if r.spool.Len() != 6 {
			return errors.New("not all spooled yet")
		}
		return nil
	})
	// The collector restarts while the cmdb is still down.
	cancel()
	<-done
	snd.mu.Lock()
	snd.down = false
	snd.mu.Unlock()
	r2, cancel2, done2 := start()
	defer func() { cancel2(); <-done2 }()
	testkit.Eventually(t, 3*time.Second, func() error {
		if r2.Pending() != 0 {
			return errors.New("still pending")
		}
		return nil
	})
	// In order, each once, the poison observation isolated and dropped.
	if got := snd.ids(); got != "a b c d e" {
		t.Fatalf("delivered %q, want \"a b c d e\"", got)
	}
}
