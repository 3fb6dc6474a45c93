package discovery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// sendRecorder is a Sender that keeps every observation the collector delivered.
type sendRecorder struct {
	mu  sync.Mutex
	obs []observation.Observation
}

func (r *sendRecorder) Send(_ context.Context, batch []observation.Observation) error {
	r.mu.Lock()
	r.obs = append(r.obs, batch...)
	r.mu.Unlock()
	return nil
}

func (r *sendRecorder) all() []observation.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.obs)
}

// waitFor waits until an observation satisfies f and returns it.
func (r *sendRecorder) waitFor(t *testing.T, d time.Duration, what string, f func(observation.Observation) bool) observation.Observation {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, o := range r.all() {
			if f(o) {
				return o
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	var sb strings.Builder
	for _, o := range r.all() {
		fmt.Fprintf(&sb, "  %s %s %s cond=%q conds=%v id=%+v detail=%q\n", o.Source, o.Kind, o.State, o.Condition, o.Conditions, o.Identity, o.Detail)
	}
	t.Fatalf("no observation %s within %s; got:\n%s", what, d, sb.String())
	return observation.Observation{}
}

// startCollector runs a collector on cfgYAML (cmdb settings are added) and returns
// what it reports, plus everything it logged.
func startCollector(t *testing.T, cfgYAML string) (*Collector, *sendRecorder, *lockedBuffer) {
	t.Helper()
	cfg, err := ParseConfig([]byte("site: test\nname: test-collector\ncmdb: {url: 'http://127.0.0.1:1/graphql', token: tok, flush_interval: 50ms}\n" + cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	rec := &sendRecorder{}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg, Options{Logger: log, Sender: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	})
	return c, rec, logs
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was logged so far (the collector may be logging meanwhile).
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func entityOverrides(serial, firmware string) []string {
	return []string{
		"override .1.3.6.1.2.1.47.1.1.1.1.2.1 octet_str Chassis",
		"override .1.3.6.1.2.1.47.1.1.1.1.5.1 integer 3",
		"override .1.3.6.1.2.1.47.1.1.1.1.9.1 octet_str " + firmware,
		"override .1.3.6.1.2.1.47.1.1.1.1.10.1 octet_str sw-" + firmware,
		"override .1.3.6.1.2.1.47.1.1.1.1.11.1 octet_str " + serial,
		"override .1.3.6.1.2.1.47.1.1.1.1.12.1 octet_str APC",
		"override .1.3.6.1.2.1.47.1.1.1.1.13.1 octet_str SMT1500RMI2U",
	}
}

// TestSNMPDv2cInventoryUPSAndReboot: a v2c agent that looks like an APC UPS on
// battery, with ENTITY-MIB values, is found, fingerprinted, inventoried, reported on
// battery; a restart with new firmware is a reboot event and a firmware CHANGE.
func TestSNMPDv2cInventoryUPSAndReboot(t *testing.T) {
	net := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, net+"11")
	agent := testkit.Agent{
		Addr: net + "11", Port: port, Community: "c0mmunity-v2-secret",
		SysName: "ups-icu-3", SysObjectID: "1.3.6.1.4.1.318.1.1.1.1",
		SysDescr: "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 MN:SMT1500RMI2U)",
		Extra: append(entityOverrides("3A1234X56789", "6.8.2"),
			"override .1.3.6.1.2.1.33.1.2.1.0 integer 2",
			"override .1.3.6.1.2.1.33.1.2.3.0 integer 42",
			"override .1.3.6.1.2.1.33.1.4.1.0 integer 5"),
	}
	snmpd := testkit.StartSNMPD(t, agent)
	_, rec, logs := startCollector(t, fmt.Sprintf(`
snmp:
  port: %d
  timeout: 300ms
  retries: 1
  poll_interval: 500ms
  down_after: 3
  inventory_interval: 1h
  credentials:
    - {name: wrong, version: 2c, community: not-this-one}
    - {name: v2, version: 2c, community: c0mmunity-v2-secret}
  ranges:
    - {cidr: %s8/29, credentials: [wrong, v2], location: {unit: ICU-3, care_area: ICU}}
`, port, net))

	disc := rec.waitFor(t, 10*time.Second, "DISCOVERED", func(o observation.Observation) bool { return o.Kind == observation.KindDiscovered })
	if disc.Identity.Class != "UPS" || disc.Identity.Manufacturer != "APC" || disc.Address.IP != agent.Addr {
		t.Errorf("discovered: %+v at %+v", disc.Identity, disc.Address)
	}
	inv := rec.waitFor(t, 10*time.Second, "with ENTITY-MIB inventory", func(o observation.Observation) bool {
		return o.Identity.Serial == "3A1234X56789"
	})
	if inv.Identity.Firmware != "6.8.2" || inv.Identity.Model != "SMT1500RMI2U" || inv.Identity.Software != "sw-6.8.2" {
		t.Errorf("inventory identity: %+v", inv.Identity)
	}
	onBatt := rec.waitFor(t, 10*time.Second, "ups.on_battery", func(o observation.Observation) bool {
		return slices.Contains(o.Conditions, observation.CondUPSOnBattery)
	})
	if onBatt.State != observation.StateDegraded || !strings.Contains(onBatt.Detail, "42 minutes") {
		t.Errorf("on battery: state %s detail %q", onBatt.State, onBatt.Detail)
	}

	// Restart with new firmware: a reboot and a firmware change, in that order of truth.
	before := len(rec.all())
	snmpd.Stop()
	snmpd.Agent.Extra = append(entityOverrides("3A1234X56789", "6.9.0"),
		"override .1.3.6.1.2.1.33.1.2.1.0 integer 3",
		"override .1.3.6.1.2.1.33.1.2.3.0 integer 4",
		"override .1.3.6.1.2.1.33.1.4.1.0 integer 5")
	time.Sleep(200 * time.Millisecond)
	snmpd.Start()
	newer := func(f func(observation.Observation) bool) func(observation.Observation) bool {
		return func(o observation.Observation) bool {
			for _, x := range rec.all()[before:] {
				if x.ID == o.ID {
					return f(o)
				}
			}
			return false
		}
	}
	rec.waitFor(t, 10*time.Second, "device.rebooted", newer(func(o observation.Observation) bool {
		return o.Kind == observation.KindEvent && o.Condition == observation.CondDeviceRebooted
	}))
	rec.waitFor(t, 10*time.Second, "firmware change", newer(func(o observation.Observation) bool {
		return o.Kind == observation.KindChange && o.Identity.Firmware == "6.9.0"
	}))
	rec.waitFor(t, 10*time.Second, "ups.battery_low", newer(func(o observation.Observation) bool {
		return slices.Contains(o.Conditions, observation.CondUPSBatteryLow)
	}))

	// The wrong credential was tried at discovery; the right one is remembered.
	for _, s := range []string{"c0mmunity-v2-secret", "not-this-one"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a community string appears in the logs")
		}
	}
}

// TestSNMPDv3AuthPriv polls agents over SNMPv3 authPriv with SHA/AES and with
// SHA-256/AES-256 and SHA-512/AES-192, each found through an ordered
// credential list where earlier entries do not work.
func TestSNMPDv3AuthPriv(t *testing.T) {
	net := testkit.LoopbackNet()
	port := testkit.FreeUDPPort(t, net+"21")
	users := []struct{ user, auth, priv, netAuth, netPriv string }{
		{"biomed1", "SHA", "AES", "SHA", "AES"},
		{"biomed256", "SHA256", "AES256", "SHA-256", "AES-256"},
		{"biomed512", "SHA512", "AES192", "SHA-512", "AES-192"},
	}
	var creds strings.Builder
	creds.WriteString("    - {name: v2, version: 2c, community: nope-community}\n")
	for i, u := range users {
		testkit.StartSNMPD(t, testkit.Agent{
			Addr: fmt.Sprintf("%s%d", net, 21+i), Port: port, Community: "unused-" + u.user,
			SysName: "vent-" + u.user, SysDescr: "HAMILTON-C6 ventilator v2.3." + fmt.Sprint(i),
			Extra: []string{
				fmt.Sprintf("createUser %s %s auth-%s-pass %s priv-%s-pass", u.user, u.netAuth, u.user, u.netPriv, u.user),
				"rouser " + u.user + " priv",
			},
		})
		fmt.Fprintf(&creds, "    - {name: %s, version: 3, username: %s, auth_protocol: %s, auth_passphrase: auth-%s-pass, priv_protocol: %s, priv_passphrase: priv-%s-pass}\n",
			u.user, u.user, u.auth, u.user, u.priv, u.user)
	}
	c, rec, logs := startCollector(t, fmt.Sprintf(`
snmp:
  port: %d
  timeout: 500ms
  retries: 1
  poll_interval: 500ms
  credentials:
%s  ranges:
    - {cidr: %s16/28}
`, port, creds.String(), net))
	for i, u := range users {
		addr := fmt.Sprintf("%s%d", net, 21+i)
		o := rec.waitFor(t, 15*time.Second, "discovery of "+u.user, func(o observation.Observation) bool {
			return o.Kind == observation.KindDiscovered && o.Address.IP == addr
		})
		if o.Identity.SysName != "vent-"+u.user || o.Identity.Class != "VENTILATOR" || o.Identity.Model != "HAMILTON-C6" {
			t.Errorf("%s: identity %+v", u.user, o.Identity)
		}
		snap, ok := c.Poller().Snapshot(fmt.Sprintf("%s:%d", addr, port))
		if !ok || snap.Credential != u.user || snap.State != observation.StateUp {
			t.Errorf("%s: snapshot %+v", u.user, snap)
		}
	}
	// Polls keep succeeding over v3 (with the cached engine parameters).
	time.Sleep(1500 * time.Millisecond)
	for i := range users {
		snap, _ := c.Poller().Snapshot(fmt.Sprintf("%s%d:%d", net, 21+i, port))
		if snap.State != observation.StateUp {
			t.Errorf("%s after polls: %s", users[i].user, snap.State)
		}
	}
	for _, u := range users {
		for _, s := range []string{"auth-" + u.user + "-pass", "priv-" + u.user + "-pass", "nope-community"} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("secret %q appears in the logs", s[:4]+"...")
			}
		}
	}
}

// TestSNMPTraps sends real traps with net-snmp's snmptrap in v2c and v3 and checks
// they become immediate observations about the sending device.
func TestSNMPTraps(t *testing.T) {
	snmptrap := testkit.RequireTool(t, "snmptrap")
	net := testkit.LoopbackNet()
	trapAddr := net + "31"
	trapPort := testkit.FreeUDPPort(t, trapAddr)
	c, rec, logs := startCollector(t, fmt.Sprintf(`
traps:
  listen: %s:%d
  accept_from: [127.0.0.1/32]   # snmptrap sends from there
snmp:
  timeout: 200ms
  credentials:
    - {name: v2, version: 2c, community: trap-community}
    - {name: v3, version: 3, username: trapper, auth_protocol: SHA256, auth_passphrase: trap-auth-pass, priv_protocol: AES, priv_passphrase: trap-priv-pass}
`, trapAddr, trapPort))
	dest := c.Traps().Addr().String()
	send := func(args ...string) {
		t.Helper()
		cmd := exec.Command(snmptrap, args...)
		cmd.Env = append(cmd.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "SNMP_PERSISTENT_DIR="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("snmptrap %v: %v\n%s", args, err, out)
		}
	}
	v2 := []string{"-v", "2c", "-c", "trap-community", dest, ""}
	send(append(v2, "1.3.6.1.6.3.1.1.5.1")...)
	rec.waitFor(t, 5*time.Second, "coldStart → device.rebooted", func(o observation.Observation) bool {
		return o.Source == observation.SourceSNMPTrap && o.Kind == observation.KindEvent && o.Condition == observation.CondDeviceRebooted && o.Address.IP == "127.0.0.1"
	})
	send(append(v2, "1.3.6.1.2.1.33.2.1", "1.3.6.1.2.1.33.1.2.3.0", "i", "12")...)
	rec.waitFor(t, 5*time.Second, "upsTrapOnBattery → ups.on_battery", func(o observation.Observation) bool {
		return o.Condition == observation.CondUPSOnBattery && o.State == observation.StateDegraded && o.Conditions == nil
	})
	send(append(v2, "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7")...)
	rec.waitFor(t, 5*time.Second, "linkDown on an unknown port → event", func(o observation.Observation) bool {
		return o.Kind == observation.KindEvent && o.Condition == observation.CondUnknownTrap && strings.Contains(o.Detail, "linkDown ifIndex 7")
	})
	send(append(v2, "1.3.6.1.4.1.99999.0.42", "1.3.6.1.4.1.99999.1.1", "s", "hello")...)
	rec.waitFor(t, 5*time.Second, "unknown trap → snmp.trap event", func(o observation.Observation) bool {
		return o.Kind == observation.KindEvent && o.Condition == observation.CondUnknownTrap && strings.Contains(o.Detail, "1.3.6.1.4.1.99999.0.42")
	})
	// v2c with a wrong community is rejected.
	send("-v", "2c", "-c", "wrong", dest, "", "1.3.6.1.4.1.99999.0.43")
	// SNMPv3 authPriv trap from an engine of its own.
	send("-v", "3", "-e", "0x8000000001020304", "-u", "trapper", "-l", "authPriv",
		"-a", "SHA-256", "-A", "trap-auth-pass", "-x", "AES", "-X", "trap-priv-pass",
		dest, "", "1.3.6.1.4.1.318.0.5")
	rec.waitFor(t, 5*time.Second, "v3 APC on-battery trap", func(o observation.Observation) bool {
		return o.Source == observation.SourceSNMPTrap && o.Condition == observation.CondUPSOnBattery && strings.Contains(o.Detail, "APC")
	})
	time.Sleep(200 * time.Millisecond)
	for _, o := range rec.all() {
		if strings.Contains(o.Detail, "99999.0.43") {
			t.Errorf("trap with a wrong community was accepted: %+v", o)
		}
	}
	if strings.Contains(logs.String(), "trap-auth-pass") || strings.Contains(logs.String(), "trap-community") {
		t.Error("a trap secret appears in the logs")
	}
}
