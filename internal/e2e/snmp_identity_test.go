package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestSNMPOneDeviceOneAsset: one agent answering on two addresses, swept again and
// again, plus a second agent, end to end through the built collector and cmdb: two
// assets, the first with both addresses, its ENTITY-MIB serial and its profile class.
func TestSNMPOneDeviceOneAsset(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	net := testkit.LoopbackNet()
	a, b, other := net+"41", net+"42", net+"45"
	port := testkit.FreeUDPPort(t, a)
	testkit.StartSNMPD(t, testkit.Agent{
		Addr: a, Port: port, SysName: "ups-or-2", SysObjectID: "1.3.6.1.4.1.318.1.1.1.1",
		SysDescr: "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 MN:SMT1500RMI2U)",
		Extra: []string{
			fmt.Sprintf("agentaddress udp:%s:%d", b, port),
			"override .1.3.6.1.2.1.47.1.1.1.1.5.1 integer 3",
			"override .1.3.6.1.2.1.47.1.1.1.1.11.1 octet_str 3A9999X00001",
			"override .1.3.6.1.2.1.47.1.1.1.1.12.1 octet_str APC",
		},
	})
	testkit.StartSNMPD(t, testkit.Agent{Addr: other, Port: port, SysName: "pump-7", SysDescr: "BD Alaris 8015 PC Unit version 12.1.2"})

	dataDir := t.TempDir()
	_, g := startCMDB(t, dataDir)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, fmt.Sprintf(`site: e2e
name: e2e-snmp
cmdb: {url: %s, token: %s}
snmp:
  port: %d
  timeout: 300ms
  retries: 0
  poll_interval: 1s
  discovery_schedule: "@every 3s"
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: %s40/29}]
`, g.URL, g.Token, port, net))
	testkit.Start(t, testkit.Binary(t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0")

	type node struct {
		Name         string   `json:"name"`
		Class        string   `json:"class"`
		SerialNumber string   `json:"serialNumber"`
		IPAddresses  []string `json:"ipAddresses"`
	}
	var list []node
	check := func() error {
		var out struct {
			Assets struct {
				Nodes []node `json:"nodes"`
			} `json:"assets"`
		}
		if err := g.Try(`{ assets(first: 50) { nodes { name class serialNumber ipAddresses } } }`, nil, &out); err != nil {
			return err
		}
		list = out.Assets.Nodes
		if len(list) != 2 {
			return fmt.Errorf("%d assets: %+v", len(list), list)
		}
		for _, n := range list {
			if n.Name == "ups-or-2" {
				ips := slices.Sorted(slices.Values(n.IPAddresses))
				if n.SerialNumber != "3A9999X00001" || n.Class != "UPS" || !slices.Equal(ips, []string{a, b}) {
					return fmt.Errorf("ups asset %+v", n)
				}
			} else if n.Name != "pump-7" || n.Class != "INFUSION_PUMP" {
				return fmt.Errorf("other asset %+v", n)
			}
		}
		return nil
	}
	testkit.Eventually(t, 20*time.Second, check)
	// Three more discovery runs later, still the same two assets.
	time.Sleep(9 * time.Second)
	if err := check(); err != nil {
		t.Fatalf("after more sweeps: %v", err)
	}
}
