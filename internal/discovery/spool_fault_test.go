package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// smallDisk makes a spool's segment writes behave like a filesystem of limit bytes:
// a write that does not fit writes what fits, then fails with ENOSPC.
type smallDisk struct {
	dir string
	mu  sync.Mutex
	lim int64
}

func (d *smallDisk) setLimit(n int64) {
	d.mu.Lock()
	d.lim = n
	d.mu.Unlock()
}

// used is what the segments take now (removing one frees its space).
func (d *smallDisk) used() int64 {
	var n int64
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), segmentPrefix) {
			n += fi.Size()
		}
	}
	return n
}

func (d *smallDisk) open(path string) (segmentFile, error) {
	f, err := openSegment(path)
	if err != nil {
		return nil, err
	}
	return &smallDiskFile{File: f.(*os.File), d: d}, nil
}

type smallDiskFile struct {
	*os.File
	d *smallDisk
}

func (f *smallDiskFile) Write(b []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	free := max(0, f.d.lim-f.d.used())
	if int64(len(b)) <= free {
		return f.File.Write(b)
	}
	n, _ := f.File.Write(b[:free])
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

func openSmallDiskSpool(t *testing.T, limit int64) (*Spool, *smallDisk) {
	t.Helper()
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	d := &smallDisk{dir: dir, lim: limit}
	// Reopen the tail through the faulty disk.
	sp.openFile = d.open
	_ = sp.tail.Close()
	sp.tail = nil
	if err := sp.openTail(); err != nil {
		t.Fatal(err)
	}
	return sp, d
}

// TestSpoolAppendOnAFullDiskLeavesNothingTorn: an append the disk cannot take whole
// fails with ENOSPC and leaves the spool as it was, so that once space is back the
// next append is read in order. (The old code left half a record on the tail, and
// every later append behind it was unreadable: Peek stopped at the torn record.)
func TestSpoolAppendOnAFullDiskLeavesNothingTorn(t *testing.T) {
	rec := int64(len(encodeRecord(mustJSON(spoolObs(100, observation.KindChange)))))
	sp, disk := openSmallDiskSpool(t, 5*rec+rec/2) // five and a half records
	var ok []observation.Observation
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		o := spoolObs(100+i, observation.KindChange)
		if err = sp.Append([]observation.Observation{o}); err == nil {
			ok = append(ok, o)
		}
	}
	if !errors.Is(err, syscall.ENOSPC) || len(ok) != 5 {
		t.Fatalf("appended %d then %v; want 5 then ENOSPC", len(ok), err)
	}
	if sp.Len() != 5 || sp.Bytes() != 5*rec || disk.used() != 5*rec {
		t.Fatalf("after the failed append: len %d, %d bytes counted, %d on disk; want 5, %d, %d", sp.Len(), sp.Bytes(), disk.used(), 5*rec, 5*rec)
	}
	// A group that does not fit fails whole.
	if err := sp.Append([]observation.Observation{spoolObs(200, observation.KindChange), spoolObs(201, observation.KindChange)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("group append on a full disk: %v", err)
	}
	// Space comes back: what is appended now follows the five, readable.
	disk.setLimit(100 * rec)
	more := spoolObs(300, observation.KindChange)
	if err := sp.Append([]observation.Observation{more}); err != nil {
		t.Fatal(err)
	}
	batch, next, err := sp.Peek(100)
	if err != nil || ids(batch) != ids(append(ok, more)) {
		t.Fatalf("peek after the disk was full: %v %q, want %q", err, ids(batch), ids(append(ok, more)))
	}
	// Delivering everything frees the disk.
	if err := sp.Commit(next, len(batch)); err != nil {
		t.Fatal(err)
	}
	if disk.used() != 0 || sp.Len() != 0 {
		t.Fatalf("drained: %d bytes of segments, len %d", disk.used(), sp.Len())
	}
	sp.Close()
}

// TestSpoolHeadSurvivesAnUnsavedCursor: when the cursor cannot be saved after the
// spool drained (a full disk), a restart resends at most what was delivered and never
// reads a segment from an offset of another generation of it.
func TestSpoolHeadSurvivesAnUnsavedCursor(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var first []observation.Observation
	for i := range 6 {
		first = append(first, spoolObs(i, observation.KindChange))
	}
	if err := sp.Append(first); err != nil {
		t.Fatal(err)
	}
	batch, next, _ := sp.Peek(4)
	if err := sp.Commit(next, len(batch)); err != nil {
		t.Fatal(err)
	}
	stale, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if err != nil {
		t.Fatal(err)
	}
	batch, next, _ = sp.Peek(10)
	if err := sp.Commit(next, len(batch)); err != nil {
		t.Fatal(err)
	}
	// New records, longer than the old offset, then a crash that lost the cursor
	// saves since the one after the first batch.
	second := []observation.Observation{spoolObs(10, observation.KindChange), spoolObs(11, observation.KindChange)}
	for i := range 8 {
		second = append(second, spoolObs(1000+i, observation.KindRefresh)) // other sizes: the old offset falls mid-record
	}
	if err := sp.Append(second); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	sp2, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	got, _, err := sp2.Peek(100)
	if err != nil || ids(got) != ids(second) || sp2.Len() != len(second) {
		t.Fatalf("after restart with a stale cursor: %v %q (len %d), want %q", err, ids(got), sp2.Len(), ids(second))
	}
}

// TestReporterDeliversThroughAFullDisk: the cmdb is down while a burst fills the
// spool's disk; when it is back every observation is delivered exactly once and in
// order, from the spool and then from memory, and the spool's outage is counted and
// shown. (The old code re-sent the head of a half-written append forever.)
func TestReporterDeliversThroughAFullDisk(t *testing.T) {
	rec := int64(len(encodeRecord(mustJSON(spoolObs(100, observation.KindChange)))))
	sp, disk := openSmallDiskSpool(t, 40*rec)
	snd := &recordingSender{down: true}
	reg := prometheus.NewRegistry()
	m := newCollectorMetrics(reg)
	var logs logBuffer
	r := newReporter(snd, 25, 10*time.Millisecond, 10_000, m, slog.New(slog.NewTextHandler(&logs, nil)))
	r.spool = sp
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var want []string
	for i := range 300 {
		o := spoolObs(1000+i, observation.KindChange)
		want = append(want, o.ID)
		r.Emit(o)
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		if testutil.ToFloat64(m.spoolDegraded) != 1 || testutil.ToFloat64(m.spoolErrors.WithLabelValues("no_space")) == 0 {
			return errors.New("the full disk is not shown")
		}
		if r.Pending() != 300 {
			return fmt.Errorf("%d pending, want 300", r.Pending())
		}
		return nil
	})
	if sp.Len() == 0 || sp.Len() > 40 || disk.used() > 40*rec {
		t.Fatalf("spool holds %d records, %d bytes: want the disk filled, not more", sp.Len(), disk.used())
	}
	snd.mu.Lock()
	snd.down = false
	snd.mu.Unlock()
	testkit.Eventually(t, 10*time.Second, func() error {
		if p := r.Pending(); p != 0 {
			return fmt.Errorf("%d pending", p)
		}
		return nil
	})
	if got := snd.ids(); got != strings.Join(want, " ") {
		t.Fatalf("delivered (in order, each once):\n%s\nwant:\n%s", got, strings.Join(want, " "))
	}
	if d := testutil.ToFloat64(m.delivered); d != 300 {
		t.Fatalf("delivered_total %.0f, want 300", d)
	}
	// The next observation goes through the spool again, and the state says so.
	o := spoolObs(5000, observation.KindChange)
	r.Emit(o)
	testkit.Eventually(t, 5*time.Second, func() error {
		if testutil.ToFloat64(m.spoolDegraded) != 0 || r.Pending() != 0 {
			return errors.New("spool still degraded or the last observation pending")
		}
		return nil
	})
	if !strings.Contains(logs.String(), "the spool cannot write") || !strings.Contains(logs.String(), "the spool writes again") {
		t.Fatalf("log does not tell the spool's outage:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "the spool cannot write"); n > 1 {
		t.Fatalf("%d lines for one outage: want one a minute", n)
	}
}

// BenchmarkSpoolFlushCycle is the spool's cost per flush of a healthy collector: append
// a batch (one fsync), read it, commit it (the spool drains: a fresh segment and the
// cursor saved), on the test machine's disk.
func BenchmarkSpoolFlushCycle(b *testing.B) {
	sp, err := OpenSpool(b.TempDir(), 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	batch := make([]observation.Observation, 100)
	for i := range batch {
		batch[i] = spoolObs(i, observation.KindRefresh)
	}
	b.ResetTimer()
	for range b.N {
		if err := sp.Append(batch); err != nil {
			b.Fatal(err)
		}
		got, next, err := sp.Peek(len(batch))
		if err != nil || len(got) != len(batch) {
			b.Fatalf("peek: %v, %d", err, len(got))
		}
		if err := sp.Commit(next, len(got)); err != nil {
			b.Fatal(err)
		}
	}
}
