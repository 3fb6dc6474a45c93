package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

type demoIncident struct {
	Number    string `json:"number"`
	State     string `json:"state"`
	Condition string `json:"condition"`
	Priority  string `json:"priority"`
	Asset     struct {
		Name        string   `json:"name"`
		IPAddresses []string `json:"ipAddresses"`
	} `json:"asset"`
}

type simEvent struct {
	Event struct {
		Action string `json:"action"`
		Note   string `json:"note"`
	} `json:"event"`
	Device string `json:"device"`
	IP     string `json:"ip"`
}

type simDevice struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	Unit string `json:"unit"`
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// TestDemo is issue 3's acceptance: `cmdb demo --devices 200` runs headless through
// its default scenario (compressed), devices appear over GraphQL, and the scripted
// failures become incidents of more than one priority, including every device of the
// unit whose switch fails; Ctrl-C (SIGTERM here) stops it cleanly.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const scale = 0.4
	p := testkit.Start(t, testkit.Binary(t, "cmdb"), "demo", "--devices", "200", "--listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--time-scale", fmt.Sprint(scale), "--poll-interval", "2s")
	gqlURL := p.WaitFor(`graphql:\s+(http://\S+)`, 60*time.Second)
	token := p.WaitFor(`token:\s+(\S+)`, time.Second)
	control := strings.TrimSuffix(p.WaitFor(`simulator:\s+(http://\S+)`, time.Second), "/devices")
	g := &testkit.GraphQL{URL: gqlURL, Token: token}
	start := time.Now()

	// Every simulated device is discovered before the first failure (at 20 s × scale).
	testkit.Eventually(t, 15*time.Second, func() error {
		var out struct {
			Assets struct{ TotalCount int } `json:"assets"`
		}
		if err := g.Try(`{ assets { totalCount } }`, nil, &out); err != nil {
			return err
		}
		if out.Assets.TotalCount < 200 {
			return fmt.Errorf("%d assets, want 200", out.Assets.TotalCount)
		}
		return nil
	})
	t.Logf("200 devices discovered after %s", time.Since(start).Round(time.Millisecond))

	// Wait for the scenario's switch outage and HL7 gateway outage to have happened.
	var events []simEvent
	down := func(action string) []simEvent {
		var out []simEvent
		for _, e := range events {
			// Flap transitions are too short for the collector's down_after, by design.
			if e.Event.Action == action && e.Device != "" && !strings.HasPrefix(e.Event.Note, "flap") {
				out = append(out, e)
			}
		}
		return out
	}
	testkit.Eventually(t, 60*time.Second, func() error {
		if err := getJSON(control+"/events", &events); err != nil {
			return err
		}
		for _, e := range events {
			if strings.Contains(e.Device, "hl7gw") && e.Event.Action == "down" {
				return nil
			}
		}
		return fmt.Errorf("%d events so far, no HL7 gateway outage yet", len(events))
	})
	var sw simDevice
	for _, e := range down("down") {
		if strings.Contains(e.Device, "-sw") {
			if err := getJSON(control+"/devices/"+e.Device, &sw); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sw.Name == "" {
		t.Fatalf("the scenario took no switch down: %+v", events)
	}
	var unit []simDevice
	if err := getJSON(control+"/devices?unit="+sw.Unit, &unit); err != nil {
		t.Fatal(err)
	}

	// Every device the scenario switched off, and every device of the switch's unit,
	// got an snmp.unreachable incident; priorities differ between them. The ward
	// printer's incident waits out its class hold (2 min, scaled like the scenario).
	var incidents []demoIncident
	byIP := map[string][]demoIncident{}
	testkit.Eventually(t, 60*time.Second, func() error {
		var out struct {
			Incidents struct {
				Nodes []demoIncident `json:"nodes"`
			} `json:"incidents"`
		}
		if err := g.Try(`{ incidents(first: 500) { nodes { number state condition priority asset { name ipAddresses } } } }`, nil, &out); err != nil {
			return err
		}
		incidents = out.Incidents.Nodes
		clear(byIP)
		for _, i := range incidents {
			for _, ip := range i.Asset.IPAddresses {
				byIP[ip] = append(byIP[ip], i)
			}
		}
		for _, e := range down("down") {
			if !hasCondition(byIP[e.IP], "snmp.unreachable") {
				return fmt.Errorf("no snmp.unreachable incident for %s (%s) switched off by the scenario", e.Device, e.IP)
			}
		}
		missing := 0
		for _, d := range unit {
			if !hasCondition(byIP[d.IP], "snmp.unreachable") {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d devices of %s have no incident for the switch outage", missing, len(unit), sw.Unit)
		}
		return nil
	})
	prios := map[string]int{}
	for _, i := range incidents {
		prios[i.Priority]++
	}
	if len(prios) < 2 {
		t.Fatalf("incidents of one priority only: %v", prios)
	}
	t.Logf("%d incidents by priority %v; the %s outage opened %d", len(incidents), prios, sw.Unit, len(unit))

	// The switch comes back (its outage lasts 50 s × scale): its unit's incidents resolve.
	testkit.Eventually(t, 40*time.Second, func() error {
		var out struct {
			Incidents struct {
				Nodes []demoIncident `json:"nodes"`
			} `json:"incidents"`
		}
		if err := g.Try(`{ incidents(first: 500) { nodes { state condition asset { name ipAddresses } } } }`, nil, &out); err != nil {
			return err
		}
		open := 0
		for _, i := range out.Incidents.Nodes {
			if i.State != "RESOLVED" && slices.ContainsFunc(unit, func(d simDevice) bool { return d.Name == i.Asset.Name }) {
				open++
			}
		}
		if open > 0 {
			return fmt.Errorf("%d incidents of %s still open", open, sw.Unit)
		}
		return nil
	})
	if err := p.Stop(); err != nil {
		t.Fatalf("demo did not stop cleanly: %v", err)
	}
	if !strings.Contains(p.Output(), "demo stopping") {
		t.Fatal("no shutdown log line")
	}
	t.Logf("demo test took %s", time.Since(start).Round(time.Second))
}

func hasCondition(list []demoIncident, c string) bool {
	return slices.ContainsFunc(list, func(i demoIncident) bool { return i.Condition == c })
}
