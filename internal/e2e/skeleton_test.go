package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

type assetNode struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	SysDescr    string   `json:"sysDescr"`
	SysObjectID string   `json:"sysObjectID"`
	IPAddresses []string `json:"ipAddresses"`
	History     []struct {
		Field  string `json:"field"`
		Before string `json:"before"`
		After  string `json:"after"`
		Source string `json:"source"`
	} `json:"history"`
}

type incidentNode struct {
	ID        string `json:"id"`
	Number    string `json:"number"`
	State     string `json:"state"`
	Condition string `json:"condition"`
	Priority  string `json:"priority"`
	Reason    string `json:"priorityReason"`
	Asset     struct {
		ID string `json:"id"`
	} `json:"asset"`
}

const assetsQuery = `{ assets(first: 100) { totalCount nodes { id name status sysDescr sysObjectID ipAddresses
  history(first: 200) { field before after source } } } }`

const incidentsQuery = `{ incidents(first: 100) { totalCount nodes { id number state condition priority priorityReason asset { id } } } }`

func listAssets(g *testkit.GraphQL) ([]assetNode, error) {
	var out struct {
		Assets struct {
			TotalCount int         `json:"totalCount"`
			Nodes      []assetNode `json:"nodes"`
		} `json:"assets"`
	}
	if err := g.Try(assetsQuery, nil, &out); err != nil {
		return nil, err
	}
	if out.Assets.TotalCount != len(out.Assets.Nodes) {
		return nil, fmt.Errorf("totalCount %d but %d nodes", out.Assets.TotalCount, len(out.Assets.Nodes))
	}
	return out.Assets.Nodes, nil
}

func listIncidents(g *testkit.GraphQL) ([]incidentNode, error) {
	var out struct {
		Incidents struct {
			Nodes []incidentNode `json:"nodes"`
		} `json:"incidents"`
	}
	err := g.Try(incidentsQuery, nil, &out)
	return out.Incidents.Nodes, err
}

// startCMDB runs cmdb serve on a data dir and returns it with a client.
func startCMDB(t *testing.T, dataDir string) (*testkit.Proc, *testkit.GraphQL) {
	t.Helper()
	p := testkit.Start(t, testkit.Binary(t, "cmdb"), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	url := p.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return p, &testkit.GraphQL{URL: url + "/graphql", Token: strings.TrimSpace(string(token))}
}

// TestWalkingSkeleton is issue 2's acceptance: three real snmpd agents discovered,
// one killed and revived, incidents opened once and resolved, all surviving a restart.
func TestWalkingSkeleton(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	start := time.Now()
	net := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, net+"1")
	agents := make([]*testkit.SNMPD, 3)
	for i := range agents {
		agents[i] = testkit.StartSNMPD(t, testkit.Agent{
			Addr: fmt.Sprintf("%s%d", net, i+1), Port: port,
			SysName:     fmt.Sprintf("icu-dev-%d", i+1),
			SysDescr:    fmt.Sprintf("Test device model %d firmware 1.%d", i+1, i),
			SysObjectID: fmt.Sprintf("1.3.6.1.4.1.99999.1.%d", i+1),
		})
	}

	dataDir := t.TempDir()
	cmdb, g := startCMDB(t, dataDir)

	// Unauthenticated requests are refused with UNAUTHENTICATED.
	anon := &testkit.GraphQL{URL: g.URL}
	r, err := anon.Do(`{ assets { totalCount } }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code() != "UNAUTHENTICATED" || r.Status != 401 {
		t.Fatalf("anonymous query: status %d code %q, want 401 UNAUTHENTICATED", r.Status, r.Code())
	}

	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, fmt.Sprintf(`site: e2e
name: e2e-collector
cmdb:
  url: %s
  token: %s
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
    - cidr: %s0/29
      credentials: [public-v2]
      location: {building: "Tower A", floor: "3", unit: "ICU-3", care_area: ICU}
`, g.URL, g.Token, port, net))
	collector := testkit.Start(t, testkit.Binary(t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	metricsAddr := collector.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 30*time.Second)

	// Within 10 s: exactly the three devices, with their system group and address.
	byName := map[string]assetNode{}
	took := testkit.Eventually(t, 10*time.Second, func() error {
		list, err := listAssets(g)
		if err != nil {
			return err
		}
		if len(list) != 3 {
			return fmt.Errorf("%d assets, want 3", len(list))
		}
		clear(byName)
		for _, a := range list {
			if a.Status != "OPERATIONAL" {
				return fmt.Errorf("%s is %s", a.Name, a.Status)
			}
			byName[a.Name] = a
		}
		return nil
	})
	t.Logf("three devices discovered and OPERATIONAL after %s", took.Round(time.Millisecond))
	for i := range agents {
		name := fmt.Sprintf("icu-dev-%d", i+1)
		a, ok := byName[name]
		if !ok {
			t.Fatalf("no asset named %s in %v", name, byName)
		}
		if a.SysDescr != agents[i].Agent.SysDescr || a.SysObjectID != agents[i].Agent.SysObjectID {
			t.Errorf("%s: sysDescr %q sysObjectID %q", name, a.SysDescr, a.SysObjectID)
		}
		if len(a.IPAddresses) != 1 || a.IPAddresses[0] != agents[i].Agent.Addr {
			t.Errorf("%s: ipAddresses %v, want [%s]", name, a.IPAddresses, agents[i].Agent.Addr)
		}
	}
	victim := byName["icu-dev-2"]

	// One agent dies: within 5 s one OPEN snmp.unreachable incident and the asset DOWN.
	agents[1].Stop()
	took = testkit.Eventually(t, 5*time.Second, func() error {
		incs, err := listIncidents(g)
		if err != nil {
			return err
		}
		if len(incs) != 1 || incs[0].State != "OPEN" || incs[0].Condition != "snmp.unreachable" || incs[0].Asset.ID != victim.ID {
			return fmt.Errorf("incidents %+v", incs)
		}
		list, err := listAssets(g)
		if err != nil {
			return err
		}
		for _, a := range list {
			if a.ID == victim.ID && a.Status != "DOWN" {
				return fmt.Errorf("victim is %s", a.Status)
			}
		}
		return nil
	})
	t.Logf("incident open and asset DOWN %s after the kill", took.Round(time.Millisecond))

	// The collector's per-device gauge names the device by its cmdb asset id.
	testkit.Eventually(t, 5*time.Second, func() error {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		want := fmt.Sprintf(`medcmdb_device_up{asset_id=%q,care_area="ICU",class="OTHER",site="e2e"} 0`, victim.ID)
		if !strings.Contains(string(body), want) {
			return fmt.Errorf("collector metrics lack %s", want)
		}
		return nil
	})

	// Ten more seconds of failed polls: still exactly one incident, with its reason.
	time.Sleep(10 * time.Second)
	incs, err := listIncidents(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].State != "OPEN" {
		t.Fatalf("after 10 s of failures: %+v, want exactly one OPEN incident", incs)
	}
	if incs[0].Priority == "" || incs[0].Reason == "" {
		t.Errorf("incident without priority or reason: %+v", incs[0])
	}

	// The agent comes back: incident RESOLVED, asset OPERATIONAL, history shows it.
	agents[1].Start()
	testkit.Eventually(t, 10*time.Second, func() error {
		incs, err := listIncidents(g)
		if err != nil {
			return err
		}
		if len(incs) != 1 || incs[0].State != "RESOLVED" {
			return fmt.Errorf("incidents %+v", incs)
		}
		list, err := listAssets(g)
		if err != nil {
			return err
		}
		for _, a := range list {
			if a.ID == victim.ID && a.Status != "OPERATIONAL" {
				return fmt.Errorf("victim is %s", a.Status)
			}
		}
		return nil
	})
	list, err := listAssets(g)
	if err != nil {
		t.Fatal(err)
	}
	statusTrail := func(list []assetNode) string {
		for _, a := range list {
			if a.ID != victim.ID {
				continue
			}
			var trail []string
			for i := len(a.History) - 1; i >= 0; i-- {
				if h := a.History[i]; h.Field == "status" {
					trail = append(trail, h.Before+">"+h.After)
				}
			}
			return strings.Join(trail, ",")
		}
		return ""
	}
	const wantTrail = "UNKNOWN>OPERATIONAL,OPERATIONAL>DOWN,DOWN>OPERATIONAL"
	if got := statusTrail(list); got != wantTrail {
		t.Fatalf("status history %q, want %q", got, wantTrail)
	}

	// The cmdb restarts on the same data dir: everything is still there.
	if err := collector.Stop(); err != nil {
		t.Errorf("collector exit: %v", err)
	}
	if err := cmdb.Stop(); err != nil {
		t.Fatalf("cmdb exit: %v", err)
	}
	_, g2 := startCMDB(t, dataDir)
	list2, err := listAssets(g2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list2) != 3 || statusTrail(list2) != wantTrail {
		t.Fatalf("after restart: %d assets, status history %q", len(list2), statusTrail(list2))
	}
	incs2, err := listIncidents(g2)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs2) != 1 || incs2[0].ID != incs[0].ID || incs2[0].State != "RESOLVED" {
		t.Fatalf("after restart: incidents %+v", incs2)
	}
	t.Logf("end-to-end test body took %s", time.Since(start).Round(time.Millisecond))
}

// TestCollectorRejectsInvalidConfig: one clear line naming the problem, non-zero exit.
func TestCollectorRejectsInvalidConfig(t *testing.T) {
	bin := testkit.Binary(t, "collector")
	cases := []struct {
		name, config, want string
	}{
		{"unknown key", "site: a\ncmdb: {url: http://127.0.0.1:1/graphql, token: x}\nsnmp: {pol_interval: 1s}\n", "field pol_interval not found"},
		{"bad cidr", "site: a\ncmdb: {url: http://127.0.0.1:1/graphql, token: x}\nsnmp:\n  credentials: [{name: p, version: 2c, community: public}]\n  ranges: [{cidr: 10.0.0.300/24}]\n", `snmp.ranges[0].cidr: "10.0.0.300/24" is not a CIDR`},
		{"no site", "cmdb: {url: http://127.0.0.1:1/graphql, token: x}\n", "site: is required"},
		{"bad duration", "site: a\ncmdb: {url: http://127.0.0.1:1/graphql, token: x}\nsnmp: {poll_interval: often}\n", "poll_interval"},
		{"unknown credential", "site: a\ncmdb: {url: http://127.0.0.1:1/graphql, token: x}\nsnmp:\n  credentials: [{name: p, version: 2c, community: public}]\n  ranges: [{cidr: 10.0.0.0/24, credentials: [nope]}]\n", `unknown credential "nope"`},
		{"not yaml", "site: [unclosed\n", "decoding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			writeFile(t, path, c.config)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := testkit.Run(ctx, bin, "--config", path)
			if err == nil {
				t.Fatalf("exit 0 for invalid config; output:\n%s", out)
			}
			if strings.Count(out, "\n") != 0 {
				t.Errorf("want one line, got:\n%s", out)
			}
			if !strings.HasPrefix(out, "collector: ") || !strings.Contains(out, c.want) {
				t.Errorf("output %q does not name the problem (%q)", out, c.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
