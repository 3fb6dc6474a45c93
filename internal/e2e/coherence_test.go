package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// collectorConfig is a collector watching cidr with fast timers: polls every second,
// down after two failures, refreshes every second (so its observations hold 3 s).
func collectorConfig(name, site, url, token string, port int, cidr string) string {
	return fmt.Sprintf(`site: %s
name: %s
cmdb:
  url: %s
  token: %s
  flush_interval: 200ms
refresh_interval: 1s
snmp:
  port: %d
  timeout: 500ms
  retries: 0
  poll_interval: 1s
  down_after: 2
  discovery_schedule: "@every 1h"
  credentials:
    - name: public-v2
      version: 2c
      community: public
  ranges:
    - cidr: %s
      credentials: [public-v2]
      location: {building: "Tower A", floor: "3", unit: "ICU-3", care_area: ICU}
`, site, name, url, token, port, cidr)
}

func startCollector(t *testing.T, config string) *testkit.Proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, config)
	return testkit.Start(t, testkit.Binary(t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0")
}

// since measures how long cond takes to hold, failing past d.
func since(t *testing.T, d time.Duration, cond func() error) time.Duration {
	t.Helper()
	return testkit.Eventually(t, d, cond)
}

// TestReplicasSeeEachOthersChanges: two cmdb processes on one store keep their
// in-memory working sets in step through the change feed. A device reported through
// replica A shows on B; its incident and an acknowledgement made through A show on B;
// a note through B lands without conflict; a token revoked through A stops working on
// B; and B, which does not hear the collector, never expires A's devices.
func TestReplicasSeeEachOthersChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const within = 5 * time.Second // feed polls every 2 s
	c := startCluster(t, "lease_ttl: 6s\n")
	a := c.replica()
	b := c.replica()

	net := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, net+"1")
	agent := testkit.StartSNMPD(t, testkit.Agent{Addr: net + "1", Port: port, SysName: "icu-vent-1",
		SysDescr: "Test ventilator firmware 2.0", SysObjectID: "1.3.6.1.4.1.99999.1.1"})
	startCollector(t, collectorConfig("col-a", "e2e", a.g.URL, a.g.Token, port, net+"0/30"))

	var id string
	testkit.Eventually(t, 15*time.Second, func() error {
		list, err := listAssets(a.g)
		if err != nil || len(list) != 1 || list[0].Status != "OPERATIONAL" {
			return fmt.Errorf("A: %+v %v", list, err)
		}
		id = list[0].ID
		return nil
	})
	took := since(t, within, func() error {
		list, err := listAssets(b.g)
		if err != nil || len(list) != 1 || list[0].ID != id || list[0].Status != "OPERATIONAL" {
			return fmt.Errorf("B: %+v %v", list, err)
		}
		return nil
	})
	t.Logf("asset created through A visible on B after %s", took.Round(time.Millisecond))

	// B does not hear col-a: its copy of the device's validity (3 s, never written on
	// refreshes) runs out, yet B must not expire it. Wait two expiry rounds past it.
	// Wait until the stored validity is 6 s past (an expiry round is 5 s), or the
	// device went UNKNOWN (checked below).
	wentUnknown := func(g *testkit.GraphQL) bool {
		list, _ := listAssets(g)
		for _, a := range list {
			for _, h := range a.History {
				if h.Field == "status" && h.After == "UNKNOWN" {
					return true
				}
			}
		}
		return false
	}
	testkit.Eventually(t, 40*time.Second, func() error {
		if wentUnknown(a.g) {
			return nil
		}
		d, err := c.storedAsset(id)
		if err != nil {
			return err
		}
		for _, ch := range d.Channels {
			if late := time.Since(ch.ValidUntil); late < 6*time.Second {
				return fmt.Errorf("stored validity only %s past", late)
			}
		}
		return nil
	})
	for name, r := range map[string]*replica{"A": a, "B": b} {
		list, err := listAssets(r.g)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range list[0].History {
			if h.Field == "status" && h.After == "UNKNOWN" {
				t.Errorf("%s: the device went UNKNOWN while its collector reported: %+v", name, list[0].History)
			}
		}
		if list[0].Status != "OPERATIONAL" {
			t.Errorf("%s: device %s", name, list[0].Status)
		}
	}

	// The device fails: one incident, seen by both.
	agent.Stop()
	var inc incidentNode
	testkit.Eventually(t, 10*time.Second, func() error {
		incs, err := listIncidents(a.g)
		if err != nil || len(incs) != 1 {
			return fmt.Errorf("A: %+v %v", incs, err)
		}
		inc = incs[0]
		return nil
	})
	took = since(t, within, func() error {
		incs, err := listIncidents(b.g)
		if err != nil || len(incs) != 1 || incs[0].ID != inc.ID || incs[0].State != "OPEN" {
			return fmt.Errorf("B: %+v %v", incs, err)
		}
		return nil
	})
	t.Logf("incident opened on A visible on B after %s", took.Round(time.Millisecond))

	// Acknowledged through A, visible on B.
	a.g.Query(t, `mutation($id: ID!) { acknowledgeIncident(id: $id, note: "through A") { state } }`, map[string]any{"id": inc.ID}, nil)
	took = since(t, within, func() error {
		incs, err := listIncidents(b.g)
		if err != nil || len(incs) != 1 || incs[0].State != "ACKNOWLEDGED" {
			return fmt.Errorf("B: %+v %v", incs, err)
		}
		return nil
	})
	t.Logf("acknowledgement through A visible on B after %s", took.Round(time.Millisecond))

	// A note through B, on B's fresh copy: no conflict, and A shows it.
	r, err := b.g.Do(`mutation($id: ID!) { addIncidentNote(id: $id, note: "through B") { id } }`, map[string]any{"id": inc.ID})
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("note through B: %v %+v", err, r)
	}
	since(t, within, func() error {
		var out struct {
			Incident struct {
				Timeline []struct{ Note string } `json:"timeline"`
			} `json:"incident"`
		}
		if err := a.g.Try(`query($id: ID!) { incident(id: $id) { timeline { note } } }`, map[string]any{"id": inc.ID}, &out); err != nil {
			return err
		}
		for _, ev := range out.Incident.Timeline {
			if ev.Note == "through B" {
				return nil
			}
		}
		return fmt.Errorf("A's timeline: %+v", out.Incident.Timeline)
	})

	// A viewer token revoked through A stops working on B.
	var created struct {
		CreateToken struct {
			Token string `json:"token"`
			Info  struct {
				ID string `json:"id"`
			} `json:"info"`
		} `json:"createToken"`
	}
	a.g.Query(t, `mutation { createToken(name: "wallboard", role: VIEWER) { token info { id } } }`, nil, &created)
	viewerB := &testkit.GraphQL{URL: b.g.URL, Token: created.CreateToken.Token}
	if r, err := viewerB.Do(`{ assets { totalCount } }`, nil); err != nil || r.Status != 200 {
		t.Fatalf("new token on B: %v %+v", err, r)
	}
	a.g.Query(t, `mutation($id: ID!) { revokeToken(id: $id) { revoked } }`, map[string]any{"id": created.CreateToken.Info.ID}, nil)
	took = since(t, within, func() error {
		r, err := viewerB.Do(`{ assets { totalCount } }`, nil)
		if err != nil {
			return err
		}
		if r.Code() != "UNAUTHENTICATED" {
			return fmt.Errorf("B still accepts the revoked token (status %d)", r.Status)
		}
		return nil
	})
	t.Logf("token revoked through A refused by B after %s", took.Round(time.Millisecond))
	if out := b.proc.Output(); !strings.Contains(out, "change feed on") {
		t.Error("B did not say its change feed runs")
	}
}
