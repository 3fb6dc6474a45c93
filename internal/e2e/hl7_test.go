package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

const hl7AssetsQuery = `{ assets(first: 100) { totalCount nodes { id name class status manufacturer model serialNumber
  firmwareVersion eui64 sources site location { building floor unit careArea room bed }
  history(first: 200) { at source actor field before after } incidents { id condition state } } } }`

const hl7IncidentsQuery = `{ incidents(first: 100) { totalCount nodes { id number title condition state priority priorityReason
  impact urgency timeline { at kind actor note } asset { id name } } } }`

type hl7Asset struct {
	ID           string `json:"id"`
	Class        string `json:"class"`
	Status       string `json:"status"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serialNumber"`
	Firmware     string `json:"firmwareVersion"`
	EUI64        string `json:"eui64"`
	Location     struct {
		Unit string `json:"unit"`
		Room string `json:"room"`
		Bed  string `json:"bed"`
	} `json:"location"`
	Incidents []struct {
		Condition string `json:"condition"`
		State     string `json:"state"`
	} `json:"incidents"`
}

// TestHL7EndToEndKeepsNoPatientData drives the built collector's MLLP listener with
// device messages full of synthetic patient data and proves that the devices become
// assets with their identity, location and conditions, that heartbeat loss and
// recovery reach the cmdb, and that none of the patient data appears in any API
// answer, the store's files, either process's log (at debug level) or metrics.
func TestHL7EndToEndKeepsNoPatientData(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dataDir := t.TempDir()
	cmdb, g := startCMDB(t, dataDir)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, fmt.Sprintf(`site: e2e
name: e2e-hl7
cmdb:
  url: %s
  token: %s
  flush_interval: 100ms
hl7:
  listen: 127.0.0.1:0
  heartbeat_timeout: 2s
`, g.URL, g.Token))
	col := testkit.Start(t, testkit.Binary(t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0", "--log-level", "debug")
	addr := col.WaitFor(`msg="hl7 listening".* addr=(\S+)`, 30*time.Second)
	metricsAddr := col.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 5*time.Second)

	c, err := mllp.Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pump := hl7test.Pump
	occl := "196940^MDC_EVT_FLUID_LINE_OCCL"
	patient := strings.Join(hl7test.Patient("ICU-3", "301", "B"), "\r")
	for i, m := range [][]byte{
		pump.PCD01("e1"),
		pump.PCD04("e2", occl, "start", "ST"),
		pump.PCD04("e3", "196648^MDC_EVT_HI", "start", "SP"),
		pump.ADT("e4"),
		hl7test.Lines(`MSH|^~\&|PUMP01|W|D|H|2024||ORU^R01|e5|P|2.6`, patient),
		[]byte(patient),
	} {
		b, err := c.Send(context.Background(), m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if a, err := hl7.ReadAck(b); err != nil || a.Code == "" {
			t.Fatalf("message %d: ack %q: %v", i, b, err)
		}
	}

	// The pump becomes an asset with its self-reported identity and bedside location,
	// DEGRADED by its technical alarm.
	var pumpAsset hl7Asset
	findPump := func(want string) func() error {
		return func() error {
			var out struct {
				Assets struct{ Nodes []hl7Asset } `json:"assets"`
			}
			if err := g.Try(hl7AssetsQuery, nil, &out); err != nil {
				return err
			}
			for _, a := range out.Assets.Nodes {
				if a.EUI64 == pump.EUI64 {
					pumpAsset = a
					if a.Status != want {
						return fmt.Errorf("pump is %s, want %s", a.Status, want)
					}
					return nil
				}
			}
			return fmt.Errorf("no asset with EUI-64 %s among %+v", pump.EUI64, out.Assets.Nodes)
		}
	}
	testkit.Eventually(t, 10*time.Second, findPump("DEGRADED"))
	a := pumpAsset
	if a.Class != "INFUSION_PUMP" || a.Manufacturer != pump.Manufacturer || a.Model != pump.Model || a.Serial != pump.Serial ||
		a.Firmware != pump.Firmware || a.Location.Unit != "ICU-3" || a.Location.Room != "301" || a.Location.Bed != "B" {
		t.Errorf("pump asset %+v", a)
	}

	// Silence: heartbeat lost within the 2 s timeout + 2 s, the asset DOWN; then a
	// message brings it back (the technical alarm still stands).
	silent := time.Now()
	testkit.Eventually(t, 15*time.Second, findPump("DOWN"))
	t.Logf("pump DOWN in the API %s after its last message (timeout 2s)", time.Since(silent).Round(100*time.Millisecond))
	if _, err := c.Send(context.Background(), pump.Heartbeat("e6")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, findPump("DEGRADED"))
	if _, err := c.Send(context.Background(), pump.PCD04("e7", occl, "end", "ST")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, findPump("OPERATIONAL"))

	// Everything the API answers, the store holds, the processes logged or export.
	answers := map[string]string{}
	for name, q := range map[string]string{"assets": hl7AssetsQuery, "incidents": hl7IncidentsQuery,
		"asset": fmt.Sprintf(`{ asset(id: %q) { id name class eui64 serialNumber history(first: 500) { field before after source actor } } }`, a.ID)} {
		r, err := g.Do(q, nil)
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: %v %+v", name, err, r)
		}
		answers["API "+name] = string(r.Data)
	}
	if !strings.Contains(answers["API incidents"], "hl7.heartbeat_lost") || !strings.Contains(answers["API incidents"], "device.alarm.technical") {
		t.Errorf("incidents lack the heartbeat loss and the technical alarm:\n%s", answers["API incidents"])
	}
	for name, url := range map[string]string{"cmdb metrics": strings.TrimSuffix(g.URL, "/graphql") + "/metrics",
		"collector metrics": "http://" + metricsAddr + "/metrics"} {
		answers[name] = httpGet(t, url)
	}
	if !strings.Contains(answers["collector metrics"], `medcmdb_hl7_messages_total{ack="CA",type="ORU^R40"} 3`) {
		t.Errorf("collector metrics lack the HL7 counts")
	}
	answers["collector log"] = col.Output()
	answers["cmdb log"] = cmdb.Output()
	for name, text := range answers {
		for _, phi := range hl7test.PHI {
			if strings.Contains(text, phi) {
				t.Errorf("%s contains patient data %q", name, phi)
			}
		}
	}
	// The store's files, byte for byte (stop the cmdb first so everything is flushed).
	if err := col.Stop(); err != nil {
		t.Errorf("collector exit: %v", err)
	}
	if err := cmdb.Stop(); err != nil {
		t.Errorf("cmdb exit: %v", err)
	}
	files := 0
	filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, phi := range hl7test.PHI {
			if strings.Contains(string(b), phi) {
				t.Errorf("store file %s contains patient data %q", p, phi)
			}
		}
		return nil
	})
	if files == 0 {
		t.Fatal("no store files found to check")
	}
	storeHasPump := false
	filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), pump.EUI64) {
				storeHasPump = true
			}
		}
		return nil
	})
	if !storeHasPump {
		t.Fatal("the pump's EUI-64 is in no store file: the byte scan would prove nothing")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
