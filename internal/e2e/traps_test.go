package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// reportProxy sits between the collector and the cmdb. It keeps the reports that
// carried traps, and can lose the cmdb's answer to one (the cmdb applied the batch,
// the collector never hears it), which makes the collector send the same batch again.
type reportProxy struct {
	t      *testing.T
	target string
	srv    *http.Server
	url    string

	mu       sync.Mutex
	trapped  [][]byte // bodies of reports with traps
	loseNext bool     // lose the answer to the next report with traps
	lost     int      // observations in the reports whose answer was lost
}

func startReportProxy(t *testing.T, target string) *reportProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &reportProxy{t: t, target: target, url: "http://" + l.Addr().String() + "/graphql"}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *reportProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, p.target, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	traps := bytes.Contains(body, []byte(`"source":"SNMP_TRAP"`))
	p.mu.Lock()
	lose := traps && p.loseNext && resp.StatusCode == http.StatusOK
	if lose {
		p.loseNext = false
		p.lost += len(observationsIn(p.t, body))
	} else if traps {
		p.trapped = append(p.trapped, body)
	}
	p.mu.Unlock()
	if lose {
		http.Error(w, "answer lost on the way", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

// observationsIn returns the observations of a reportObservations request.
func observationsIn(t *testing.T, body []byte) []map[string]any {
	var req struct {
		Variables struct {
			Batch struct {
				Observations []map[string]any `json:"observations"`
			} `json:"batch"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("report body: %v", err)
	}
	return req.Variables.Batch.Observations
}

// sendTraps sends n v2c enterprise traps (snmp.trap events) 1.3.6.1.4.1.99999.<set>.i
// from src, three back to back every 50 ms.
func sendTraps(t *testing.T, src string, dst string, set, n int) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range n {
		b, err := (&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: uint32(i + 1),
			Variables: []gosnmp.SnmpPDU{
				{Name: "1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100 + i)},
				{Name: "1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: fmt.Sprintf("1.3.6.1.4.1.99999.%d.%d", set, i)},
			}}).MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestTrapBurstReachesHistoryOnce is issue 16 item 4's proof, through the real
// collector and cmdb binaries and real UDP. A device answering SNMP (polled every
// second, so polls interleave with its traps) sends 300 distinct traps, three back to
// back every 50 ms:
//   - every one of them is in the asset's history, and the cmdb counted no duplicate;
//   - the same reports sent again are all counted duplicates and change nothing;
//   - when the cmdb's answer to a report is lost, the collector sends the batch again:
//     those observations, and only those, are counted duplicates, the traps applied once.
func TestTrapBurstReachesHistoryOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	lo := testkit.LoopbackNet()
	dev := lo + "51"
	port := testkit.FreeUDPPort(t, dev)
	testkit.StartSNMPD(t, testkit.Agent{Addr: dev, Port: port, SysName: "ups-burst",
		SysDescr: "Burst test UPS firmware 1.0", SysObjectID: "1.3.6.1.4.1.99999.1.51"})
	_, g := startCMDB(t, t.TempDir())
	cmdbURL := strings.TrimSuffix(g.URL, "/graphql")
	proxy := startReportProxy(t, g.URL)
	trapAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreeUDPPort(t, "127.0.0.1"))
	cfg := strings.Replace(collectorConfig("burst-collector", "e2e", proxy.url, g.Token, port, lo+"48/29"),
		"refresh_interval: 1s\n", fmt.Sprintf("refresh_interval: 1s\nspool_dir: %s\ntraps: {listen: %q}\n", filepath.Join(t.TempDir(), "spool"), trapAddr), 1)
	col := startCollector(t, cfg)
	colMetrics := "http://" + col.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 30*time.Second) + "/metrics"

	var assetID string
	testkit.Eventually(t, 60*time.Second, func() error {
		list, err := listAssets(g)
		if err != nil {
			return err
		}
		for _, a := range list {
			if a.Name == "ups-burst" && a.Status == "OPERATIONAL" {
				assetID = a.ID
				return nil
			}
		}
		return fmt.Errorf("ups-burst not OPERATIONAL yet: %d assets", len(list))
	})
	events := func() (map[string]int, error) {
		var out struct {
			Asset struct {
				History []struct{ Field, After string } `json:"history"`
			} `json:"asset"`
		}
		if err := g.Try(`query($id: ID!) { asset(id: $id) { history(first: 500) { field after } } }`, map[string]any{"id": assetID}, &out); err != nil {
			return nil, err
		}
		n := map[string]int{}
		for _, h := range out.Asset.History {
			if h.Field == "event" {
				n[h.After]++
			}
		}
		return n, nil
	}
	waitEvents := func(want int) {
		t.Helper()
		testkit.Eventually(t, 60*time.Second, func() error {
			n, err := events()
			if err != nil {
				return err
			}
			if n["snmp.trap"] != want {
				return fmt.Errorf("%d trap events in the history, want %d", n["snmp.trap"], want)
			}
			return nil
		})
	}
	cmdbMetric := func(series string) float64 {
		t.Helper()
		m, err := scrapeURL(cmdbURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return m[series]
	}
	const (
		dupSeries   = `medcmdb_observations_applied_total{result="duplicate"}`
		staleSeries = `medcmdb_observations_applied_total{result="stale"}`
		trapSeries  = `medcmdb_observations_received_total{source="SNMP_TRAP"}`
	)

	// The burst.
	start := time.Now()
	sendTraps(t, dev, trapAddr, 0, 300)
	t.Logf("300 traps sent in %.1fs", time.Since(start).Seconds())
	waitEvents(300)
	// Nothing more arrives after the 300 (a late duplicate would show).
	time.Sleep(2 * time.Second)
	waitEvents(300)
	if d := cmdbMetric(dupSeries); d != 0 {
		t.Errorf("the cmdb counted %v duplicates in a burst of distinct traps", d)
	}
	if n := cmdbMetric(trapSeries); n != 300 {
		t.Errorf("the cmdb received %v trap observations, want 300", n)
	}
	t.Logf("burst: 300 traps in the history in %.1fs; stale observations (polls overtaken by a trap): %v",
		time.Since(start).Seconds(), cmdbMetric(staleSeries))

	// The same reports again, as a collector replaying them would send them.
	proxy.mu.Lock()
	replays := proxy.trapped
	proxy.mu.Unlock()
	replayed := 0
	for _, body := range replays {
		var res struct {
			ReportObservations struct{ Accepted, Duplicates int } `json:"reportObservations"`
		}
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		g.Query(t, req.Query, req.Variables, &res)
		n := len(observationsIn(t, body))
		if res.ReportObservations.Duplicates != n || res.ReportObservations.Accepted != 0 {
			t.Errorf("replayed report of %d observations: %+v", n, res.ReportObservations)
		}
		replayed += n
	}
	if d := cmdbMetric(dupSeries); d != float64(replayed) {
		t.Errorf("%v duplicates counted after replaying %d observations", d, replayed)
	}
	waitEvents(300)

	// A lost answer: the collector sends the batch again by itself.
	proxy.mu.Lock()
	proxy.loseNext = true
	proxy.mu.Unlock()
	sendTraps(t, dev, trapAddr, 1, 30)
	waitEvents(330)
	time.Sleep(2 * time.Second)
	waitEvents(330)
	proxy.mu.Lock()
	lost, still := proxy.lost, proxy.loseNext
	proxy.mu.Unlock()
	if still || lost == 0 {
		t.Fatalf("no answer was lost (%v, %d)", still, lost)
	}
	if d := cmdbMetric(dupSeries); d != float64(replayed+lost) {
		t.Errorf("%v duplicates after the collector resent a batch of %d: want %d", d, lost, replayed+lost)
	}
	m, err := scrapeURL(colMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if m[`medcmdb_reports_total{result="failure"}`] < 1 || sum(m, "medcmdb_spool_dropped_total") != 0 {
		t.Errorf("collector: %v failed reports, %v dropped", m[`medcmdb_reports_total{result="failure"}`], sum(m, "medcmdb_spool_dropped_total"))
	}
	if n := m[`medcmdb_snmp_traps_total{result="decoded"}`]; n != 330 {
		t.Errorf("collector decoded %v traps, want 330", n)
	}
	t.Logf("lost answer: the collector resent %d observations, counted duplicates", lost)
}
