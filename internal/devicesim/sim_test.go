package devicesim

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// startSim runs the agents of a generated hospital on a free port for the test.
func startSim(t testing.TB, n int, cfg Config) (*Hospital, *Sim) {
	t.Helper()
	h := generate(t, 1, n)
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		s.Wait()
	})
	return h, s
}

// client returns a gosnmp session to device d.
func client(t testing.TB, s *Sim, d *Device, version gosnmp.SnmpVersion, u *User) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{
		Target: d.IP().String(), Port: uint16(s.Port()), Transport: "udp", Version: version,
		Community: "public", Timeout: time.Second, Retries: 1, MaxOids: 60, MaxRepetitions: 20,
		Context: context.Background(),
	}
	if u != nil {
		ap, _ := map[string]gosnmp.SnmpV3AuthProtocol{"": gosnmp.NoAuth, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA,
			"SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512}[u.AuthProtocol]
		pp, _ := map[string]gosnmp.SnmpV3PrivProtocol{"": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES,
			"AES192": gosnmp.AES192, "AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C}[u.PrivProtocol]
		flags := gosnmp.NoAuthNoPriv
		if ap != gosnmp.NoAuth {
			flags = gosnmp.AuthNoPriv
		}
		if pp != gosnmp.NoPriv {
			flags = gosnmp.AuthPriv
		}
		g.Version, g.SecurityModel, g.MsgFlags = gosnmp.Version3, gosnmp.UserSecurityModel, flags
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthenticationProtocol: ap,
			AuthenticationPassphrase: u.AuthPassphrase, PrivacyProtocol: pp, PrivacyPassphrase: u.PrivPassphrase}
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

func getString(t testing.TB, g *gosnmp.GoSNMP, o string) string {
	t.Helper()
	p, err := g.Get([]string{o})
	if err != nil {
		t.Fatalf("get %s from %s: %v", o, g.Target, err)
	}
	v := p.Variables[0]
	if b, ok := v.Value.([]byte); ok {
		return string(b)
	}
	t.Fatalf("get %s: %v (%v), not a string", o, v.Value, v.Type)
	return ""
}

const oidSysName = ".1.3.6.1.2.1.1.5.0"

func TestEveryV3ProtocolPairWithGosnmp(t *testing.T) {
	users := append([]User{}, DefaultUsers...)
	users = append(users,
		User{Name: "aes192", AuthProtocol: "SHA", AuthPassphrase: "aes192-auth", PrivProtocol: "AES192", PrivPassphrase: "aes192-priv"},
		User{Name: "aes256b", AuthProtocol: "MD5", AuthPassphrase: "aes256-auth", PrivProtocol: "AES256", PrivPassphrase: "aes256-priv"},
		User{Name: "aes192c", AuthProtocol: "SHA", AuthPassphrase: "aes192c-auth", PrivProtocol: "AES192C", PrivPassphrase: "aes192c-priv"},
		User{Name: "sha224", AuthProtocol: "SHA224", AuthPassphrase: "sha224-auth", PrivProtocol: "AES", PrivPassphrase: "sha224-priv"},
		User{Name: "sha384", AuthProtocol: "SHA384", AuthPassphrase: "sha384-auth", PrivProtocol: "AES256C", PrivPassphrase: "sha384-priv"},
	)
	h, s := startSim(t, 60, Config{Users: users})
	d := h.Devices[len(h.Devices)-1]
	for _, u := range users {
		t.Run(u.Name, func(t *testing.T) {
			if got := getString(t, client(t, s, d, gosnmp.Version3, &u), oidSysName); got != d.Name {
				t.Fatalf("sysName %q, want %q", got, d.Name)
			}
		})
	}
	// After a reboot the manager's idea of engine boots is stale: the agent says so with
	// an authenticated notInTimeWindow report and the manager resynchronises.
	g0 := client(t, s, d, gosnmp.Version3, &users[0])
	getString(t, g0, oidSysName)
	s.Reboot(d)
	if got := getString(t, g0, oidSysName); got != d.Name {
		t.Fatalf("after reboot: sysName %q", got)
	}
	if s.stats.usm[usmNotInTimeWindows-1].Load() == 0 {
		t.Fatal("no notInTimeWindow report after a reboot")
	}
	// A wrong passphrase gets nothing but a wrongDigest report.
	bad := DefaultUsers[0]
	bad.AuthPassphrase = "not-the-passphrase"
	g := client(t, s, d, gosnmp.Version3, &bad)
	if _, err := g.Get([]string{oidSysName}); err == nil {
		t.Fatal("a wrong auth passphrase was accepted")
	}
	if s.stats.usm[usmWrongDigests-1].Load() == 0 {
		t.Fatal("usmStatsWrongDigests did not count the wrong passphrase")
	}
}

func TestV1V2cAndBadCommunity(t *testing.T) {
	h, s := startSim(t, 60, Config{})
	d := h.Devices[10]
	for _, v := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
		if got := getString(t, client(t, s, d, v, nil), oidSysName); got != d.Name {
			t.Fatalf("%v sysName %q, want %q", v, got, d.Name)
		}
	}
	g := client(t, s, d, gosnmp.Version2c, nil)
	g.Community, g.Retries, g.Timeout = "private", 0, 200*time.Millisecond
	if _, err := g.Get([]string{oidSysName}); err == nil {
		t.Fatal("wrong community answered")
	}
	if s.stats.BadCommunity.Load() == 0 {
		t.Fatal("bad community not counted")
	}
}

func TestFailuresChangeWhatAgentsSay(t *testing.T) {
	h, s := startSim(t, 200, Config{})
	ups, _ := h.Resolve(Selector{Class: "UPS", CareArea: OR})
	sw, _ := h.Resolve(Selector{Class: "NETWORK_SWITCH", CareArea: ED})
	behind := sw.sw.ports[5]
	pump, _ := h.Resolve(Selector{Class: "INFUSION_PUMP", CareArea: Ward})

	g := client(t, s, ups, gosnmp.Version2c, nil)
	ints := func(g *gosnmp.GoSNMP, oids ...string) []int64 {
		t.Helper()
		p, err := g.Get(oids)
		if err != nil {
			t.Fatalf("get from %s: %v", g.Target, err)
		}
		var out []int64
		for _, v := range p.Variables {
			out = append(out, gosnmp.ToBigInt(v.Value).Int64())
		}
		return out
	}
	upsOIDs := []string{".1.3.6.1.2.1.33.1.2.1.0", ".1.3.6.1.2.1.33.1.4.1.0", ".1.3.6.1.2.1.33.1.2.3.0", ".1.3.6.1.2.1.33.1.6.1.0"}
	if got := ints(g, upsOIDs...); got[0] != 2 || got[1] != 3 || got[2] != upsFullMinutes || got[3] != 0 {
		t.Fatalf("online UPS: battery status, output source, minutes, alarms = %v", got)
	}
	s.SetUPS(ups, UPSOnBattery)
	if got := ints(g, upsOIDs...); got[0] != 2 || got[1] != 5 || got[3] != 1 {
		t.Fatalf("UPS on battery: %v", got)
	}
	s.SetUPS(ups, UPSBatteryLow)
	if got := ints(g, upsOIDs...); got[0] != 3 || got[1] != 5 || got[2] != upsLowMinutes || got[3] != 2 {
		t.Fatalf("UPS battery low: %v", got)
	}

	// A reboot starts sysUpTime again.
	pg := client(t, s, pump, gosnmp.Version2c, nil)
	before := ints(pg, ".1.3.6.1.2.1.1.3.0")[0]
	s.Reboot(pump)
	if after := ints(pg, ".1.3.6.1.2.1.1.3.0")[0]; after >= before || after > 100 {
		t.Fatalf("sysUpTime %d after reboot, %d before", after, before)
	}

	// A switch going down takes its unit with it; back up, everything answers.
	bg := client(t, s, behind, gosnmp.Version2c, nil)
	bg.Retries, bg.Timeout = 0, 200*time.Millisecond
	s.SetDown(sw, true)
	if _, err := bg.Get([]string{oidSysName}); err == nil {
		t.Fatalf("%s answered with its switch down", behind.Name)
	}
	if behind.Reachable() || !behind.Uplink.Down() {
		t.Fatal("Reachable does not follow the switch")
	}
	s.SetDown(sw, false)
	if got := getString(t, bg, oidSysName); got != behind.Name {
		t.Fatalf("after the switch came back: %q", got)
	}
}

// trapReceiver collects datagrams sent to it.
func trapReceiver(t *testing.T) (netip.AddrPort, <-chan received) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan received, 100)
	go func() {
		for {
			b := make([]byte, 65536)
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			ch <- received{b[:n], from}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), ch
}

type received struct {
	b    []byte
	from netip.AddrPort
}

func TestTrapsInEveryVersion(t *testing.T) {
	addr, ch := trapReceiver(t)
	u := DefaultUsers[1] // SHA256/AES256
	h, s := startSim(t, 200, Config{Traps: []TrapTarget{
		{Addr: addr, Version: "1"}, {Addr: addr, Version: "2c"}, {Addr: addr, Version: "3", User: u.Name},
	}})
	pump, _ := h.Resolve(Selector{Class: "INFUSION_PUMP", CareArea: Ward})
	s.Reboot(pump)

	eid := pump.engineID(nil)
	v3 := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv,
		Logger: gosnmp.NewLogger(nil),
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthoritativeEngineID: string(eid),
			AuthenticationProtocol: gosnmp.SHA256, AuthenticationPassphrase: u.AuthPassphrase,
			PrivacyProtocol: gosnmp.AES256, PrivacyPassphrase: u.PrivPassphrase}}
	seen := map[gosnmp.SnmpVersion]bool{}
	for range 3 {
		var r received
		select {
		case r = <-ch:
		case <-time.After(2 * time.Second):
			t.Fatalf("only %v traps arrived", seen)
		}
		if r.from.Addr() != pump.IP() || int(r.from.Port()) != s.Port() {
			t.Fatalf("trap from %s, want %s:%d", r.from, pump.IP(), s.Port())
		}
		dec := &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil)}
		body, _, err := snmpber.Expect(r.b, snmpber.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := snmpber.ReadInt32(body); v == snmpber.Version3 {
			dec = v3
		}
		p, err := dec.UnmarshalTrap(r.b, true)
		if err != nil {
			t.Fatalf("decoding trap: %v", err)
		}
		seen[p.Version] = true
		switch p.Version {
		case gosnmp.Version1:
			if p.GenericTrap != 0 || p.AgentAddress != pump.IP().String() {
				t.Fatalf("v1 coldStart: generic %d agent %s", p.GenericTrap, p.AgentAddress)
			}
		default:
			if len(p.Variables) < 2 || p.Variables[1].Value != ".1.3.6.1.6.3.1.1.5.1" {
				t.Fatalf("%v trap varbinds %+v, want coldStart", p.Version, p.Variables)
			}
		}
	}
	if !seen[gosnmp.Version1] || !seen[gosnmp.Version2c] || !seen[gosnmp.Version3] {
		t.Fatalf("trap versions seen: %v", seen)
	}
}
