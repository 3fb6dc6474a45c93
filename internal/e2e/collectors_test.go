package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

type collectorNode struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Site   string `json:"site"`
}

func listCollectors(g *testkit.GraphQL) ([]collectorNode, error) {
	var out struct {
		Assets struct {
			Nodes []collectorNode `json:"nodes"`
		} `json:"assets"`
	}
	err := g.Try(`{ assets(filter: {class: COLLECTOR}) { nodes { id name status site } } }`, nil, &out)
	return out.Assets.Nodes, err
}

// TestTwoCollectorsOverlappingRanges is issue 10's acceptance for collectors: two
// collectors (different names) watch overlapping ranges and report to one cmdb. Each
// device is one asset and each failure one incident. A collector that goes silent is
// an incident on its own record; a device only it watched becomes UNKNOWN, never
// DOWN, and a device the other collector still watches stays known.
func TestTwoCollectorsOverlappingRanges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	net := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, net+"1")
	agents := map[string]*testkit.SNMPD{}
	for _, host := range []string{"1", "2", "5"} {
		agents[host] = testkit.StartSNMPD(t, testkit.Agent{Addr: net + host, Port: port, SysName: "ward-mon-" + host,
			SysDescr: "Test monitor firmware 1." + host, SysObjectID: "1.3.6.1.4.1.99999.2." + host})
	}
	_, g := startCMDB(t, t.TempDir())
	// col-1 watches .1 and .2; col-2 watches .1, .2 and .5.
	startCollector(t, collectorConfig("col-1", "e2e", g.URL, g.Token, port, net+"0/30"))
	col2cfg := collectorConfig("col-2", "e2e", g.URL, g.Token, port, net+"0/29")
	col2 := startCollector(t, col2cfg)

	byName := map[string]assetNode{}
	refresh := func() error {
		list, err := listAssets(g)
		if err != nil {
			return err
		}
		clear(byName)
		for _, a := range list {
			if _, dup := byName[a.Name]; dup {
				return fmt.Errorf("two assets named %s", a.Name)
			}
			byName[a.Name] = a
		}
		return nil
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		if err := refresh(); err != nil {
			return err
		}
		if len(byName) != 3 {
			return fmt.Errorf("%d assets, want 3 (one per device)", len(byName))
		}
		for n, a := range byName {
			if a.Status != "OPERATIONAL" {
				return fmt.Errorf("%s is %s", n, a.Status)
			}
		}
		cols, err := listCollectors(g)
		if err != nil || len(cols) != 2 {
			return fmt.Errorf("collector records %+v %v", cols, err)
		}
		return nil
	})
	// Both collectors keep reporting the two shared devices: still three assets.
	time.Sleep(3 * time.Second)
	if err := refresh(); err != nil || len(byName) != 3 {
		t.Fatalf("after more reports from both: %d assets (%v)", len(byName), err)
	}

	// One shared device fails: both collectors see it, one incident.
	agents["2"].Stop()
	victim := byName["ward-mon-2"].ID
	devIncidents := func() ([]incidentNode, error) {
		incs, err := listIncidents(g)
		var out []incidentNode
		for _, i := range incs {
			if i.Condition != "collector.silent" {
				out = append(out, i)
			}
		}
		return out, err
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		incs, err := devIncidents()
		if err != nil || len(incs) != 1 || incs[0].Asset.ID != victim || incs[0].Condition != "snmp.unreachable" {
			return fmt.Errorf("incidents %+v %v", incs, err)
		}
		return nil
	})
	time.Sleep(4 * time.Second)
	if incs, _ := devIncidents(); len(incs) != 1 {
		t.Fatalf("after both collectors reported the failure for 4 s: %+v, want one incident", incs)
	}

	// col-2 dies without a word.
	col2.Kill()

	var silentInc incidentNode
	took := testkit.Eventually(t, 30*time.Second, func() error {
		cols, err := listCollectors(g)
		if err != nil {
			return err
		}
		var rec collectorNode
		for _, c := range cols {
			if c.Name == "col-2" {
				rec = c
			} else if c.Status != "OPERATIONAL" {
				return fmt.Errorf("%s is %s", c.Name, c.Status)
			}
		}
		if rec.Status != "DOWN" {
			return fmt.Errorf("col-2's record is %q", rec.Status)
		}
		incs, err := listIncidents(g)
		if err != nil {
			return err
		}
		n := 0
		for _, i := range incs {
			if i.Condition == "collector.silent" {
				n++
				silentInc = i
				if i.Asset.ID != rec.ID || i.State != "OPEN" {
					return fmt.Errorf("collector incident %+v", i)
				}
			}
		}
		if n != 1 {
			return fmt.Errorf("%d collector.silent incidents", n)
		}
		if err := refresh(); err != nil {
			return err
		}
		if s := byName["ward-mon-5"].Status; s != "UNKNOWN" {
			return fmt.Errorf("ward-mon-5 (watched by col-2 only) is %s", s)
		}
		return nil
	})
	t.Logf("col-2 silent (incident %s, %s) and its own device UNKNOWN %s after the kill", silentInc.Number, silentInc.Priority, took.Round(time.Millisecond))
	if s := byName["ward-mon-1"].Status; s != "OPERATIONAL" {
		t.Errorf("ward-mon-1, still watched by col-1, is %s", s)
	}
	if s := byName["ward-mon-2"].Status; s != "DOWN" {
		t.Errorf("ward-mon-2, still reported down by col-1, is %s", s)
	}
	if incs, _ := devIncidents(); len(incs) != 1 {
		t.Errorf("device incidents after the collector died: %+v, want still the one", incs)
	}
	for _, h := range byName["ward-mon-5"].History {
		if h.Field == "status" && h.After == "DOWN" {
			t.Errorf("ward-mon-5 went DOWN: %+v", h)
		}
	}

	// col-2 comes back: heard again, its incident resolves, its device is known again.
	startCollector(t, col2cfg)
	took = testkit.Eventually(t, 20*time.Second, func() error {
		incs, err := listIncidents(g)
		if err != nil {
			return err
		}
		for _, i := range incs {
			if i.ID == silentInc.ID && i.State != "RESOLVED" {
				return fmt.Errorf("collector incident %s", i.State)
			}
		}
		if err := refresh(); err != nil {
			return err
		}
		if s := byName["ward-mon-5"].Status; s != "OPERATIONAL" {
			return fmt.Errorf("ward-mon-5 is %s", s)
		}
		return nil
	})
	t.Logf("col-2 back: incident resolved and its device known again after %s", took.Round(time.Millisecond))
}
