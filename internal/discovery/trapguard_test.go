package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// trapSender sends v2c traps over real UDP from one loopback source address.
type trapSender struct {
	t    *testing.T
	conn *net.UDPConn
}

func newTrapSender(t *testing.T, src string, dst net.Addr) *trapSender {
	t.Helper()
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, dst.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &trapSender{t: t, conn: conn}
}

// send sends an enterprise trap oid (an snmp.trap event), with extra varbinds.
func (s *trapSender) send(oid string, extra ...gosnmp.SnmpPDU) {
	s.t.Helper()
	vars := append([]gosnmp.SnmpPDU{
		{Name: "1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(42)},
		{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: oid},
	}, extra...)
	b, err := (&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: 1, Variables: vars}).MarshalMsg()
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.conn.Write(b); err != nil {
		s.t.Fatal(err)
	}
}

func trapsWith(rec *sendRecorder, detail string) int {
	n := 0
	for _, o := range rec.all() {
		if o.Source == observation.SourceSNMPTrap && strings.HasSuffix(o.Detail, detail) {
			n++
		}
	}
	return n
}

// Issue 16 item 7: traps from outside the configured ranges create nothing by default.
// They are counted with their reason and summarised in the log; a sender in range
// speaking for a device outside (snmpTrapAddress) is outside too. accept_from: [any],
// or a CIDR, takes them.
func TestTrapsFromOutsideTheRangesAreIgnored(t *testing.T) {
	lo := testkit.LoopbackNet()
	inside, outside := lo+"5", lo+"77"
	start := func(accept string) (*Collector, *sendRecorder, *lockedBuffer) {
		port := testkit.FreeUDPPort(t, lo+"40")
		return startCollector(t, fmt.Sprintf(`
traps:
  listen: %s40:%d
%s
snmp:
  timeout: 100ms
  discovery_schedule: "@every 100h"
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: %s0/28}]
`, lo, port, accept, lo))
	}
	c, rec, logs := start("")
	in := newTrapSender(t, inside, c.Traps().Addr())
	out := newTrapSender(t, outside, c.Traps().Addr())
	out.send("1.3.6.1.4.1.99999.0.2")
	in.send("1.3.6.1.4.1.99999.0.3", gosnmp.SnmpPDU{Name: oidSnmpTrapAddress, Type: gosnmp.IPAddress, Value: outside})
	out.send("1.3.6.1.4.1.99999.0.4")
	in.send("1.3.6.1.4.1.99999.0.1")
	rec.waitFor(t, 5*time.Second, "trap from inside the range", func(o observation.Observation) bool {
		return o.Source == observation.SourceSNMPTrap && strings.HasSuffix(o.Detail, "99999.0.1") && o.Address.IP == inside
	})
	testkit.Eventually(t, 5*time.Second, func() error {
		if n := testutil.ToFloat64(c.metrics.trapsIgnored.WithLabelValues(ignoredOutOfRange)); n != 3 {
			return fmt.Errorf("%v traps counted out_of_range, want 3", n)
		}
		return nil
	})
	for _, d := range []string{"99999.0.2", "99999.0.3", "99999.0.4"} {
		if n := trapsWith(rec, d); n != 0 {
			t.Errorf("trap %s from outside became %d observations", d, n)
		}
	}
	m := c.metrics
	received, decoded := testutil.ToFloat64(m.traps.WithLabelValues("received")), testutil.ToFloat64(m.traps.WithLabelValues("decoded"))
	if received != 4 || decoded != 1 {
		t.Errorf("received %v decoded %v, want 4 and 1", received, decoded)
	}
	// The first ignored trap is logged at once, the others summed up later.
	lines := strings.Count(logs.String(), "trap from outside the accepted addresses ignored")
	if lines != 1 || !strings.Contains(logs.String(), "from="+outside) {
		t.Errorf("%d log lines about ignored traps:\n%s", lines, logs.String())
	}

	for _, accept := range []string{"  accept_from: [any]", "  accept_from: [ranges, " + outside + "/32]"} {
		c, rec, _ := start(accept)
		newTrapSender(t, outside, c.Traps().Addr()).send("1.3.6.1.4.1.99999.0.9")
		rec.waitFor(t, 5*time.Second, "trap from outside with "+accept, func(o observation.Observation) bool {
			return strings.HasSuffix(o.Detail, "99999.0.9") && o.Address.IP == outside
		})
	}
}

// Issue 16 item 7: each sender gets per_source_burst traps, then per_source_rate per
// second; what is over is counted and summarised, never queued; other senders are not
// affected. Every trap sent is either an observation or counted as rate limited.
func TestTrapRateLimitPerSource(t *testing.T) {
	lo := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, lo+"41")
	c, rec, logs := startCollector(t, fmt.Sprintf(`
traps:
  listen: %s41:%d
  per_source_rate: 1
  per_source_burst: 5
snmp:
  discovery_schedule: "@every 100h"
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: %s0/28}]
`, lo, port, lo))
	noisy := newTrapSender(t, lo+"6", c.Traps().Addr())
	quiet := newTrapSender(t, lo+"7", c.Traps().Addr())
	for i := range 40 {
		noisy.send(fmt.Sprintf("1.3.6.1.4.1.99999.1.%d", i))
	}
	for i := range 3 {
		quiet.send(fmt.Sprintf("1.3.6.1.4.1.99999.2.%d", i))
	}
	var fromNoisy, limited float64
	testkit.Eventually(t, 5*time.Second, func() error {
		fromNoisy = float64(trapsWith(rec, ""))
		limited = testutil.ToFloat64(c.metrics.trapsIgnored.WithLabelValues(ignoredRateLimited))
		if fromNoisy+limited != 43 {
			return fmt.Errorf("%v observations + %v rate limited, want 43 traps", fromNoisy, limited)
		}
		return nil
	})
	fromQuiet := 0
	for _, o := range rec.all() {
		if o.Address.IP == lo+"7" {
			fromQuiet++
		}
	}
	// 5 of the burst, and one more per second the 40 took to send.
	if fromQuiet != 3 || fromNoisy-3 < 5 || fromNoisy-3 > 7 {
		t.Errorf("taken: %v from the noisy sender, %d from the quiet one; want 5..7 and 3", fromNoisy-3, fromQuiet)
	}
	if !strings.Contains(logs.String(), "trap over its sender's rate limit ignored") {
		t.Errorf("no log line about rate limited traps:\n%s", logs.String())
	}
}

// One sender's traps are emitted in the order they arrived, though decoding runs on
// several goroutines.
func TestTrapsOfOneSenderKeepTheirOrder(t *testing.T) {
	lo := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, lo+"42")
	c, rec, _ := startCollector(t, fmt.Sprintf(`
traps:
  listen: %s42:%d
snmp:
  discovery_schedule: "@every 100h"
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: %s0/28}]
`, lo, port, lo))
	senders := []*trapSender{newTrapSender(t, lo+"8", c.Traps().Addr()), newTrapSender(t, lo+"9", c.Traps().Addr())}
	const n = 300
	for i := range n {
		for k, s := range senders {
			s.send(fmt.Sprintf("1.3.6.1.4.1.99999.%d.%d", k, i))
		}
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if got := trapsWith(rec, ""); got != 2*n {
			return fmt.Errorf("%d of %d traps", got, 2*n)
		}
		return nil
	})
	next := map[string]int{}
	for _, o := range rec.all() {
		var k, i int
		if _, err := fmt.Sscanf(o.Detail, "trap 1.3.6.1.4.1.99999.%d.%d", &k, &i); err != nil {
			t.Fatalf("detail %q: %v", o.Detail, err)
		}
		if i != next[o.Address.IP] {
			t.Fatalf("%s: trap %d emitted when %d was due", o.Address.IP, i, next[o.Address.IP])
		}
		next[o.Address.IP]++
	}
}

func TestSourceLimiter(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	l := newSourceLimiter(2, 3, 2)
	take := func(src netip.Addr, at time.Duration, n int) int {
		ok := 0
		for range n {
			if l.allow(src, t0.Add(at)) {
				ok++
			}
		}
		return ok
	}
	for _, tc := range []struct {
		src  netip.Addr
		at   time.Duration
		n    int
		want int
	}{
		{a, 0, 10, 3},                     // the burst
		{a, 500 * time.Millisecond, 5, 1}, // 2/s
		{b, 500 * time.Millisecond, 5, 3}, // another sender has its own
		{c, 600 * time.Millisecond, 5, 3}, // table full: the shared bucket
		{c, 700 * time.Millisecond, 5, 0}, // ... which is empty now
		{a, 3 * time.Second, 10, 3},       // refilled, never above the burst
		{c, 5 * time.Second, 1, 1},        // idle sources swept: c gets a bucket
	} {
		if got := take(tc.src, tc.at, tc.n); got != tc.want {
			t.Errorf("%s at %s: %d of %d allowed, want %d", tc.src, tc.at, got, tc.n, tc.want)
		}
	}
	if len(l.m) > 2 {
		t.Errorf("table holds %d sources, max 2", len(l.m))
	}
	if newSourceLimiter(0, 0, 1).allow(a, t0) != true {
		t.Error("a zero rate must mean no limit")
	}
}

func TestTrapConfigValidation(t *testing.T) {
	base := "site: s\nname: c\ncmdb: {url: 'http://127.0.0.1:1/graphql', token: x}\nsnmp: {credentials: [{name: v2, version: 2c, community: public}]}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"traps: {listen: ':0', accept_from: []}", "traps.accept_from: empty"},
		{"traps: {listen: ':0', accept_from: [any, ranges]}", `traps.accept_from[0]: "any" accepts every address`},
		{"traps: {listen: ':0', accept_from: [10.0.0.0/33]}", `traps.accept_from[0]: "10.0.0.0/33" is not`},
		{"traps: {listen: ':0', accept_from: [everywhere]}", `"everywhere" is not`},
		{"traps: {listen: ':0', per_source_rate: -1}", "traps.per_source_rate: -1 is outside"},
		{"traps: {listen: ':0', per_source_burst: 0}", "traps.per_source_burst: 0 is outside"},
		{"traps: {listen: ':0', max_sources: 0}", "traps.max_sources: 0 is outside"},
		{"traps: {listen: ':0', per_source_rate: 0, per_source_burst: 0, accept_from: [ranges, 10.1.0.0/16, 'fd00::/8']}", ""},
	} {
		_, err := ParseConfig([]byte(base + tc.yaml))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
