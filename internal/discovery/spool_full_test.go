package discovery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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

// logBuffer is a slog destination tests can read while the reporter writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// scrapeCounter reads one sample of a Prometheus text exposition.
func scrapeCounter(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", sample, v)
			}
			return f
		}
	}
	t.Fatalf("%s has no sample %s", url, sample)
	return 0
}

// fullDiskObservation is the i-th of the burst: 200 devices, each first discovered,
// then every tenth a firmware change (a state change for the spool's drop order: kept
// to the last), the rest refreshes.
func fullDiskObservation(i int) observation.Observation {
	dev := i % 200
	seq := i / 200
	kind := observation.KindRefresh
	switch {
	case seq == 0:
		kind = observation.KindDiscovered
	case seq%10 == 0:
		kind = observation.KindChange
	}
	at := time.Now().UTC()
	return observation.Observation{
		ID: fmt.Sprintf("fulldisk-%05d", i), Collector: "fulldisk", Site: "spool-test",
		ObservedAt: at, ValidUntil: at.Add(time.Hour), Source: observation.SourceSNMPPoll, Kind: kind, State: observation.StateUp,
		Address:    &observation.Address{IP: fmt.Sprintf("10.77.%d.%d", dev/250, dev%250+1)},
		Identity:   observation.Identity{SysName: fmt.Sprintf("fulldisk-dev-%03d", dev), Firmware: fmt.Sprintf("1.%d", seq/10)},
		Conditions: []string{},
	}
}

// TestSpoolOnAFullDiskDeliversWhatItCan is issue 16 item 5 on a real 1 MB filesystem
// and a real cmdb: 20,000 observations arrive while the cmdb is paused, the spool fills
// the disk, and once the cmdb answers again every observation not dropped is applied
// exactly once; the drops are refreshes, counted and logged; the spool's outage shows
// in its metrics. (On the old code the collector re-sent one batch forever: the
// head of a failed, half-written append was sent, "committed" by truncating the file,
// and written again.)
func TestSpoolOnAFullDiskDeliversWhatItCan(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the cmdb binary")
	}
	spoolDir := filepath.Join(testkit.SmallFS(t, "1m"), "spool")
	dataDir := t.TempDir()
	cmdb := testkit.Start(t, testkit.Binary(t, "cmdb"), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	base := cmdb.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewCMDBClient(CMDBConfig{URL: base + "/graphql", Token: Secret(strings.TrimSpace(string(token))), Timeout: 10 * time.Second}, "fulldisk")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := OpenSpool(spoolDir, 512<<20) // the bound is far beyond the disk
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	reg := prometheus.NewRegistry()
	m := newCollectorMetrics(reg)
	const total, queue = 20_000, 12_000
	r := newReporter(client, 500, 100*time.Millisecond, queue, m, slog.New(slog.NewTextHandler(&logs, nil)))
	r.spool = sp
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// The cmdb stops answering (its socket still accepts), and the burst arrives.
	if err := syscall.Kill(cmdb.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(cmdb.Pid(), syscall.SIGCONT)
		}
	}
	defer resume()
	changes := 0
	for i := range total {
		o := fullDiskObservation(i)
		if o.Kind != observation.KindRefresh {
			changes++
		}
		r.Emit(o)
		if i%1000 == 999 {
			time.Sleep(20 * time.Millisecond) // a burst, not one call: let flushes run
		}
	}
	// The disk fills: the spool says so and keeps the rest in memory.
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := testutil.ToFloat64(m.spoolErrors.WithLabelValues("no_space")); n == 0 {
			return errors.New("no ENOSPC counted yet")
		}
		if testutil.ToFloat64(m.spoolDegraded) != 1 {
			return errors.New("spool not shown degraded")
		}
		return nil
	})
	resume()
	resumedAt := time.Now()

	dropped := func() float64 {
		var n float64
		for _, k := range []observation.Kind{observation.KindDiscovered, observation.KindChange, observation.KindRefresh, observation.KindEvent, "rejected"} {
			n += testutil.ToFloat64(m.dropped.WithLabelValues(string(k)))
		}
		return n
	}
	delivered := func() float64 { return testutil.ToFloat64(m.delivered) }
	testkit.Eventually(t, 3*time.Minute, func() error {
		if p := r.Pending(); p > 0 {
			return fmt.Errorf("%d observations pending, %.0f delivered, %.0f dropped", p, delivered(), dropped())
		}
		return nil
	})
	drain := time.Since(resumedAt)
	// Delivered stays put: nothing is being re-sent.
	settled := delivered()
	time.Sleep(2 * time.Second)
	if d := delivered(); d != settled {
		t.Fatalf("delivered still climbing after the backlog drained: %.0f then %.0f", settled, d)
	}
	d := dropped()
	if d == 0 {
		t.Fatalf("nothing dropped: the test must overflow the memory queue (%d) and the disk", queue)
	}
	if settled+d != total {
		t.Fatalf("delivered %.0f + dropped %.0f != emitted %d", settled, d, total)
	}
	if n := testutil.ToFloat64(m.dropped.WithLabelValues(string(observation.KindChange))) + testutil.ToFloat64(m.dropped.WithLabelValues(string(observation.KindDiscovered))); n > 0 {
		t.Fatalf("%.0f state changes dropped while refreshes could go", n)
	}
	applied := scrapeCounter(t, base+"/metrics", `medcmdb_observations_applied_total{result="applied"}`)
	dups := scrapeCounter(t, base+"/metrics", `medcmdb_observations_applied_total{result="duplicate"}`)
	// Each delivered observation applied once. Duplicates are allowed only for the
	// batch the cmdb applied after the client had given up on it (sent while it was
	// stopped): its resend is a replay. A livelock would count them by the thousand.
	if applied != settled || applied < float64(changes) {
		t.Fatalf("cmdb applied %.0f (+%.0f duplicates); collector delivered %.0f of which %d state changes", applied, dups, settled, changes)
	}
	if dups > 5*500 {
		t.Fatalf("%.0f duplicates: batches were sent again and again", dups)
	}
	if !strings.Contains(logs.String(), "dropping oldest") {
		t.Fatalf("the drops were not logged:\n%s", tail(logs.String(), 3000))
	}
	// The next observation goes through the spool again, and the state says so.
	r.Emit(fullDiskObservation(total))
	testkit.Eventually(t, 30*time.Second, func() error {
		if testutil.ToFloat64(m.spoolDegraded) != 0 || r.Pending() != 0 {
			return errors.New("spool still shown degraded after the backlog drained")
		}
		return nil
	})
	t.Logf("emitted %d (%d state changes), delivered %.0f, dropped %.0f, cmdb applied %.0f, duplicates %.0f, spool write errors %.0f; backlog sent in %s",
		total, changes, settled, d, applied, dups, testutil.ToFloat64(m.spoolErrors.WithLabelValues("no_space")), drain.Round(time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
