package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestCMDBOutage is issue 9's first resilience proof. The cmdb is killed (SIGKILL) in
// the middle of a failure scenario and stays dead for 60 s while devices go down and
// up; the collector spools what it sees. After the restart every observation is
// applied exactly once and the incidents are exactly the scenario's ground truth,
// which is what an uninterrupted run gives:
//   - each failed device went through exactly its scripted DOWN/OPERATIONAL changes,
//     recorded at the time the collector saw them (no change lost, none doubled);
//   - each failed device has exactly one snmp.unreachable incident, resolved, reopened
//     once per extra outage; no other device has any;
//   - the collector spooled (failed reports, observations waiting) and drained: what it
//     emitted equals what the cmdb acknowledged, nothing dropped.
func TestCMDBOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	// Mostly waiting: it runs next to the other outage test.
	t.Parallel()
	r := newOutageRig(t, 60)
	r.startCollector()
	r.waitAllUp(60 * time.Second)
	devs := r.pickDevices(4)
	const outage = 60 * time.Second

	// a fails before the crash and recovers during it; b fails and recovers during it;
	// c fails during it and recovers after the restart; d fails twice during it.
	start := time.Now()
	a := failure{dev: devs[0], spans: [][2]time.Duration{{0, 0}}} // its recovery is set at the crash
	r.sim.SetDown(a.dev, true)
	testkit.Eventually(t, 30*time.Second, func() error {
		list, err := r.incidents()
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Asset.Name != a.dev.Name {
			return fmt.Errorf("incidents before the crash: %v", summarise(list))
		}
		return nil
	})
	r.cmdb.Kill()
	killed := time.Now()
	t.Logf("cmdb killed %.1fs after %s went down", killed.Sub(start).Seconds(), a.dev.Name)
	// Every offset is from start; k is the moment of the crash.
	k := killed.Sub(start)
	a.spans[0][1] = k + 3*time.Second
	b := failure{dev: devs[1], spans: [][2]time.Duration{{k + 5*time.Second, k + 25*time.Second}}}
	c := failure{dev: devs[2], spans: [][2]time.Duration{{k + 10*time.Second, k + outage + 25*time.Second}}}
	d := failure{dev: devs[3], spans: [][2]time.Duration{{k + 8*time.Second, k + 20*time.Second}, {k + 30*time.Second, k + 44*time.Second}}}
	fs := []failure{a, b, c, d}

	// While the cmdb is dead the collector keeps working and spools.
	peakc := make(chan float64, 1)
	go func() {
		var peak float64
		for time.Since(killed) < outage-time.Second {
			if m, err := scrapeURL(r.metrics); err == nil {
				peak = max(peak, m["medcmdb_spool_observations"])
			}
			time.Sleep(time.Second)
		}
		peakc <- peak
	}()
	scenario := make(chan struct{})
	go func() {
		defer close(scenario)
		// a is down already: only its recovery is still to come.
		steps := append([]simStep{{a.spans[0][1], a.dev, false}}, stepsOf([]failure{b, c, d})...)
		slices.SortStableFunc(steps, func(x, y simStep) int { return int(x.at - y.at) })
		r.play(start, steps)
	}()
	time.Sleep(time.Until(killed.Add(outage)))
	peak := <-peakc
	r.startCMDB()
	restarted := time.Now()
	t.Logf("cmdb restarted after %.1fs; spool peaked at %v observations", restarted.Sub(killed).Seconds(), peak)
	<-scenario

	// Everything settles: the failed devices are back, their incidents resolved.
	testkit.Eventually(t, 90*time.Second, func() error {
		list, err := r.incidents()
		if err != nil {
			return err
		}
		if got, want := summarise(list), expected(fs); !slices.Equal(got, want) {
			return fmt.Errorf("incidents\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		return nil
	})
	r.waitAllUp(30 * time.Second)
	r.checkTrails(start, fs)
	m := r.checkCollectorAccounts()
	if m[`medcmdb_reports_total{result="failure"}`] == 0 || peak == 0 {
		t.Errorf("the collector never spooled: %v failed reports, spool peak %v", m[`medcmdb_reports_total{result="failure"}`], peak)
	}
	if !strings.Contains(r.collector.Output(), "sending observations to cmdb") {
		t.Error("the collector did not log its failed deliveries")
	}
	cm, err := scrapeURL(r.cmdbURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collector: %v observations emitted, %v delivered, %v failed reports; restarted cmdb: %v applied, %v duplicates",
		sum(m, "medcmdb_observations_emitted_total"), sum(m, "medcmdb_observations_delivered_total"),
		m[`medcmdb_reports_total{result="failure"}`],
		cm[`medcmdb_observations_applied_total{result="applied"}`], cm[`medcmdb_observations_applied_total{result="duplicate"}`])
}
