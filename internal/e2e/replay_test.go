package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestReplayCommand runs cmdb replay against a store holding a recorded failure: the
// candidate policy's priority change is reported, as text and as JSON.
func TestReplayCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	st := testkit.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := obslog.Open(st.DB, testkit.Logger())
	now := time.Now().UTC()
	vent := func(id string, at time.Time, down bool) observation.Observation {
		o := observation.Observation{ID: id, Collector: "c", Site: "main", ObservedAt: at, ValidUntil: at.Add(time.Hour),
			Source: observation.SourceSNMPPoll, Kind: observation.KindChange, State: observation.StateUp, Conditions: []string{},
			Address:  &observation.Address{IP: "10.4.0.7"},
			Identity: observation.Identity{SysName: "vent-icu-7", Class: "VENTILATOR"},
			Location: &observation.Location{CareArea: "ICU", Unit: "ICU-1"}}
		if down {
			o.State, o.Conditions = observation.StateDown, []string{observation.CondSNMPUnreachable}
		}
		return o
	}
	for _, b := range []struct {
		at   time.Time
		down bool
	}{{now.Add(-3 * time.Hour), false}, {now.Add(-2 * time.Hour), true}, {now.Add(-time.Hour), false}} {
		if err := log.Write(ctx, b.at, "", []observation.Observation{vent(b.at.Format(time.RFC3339), b.at, b.down)}); err != nil {
			t.Fatal(err)
		}
	}
	cand := filepath.Join(t.TempDir(), "candidate.yaml")
	if err := os.WriteFile(cand, []byte("care_area_acuity: {ICU: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testkit.Binary(t, "cmdb")
	args := []string{"replay", "--mongo-uri", st.URI, "--database", st.DB.Name(), "--policy", cand, "--since", "24h", "--log-level", "error"}
	out, err := testkit.Run(ctx, bin, args...)
	if err != nil || !strings.Contains(out, "Changed priority: 1") || !strings.Contains(out, "vent-icu-7 (VENTILATOR, ICU) snmp.unreachable: P1 → P2") ||
		!strings.Contains(out, "because urgency medium: care area ICU acuity 3") {
		t.Fatalf("cmdb replay: %v\n%s", err, out)
	}
	t.Logf("cmdb replay:\n%s", out)
	out, err = testkit.Run(ctx, bin, append(args, "--json")...)
	if err != nil {
		t.Fatalf("cmdb replay --json: %v\n%s", err, out)
	}
	var rep struct {
		Observations int
		Counts       []struct {
			Priority            string
			Baseline, Candidate int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Observations != 3 || rep.Counts[0].Priority != "P1" || rep.Counts[0].Baseline != 1 || rep.Counts[0].Candidate != 0 || rep.Counts[1].Candidate != 1 {
		t.Errorf("report %+v", rep)
	}
	// A missing candidate is a clear error.
	if out, err := testkit.Run(ctx, bin, "replay", "--mongo-uri", st.URI); err == nil || !strings.Contains(out, "--policy FILE is required") {
		t.Errorf("without --policy: %v %s", err, out)
	}
}
