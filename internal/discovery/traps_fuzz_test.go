package discovery

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// trapSeed marshals a trap as an agent would send it.
func trapSeed(tb testing.TB, p *gosnmp.SnmpPacket) []byte {
	b, err := p.MarshalMsg()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzTrapHandle: any datagram on the trap port is rejected or becomes valid
// observations about a known or unknown device; it never panics the collector.
func FuzzTrapHandle(f *testing.F) {
	cfg, err := ParseConfig([]byte(`site: s
name: c
cmdb: {url: 'http://127.0.0.1:1/graphql', token: x}
traps: {listen: '127.0.0.1:0', accept_from: [any]}
snmp:
  credentials:
    - {name: v2, version: 2c, community: public}
    - {name: v3, version: 3, username: trapper, auth_protocol: SHA, auth_passphrase: trap-auth-pass, priv_protocol: AES, priv_passphrase: trap-priv-pass}
`))
	if err != nil {
		f.Fatal(err)
	}
	em := &nopEmitter{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newCollectorMetrics(nil)
	p := newPoller(cfg, observation.NewIDs("c"), em, m, log)
	p.SetProfiles(MustShippedProfiles())
	p.Add(Found{Target: Target{Host: "10.0.0.2", Port: 161}, Cred: &cfg.SNMP.Credentials[0], Sys: SystemInfo{Name: "ups-1"}})
	tl, err := newTrapListener(cfg, p, em, observation.NewIDs("c"), m, log)
	if err != nil {
		f.Fatal(err)
	}
	defer tl.conn.Close()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel}
	table := gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
	_ = table.Add("trapper", &gosnmp.UsmSecurityParameters{UserName: "trapper", AuthenticationProtocol: gosnmp.SHA,
		AuthenticationPassphrase: "trap-auth-pass", PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "trap-priv-pass"})
	g.SetTrapSecurityParametersTable(table)

	oid := func(name, value string) gosnmp.SnmpPDU {
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.ObjectIdentifier, Value: value}
	}
	for _, vars := range [][]gosnmp.SnmpPDU{
		{oid(oidSnmpTrapOID, oidTrapColdStart)},
		{oid(oidSnmpTrapOID, oidTrapLinkDown), {Name: oidIfIndex + ".3", Type: gosnmp.Integer, Value: 3}},
		{oid(oidSnmpTrapOID, oidUPSTrapOnBatt), {Name: "1.3.6.1.2.1.33.1.2.3.0", Type: gosnmp.Integer, Value: 12}},
		{oid(oidSnmpTrapOID, oidUPSTrapAlarmAdd), oid("1.3.6.1.2.1.33.1.6.2.1.2.1", oidUPSAlarmLowBatt)},
		{oid(oidSnmpTrapOID, oidAPCOnBattery), {Name: oidSnmpTrapAddress, Type: gosnmp.IPAddress, Value: "10.0.0.2"}},
		{oid(oidSnmpTrapOID, "1.3.6.1.4.1.99999.0.42"), {Name: "1.3.6.1.4.1.99999.1.1", Type: gosnmp.OctetString, Value: []byte("hello")}},
	} {
		f.Add(trapSeed(f, &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: 7,
			Variables: append([]gosnmp.SnmpPDU{{Name: "1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(42)}}, vars...)}))
	}
	f.Add(trapSeed(f, &gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: "public", PDUType: gosnmp.Trap,
		SnmpTrap: gosnmp.SnmpTrap{Enterprise: "1.3.6.1.4.1.318", AgentAddress: "10.0.0.2", GenericTrap: 6, SpecificTrap: 5, Timestamp: 100}}))
	f.Add(trapSeed(f, &gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: "public", PDUType: gosnmp.Trap,
		SnmpTrap: gosnmp.SnmpTrap{Enterprise: "1.3.6.1.4.1.9", AgentAddress: "0.0.0.0", GenericTrap: 2, Timestamp: 100,
			Variables: []gosnmp.SnmpPDU{{Name: oidIfIndex + ".1", Type: gosnmp.Integer, Value: 1}}}}))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	from := netip.MustParseAddrPort("10.0.0.2:161")
	f.Fuzz(func(t *testing.T, b []byte) {
		em.obs = em.obs[:0]
		tl.handle(g, trapPacket{from: from, at: time.Now(), data: b})
		em.obs = em.obs[:0]
		for _, o := range em.obs {
			if err := o.Validate(); err != nil {
				t.Fatalf("trap became an invalid observation %+v: %v", o, err)
			}
		}
	})
}

// TestMalformedV3TrapIsRejected: a 40-byte v3 header that made gosnmp dereference nil
// security parameters is counted as rejected instead of crashing the collector.
func TestMalformedV3TrapIsRejected(t *testing.T) {
	cfg, err := ParseConfig([]byte(`site: s
name: c
cmdb: {url: 'http://127.0.0.1:1/graphql', token: x}
traps: {listen: '127.0.0.1:0'}
snmp:
  credentials:
    - {name: v3, version: 3, username: trapper, auth_protocol: SHA, auth_passphrase: trap-auth-pass, priv_protocol: AES, priv_passphrase: trap-priv-pass}
`))
	if err != nil {
		t.Fatal(err)
	}
	em := &nopEmitter{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newCollectorMetrics(nil)
	tl, err := newTrapListener(cfg, newPoller(cfg, observation.NewIDs("c"), em, m, log), em, observation.NewIDs("c"), m, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.conn.Close()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel}
	g.SetTrapSecurityParametersTable(gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil)))
	tl.handle(g, trapPacket{from: netip.MustParseAddrPort("10.0.0.9:161"), at: time.Now(),
		data: []byte("0&\x02\x01\x0300000000000000000000000000000000000")})
	if got := testutil.ToFloat64(m.traps.WithLabelValues("rejected")); got != 1 || len(em.obs) != 0 {
		t.Fatalf("rejected %v, observations %v", got, em.obs)
	}
}
