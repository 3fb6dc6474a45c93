package schedule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

type flag struct{ v atomic.Bool }

func (f *flag) Leading() bool { return f.v.Load() }

// Two replicas whose leases (wrongly) both say "leading" still run each tick once.
func TestTickRunsOnceAcrossReplicas(t *testing.T) {
	db := testkit.Store(t).DB
	var runs atomic.Int32
	fixed := time.Date(2026, 1, 1, 0, 0, 7, 0, time.UTC)
	job := Job{Name: "sla", Timeout: time.Second, Run: func(context.Context) error { runs.Add(1); return nil }}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		lead := &flag{}
		lead.v.Store(true)
		s := New(db, lead, name, nil, testkit.Logger())
		s.now = func() time.Time { return fixed }
		s.ctx = context.Background()
		wg.Go(func() { s.fire(job) })
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("tick ran %d times, want once", runs.Load())
	}
}

func TestFollowerDoesNotRun(t *testing.T) {
	db := testkit.Store(t).DB
	s := New(db, &flag{}, "follower", nil, testkit.Logger())
	s.ctx = context.Background()
	var n atomic.Int32
	s.fire(Job{Name: "retention", Timeout: time.Second, Run: func(context.Context) error { n.Add(1); return nil }})
	if n.Load() != 0 {
		t.Fatal("a replica without the lease ran a job")
	}
}

func TestRejectsBadSpec(t *testing.T) {
	s := New(testkit.Store(t).DB, &flag{}, "x", nil, testkit.Logger())
	if err := s.Add(Job{Name: "bad", Spec: "every tuesday", Run: func(context.Context) error { return nil }}); err == nil {
		t.Fatal("bad cron spec accepted")
	}
}

// A job that panics once is not skipped for ever afterwards.
func TestPanickingJobRunsAgain(t *testing.T) {
	db := testkit.Store(t).DB
	lead := &flag{}
	lead.v.Store(true)
	s := New(db, lead, "a", nil, testkit.Logger())
	var calls atomic.Int32
	if err := s.Add(Job{Name: "flaky", Spec: "* * * * * *", Timeout: time.Second, Run: func(context.Context) error {
		if calls.Add(1) == 1 {
			panic("first run fails hard")
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	testkit.Eventually(t, 5*time.Second, func() error {
		if calls.Load() < 2 {
			return errors.New("job did not run again after panicking")
		}
		return nil
	})
	cancel()
	<-done
}
