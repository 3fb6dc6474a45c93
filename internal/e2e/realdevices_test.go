package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestRealDevices serves every recording of the real-device corpus over UDP with
// snmpsim, each on its own loopback address, lets the real collector discover and
// inventory them into the real cmdb, and scores what the cmdb shows against the
// expectations: per kind and overall, how many are right for class, manufacturer,
// model, serial and firmware, of the devices whose recording carries the value. It
// fails when a figure drops below testdata/realdevices/floor.yaml.
//
//	go test ./internal/e2e -run 'TestRealDevices$' -v                 # prints the table
//	MEDCMDB_CORPUS_REPORT=/tmp/r.md go test ./internal/e2e -run 'TestRealDevices$'
func TestRealDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	start := time.Now()
	devs, err := loadCorpus(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	floor, err := loadFloor(filepath.Join(corpusDir, "floor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sim := startSnmpsim(t, devs)
	simReady := time.Since(start)

	dataDir := t.TempDir()
	_, g := startCMDB(t, dataDir)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, cfg, fmt.Sprintf(`site: realdevices
name: e2e-realdevices
cmdb: {url: %s, token: %s}
snmp:
  port: %d
  timeout: 3s
  retries: 2
  poll_interval: 2s
  discovery_schedule: "@every 1h"
  credentials: [{name: public, version: 2c, community: public}]
  ranges:
%s`, g.URL, g.Token, sim.port, sim.ranges()))
	colBin := testkit.Binary(t, "collector")
	colStart := time.Now()
	col := testkit.Start(t, colBin, "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	metricsURL := "http://" + col.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 30*time.Second) + "/metrics"

	// Every device answered its first poll and had its inventory read (or failed to),
	// and every observation that produced reached the cmdb.
	var inv, failed float64
	testkit.Eventually(t, 90*time.Second, func() error {
		m, err := scrapeURL(metricsURL)
		if err != nil {
			return err
		}
		inv, failed = m[`medcmdb_snmp_inventories_total{result="success"}`], m[`medcmdb_snmp_inventories_total{result="failure"}`]
		if inv+failed < float64(len(devs)) {
			return fmt.Errorf("%v of %d inventories read", inv+failed, len(devs))
		}
		if e, d := sumPrefix(m, "medcmdb_observations_emitted_total"), sumPrefix(m, "medcmdb_observations_delivered_total"); d < e {
			return fmt.Errorf("%v of %v observations delivered", d, e)
		}
		return nil
	})
	inventoried := time.Since(colStart)
	var shown map[string]*shownAsset
	var assets int
	testkit.Eventually(t, 30*time.Second, func() error {
		var out struct {
			Assets struct {
				Nodes []shownAsset `json:"nodes"`
			} `json:"assets"`
		}
		if err := g.Try(`{ assets(first: 100) { nodes { id name class manufacturer model serialNumber
			firmwareVersion softwareVersion sysObjectID ipAddresses } } }`, nil, &out); err != nil {
			return err
		}
		prev := shown
		shown, assets = map[string]*shownAsset{}, len(out.Assets.Nodes)
		for i := range out.Assets.Nodes {
			a := &out.Assets.Nodes[i]
			for _, ip := range a.IPAddresses {
				if id, ok := sim.byAddr[ip]; ok {
					shown[id] = a
				}
			}
		}
		// Two reads a moment apart that agree: the last observations are applied.
		if prev == nil || !sameShown(prev, shown) {
			return fmt.Errorf("%d assets, still changing", assets)
		}
		return nil
	})
	score := scoreCorpus(devs, shown)
	report := fmt.Sprintf("%d recordings, %d assets, %v inventories read (%v failed); snmpsim ready in %s, "+
		"collector start to all inventories delivered %s, %s in all\n\n%s",
		len(devs), assets, inv+failed, failed, simReady.Round(100*time.Millisecond),
		inventoried.Round(100*time.Millisecond), time.Since(start).Round(time.Second), score.markdown())
	t.Log("\n" + report)
	if path := os.Getenv("MEDCMDB_CORPUS_REPORT"); path != "" {
		writeFile(t, path, "# Real-device corpus, "+time.Now().UTC().Format("2006-01-02")+"\n\n"+report+
			"\n### What the CMDB shows (expected in brackets where it differs)\n\n"+shownTable(devs, shown))
	}
	if assets != len(devs) {
		t.Errorf("%d assets for %d recordings: each recording must be one asset", assets, len(devs))
	}
	for _, b := range score.below(floor) {
		t.Error(b)
	}
	if t.Failed() {
		t.Logf("--- snmpsimd output (tail; MEDCMDB_SNMPSIM_LOG=file logs every request) ---\n%s", sim.logTail())
	}
}

func sameShown(a, b map[string]*shownAsset) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y := b[id]
		if y == nil || x.ID != y.ID || x.Class != y.Class || x.Manufacturer != y.Manufacturer || x.Model != y.Model ||
			x.SerialNumber != y.SerialNumber || x.FirmwareVersion != y.FirmwareVersion {
			return false
		}
	}
	return true
}

// snmpsim is a running snmpsimd serving the corpus.
type snmpsim struct {
	addrs   []netip.Addr // consecutive, one per recording
	port    int
	byAddr  map[string]string // address -> device id
	logPath string
}

// ranges covers exactly the served addresses, so the sweep waits on no silent address
// (a timeout each) and a generous timeout costs nothing. Blocks are /31 or /32: the
// sweep skips the network and broadcast addresses of anything wider.
func (s *snmpsim) ranges() string {
	var b strings.Builder
	first, last := s.addrs[0], s.addrs[len(s.addrs)-1]
	for a := first; a.IsValid() && a.Compare(last) <= 0; {
		// A /31 where it starts at a and ends no later than last, else a /32.
		bits := 32
		for bits > 31 {
			p := netip.PrefixFrom(a, bits-1).Masked()
			if p.Addr() != a || lastOf(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(a, bits)
		fmt.Fprintf(&b, "    - cidr: %s\n      credentials: [public]\n", p)
		a = lastOf(p).Next()
	}
	return b.String()
}

// lastOf is the last address of an IPv4 prefix.
func lastOf(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (s *snmpsim) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// realDevicesNet is a loopback /24 of its own: LoopbackNet's range (127.100-199)
// and devicesim's (127.10) stay clear, and the pid keeps two test processes apart.
func realDevicesNet() string {
	return fmt.Sprintf("127.20.%d.", os.Getpid()%250+1)
}

// startSnmpsim serves each recording on its own address: snmpsim 0.4.5 picks the
// data file "<community>/<transport domain>" for a request, and the transport domain
// of the i-th --agent-udpv4-endpoint is 1.3.6.1.6.1.1.<i>, so the recording copied to
// public/1.3.6.1.6.1.1.<i>.snmprec answers community "public" on endpoint i only.
func startSnmpsim(t *testing.T, devs []corpusDevice) *snmpsim {
	t.Helper()
	bin := testkit.RequireTool(t, "snmpsimd")
	if len(devs) > 250 {
		t.Fatalf("%d recordings do not fit a /24", len(devs))
	}
	net := realDevicesNet()
	sim := &snmpsim{byAddr: map[string]string{}}
	sim.port = testkit.FreeUDPPort(t, net+"1")

	// snmpsimd refuses to run as root and drops to another user before it reads its
	// data, so the files live in a directory that user can read.
	dir, err := os.MkdirTemp("", "medcmdb-snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, cache := filepath.Join(dir, "data", "public"), filepath.Join(dir, "cache")
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "data"), data} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(cache, 0o777); err != nil {
		t.Fatal(err)
	}
	args := []string{"--v2c-arch", "--data-dir=" + filepath.Join(dir, "data"), "--cache-dir=" + cache,
		"--logging-method=" + snmpsimLogging()}
	for i, d := range devs {
		raw, err := os.ReadFile(filepath.Join(corpusDir, d.Recording))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("1.3.6.1.6.1.1.%d.snmprec", i)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		addr := net + strconv.Itoa(2+i)
		sim.byAddr[addr] = d.ID
		sim.addrs = append(sim.addrs, netip.MustParseAddr(addr))
		args = append(args, fmt.Sprintf("--agent-udpv4-endpoint=%s:%d", addr, sim.port))
	}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group="+nobodyGroup())
	}
	sim.logPath = filepath.Join(dir, "snmpsimd.out")
	cmd := exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(dir, "snmpsimd.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting snmpsimd: %v", err)
	}
	out.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// Ready when every endpoint answers with its own recording.
	deadline := time.Now().Add(60 * time.Second)
	for addr, id := range sim.byAddr {
		for {
			select {
			case <-exited:
				t.Fatalf("snmpsimd exited:\n%s", sim.logTail())
			default:
			}
			if err := answers(addr, sim.port); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("snmpsimd: %s (%s) not answering: %v\n%s", addr, id, err, sim.logTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return sim
}

// snmpsimLogging is where snmpsimd logs: nowhere by default (logging every request
// doubles the run time), or the file MEDCMDB_SNMPSIM_LOG names, to debug a run.
func snmpsimLogging() string {
	if p := os.Getenv("MEDCMDB_SNMPSIM_LOG"); p != "" {
		return "file:" + p
	}
	return "null"
}

func nobodyGroup() string {
	for _, g := range []string{"nogroup", "nobody"} {
		if _, err := user.LookupGroup(g); err == nil {
			return g
		}
	}
	return "nogroup"
}

// answers sends one GetNext into the system group.
func answers(addr string, port int) error {
	g := &gosnmp.GoSNMP{Target: addr, Port: uint16(port), Community: "public", Version: gosnmp.Version2c,
		Timeout: 500 * time.Millisecond, Retries: 0}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Conn.Close()
	_, err := g.GetNext([]string{"1.3.6.1.2.1.1"})
	return err
}

func sumPrefix(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// TestRealDevicesRanges: the sweep ranges cover the served addresses, no more.
func TestRealDevicesRanges(t *testing.T) {
	s := &snmpsim{}
	for i := 2; i <= 49; i++ {
		s.addrs = append(s.addrs, netip.MustParseAddr("127.20.7."+strconv.Itoa(i)))
	}
	var got []string
	for _, l := range strings.Split(s.ranges(), "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "- cidr: "); ok {
			got = append(got, c)
		}
	}
	if len(got) != 24 || got[0] != "127.20.7.2/31" || got[23] != "127.20.7.48/31" {
		t.Errorf("ranges %v, want the 24 /31 from .2 to .49", got)
	}
	s.addrs = s.addrs[1:]
	if r := s.ranges(); !strings.HasPrefix(r, "    - cidr: 127.20.7.3/32\n") || !strings.Contains(r, "127.20.7.48/31") {
		t.Errorf("from .3: %s", r)
	}
}
