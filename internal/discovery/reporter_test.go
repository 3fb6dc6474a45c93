package discovery

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// recordingSender fails while down, refuses observations whose id contains "poison"
// with a 400, and records everything it accepts.
type recordingSender struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (s *recordingSender) Send(_ context.Context, batch []observation.Observation) error {
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
		o := spoolObs(0, observation.KindChange)
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

// TestReporterKeepsPaceWhileTheCMDBAnswers: with a steady trickle of observations and
// a cmdb that accepts every batch, each observation goes out within a few flush
// intervals. (Backoff is for failures: it once grew to 30 s between successful flushes
// whenever something new had arrived during a send; found by the soak run.)
func TestReporterKeepsPaceWhileTheCMDBAnswers(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		snd := &recordingSender{}
		r := newReporter(snd, 500, 20*time.Millisecond, 1000, newCollectorMetrics(prometheus.NewRegistry()), testkit.Logger())
		if spooled {
			sp, err := OpenSpool(t.TempDir(), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r.spool = sp
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		var worst time.Duration
		for i := range 150 {
			o := spoolObs(0, observation.KindRefresh)
			o.ID = "o" + strconv.Itoa(i)
			r.Emit(o)
			sent := time.Now()
			time.Sleep(5 * time.Millisecond)
			if i%10 == 9 {
				// Wait for this one to be delivered and note how long it took.
				for !strings.HasSuffix(snd.ids(), o.ID) {
					time.Sleep(time.Millisecond)
					if time.Since(sent) > 10*time.Second {
						t.Fatalf("spool=%v: observation %s not delivered after 10 s", spooled, o.ID)
					}
				}
				worst = max(worst, time.Since(sent))
			}
		}
		cancel()
		<-done
		// 20 ms flushes: a healthy reporter delivers well within a second even on a
		// loaded machine; the backoff bug took 4 s and more after a few hundred ms.
		if worst > 2*time.Second {
			t.Errorf("spool=%v: an observation waited %s with a healthy cmdb", spooled, worst)
		}
	}
}
