package devicesim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// These tests check the agents with net-snmp's own command-line tools: what a network
// engineer would point at a device.

// netsnmp runs a net-snmp tool with numeric output and no MIB loading.
func netsnmp(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	bin := testkit.RequireTool(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-On", "-Oe", "-r", "1", "-t", "1"}, args...)...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "SNMPCONFPATH=/nonexistent", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustSNMP(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := netsnmp(t, tool, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return out
}

// lines parses "OID = TYPE: value" output into a map.
func lines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(l, " = ")
		if ok {
			m[strings.TrimPrefix(k, ".")] = v
		}
	}
	return m
}

var v3Args = map[string][]string{
	"SHA/AES":         {"-v3", "-l", "authPriv", "-u", "biomed", "-a", "SHA", "-A", "biomed-auth-pass", "-x", "AES", "-X", "biomed-priv-pass"},
	"SHA-256/AES-256": {"-v3", "-l", "authPriv", "-u", "noc", "-a", "SHA-256", "-A", "noc-auth-passphrase", "-x", "AES-256", "-X", "noc-priv-passphrase"},
	"MD5/DES":         {"-v3", "-l", "authPriv", "-u", "legacy", "-a", "MD5", "-A", "legacy-auth-pass", "-x", "DES", "-X", "legacy-priv-pass"},
	"SHA/AES-192":     {"-v3", "-l", "authPriv", "-u", "aes192", "-a", "SHA", "-A", "aes192-auth", "-x", "AES-192", "-X", "aes192-priv"},
	"SHA-512/auth":    {"-v3", "-l", "authNoPriv", "-u", "monitor", "-a", "SHA-512", "-A", "monitor-auth-pass"},
	"noAuthNoPriv":    {"-v3", "-l", "noAuthNoPriv", "-u", "public-v3"},
}

func netsnmpUsers() []User {
	return append(append([]User{}, DefaultUsers...),
		User{Name: "aes192", AuthProtocol: "SHA", AuthPassphrase: "aes192-auth", PrivProtocol: "AES192", PrivPassphrase: "aes192-priv"})
}

func TestNetSNMPGetSystemGroupEveryVersion(t *testing.T) {
	h, s := startSim(t, 200, Config{Users: netsnmpUsers()})
	d, _ := h.Resolve(Selector{Class: "VENTILATOR", CareArea: ICU})
	target := fmt.Sprintf("%s:%d", d.IP(), s.Port())
	oids := []string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.47.1.1.1.1.11.1"}
	want := map[string]string{
		"1.3.6.1.2.1.1.1.0":           `STRING: "` + d.SysDescr() + `"`,
		"1.3.6.1.2.1.1.2.0":           "OID: ." + oidString(d.Model.ObjectID),
		"1.3.6.1.2.1.1.5.0":           `STRING: "` + d.Name + `"`,
		"1.3.6.1.2.1.1.6.0":           `STRING: "` + d.Location() + `"`,
		"1.3.6.1.2.1.47.1.1.1.1.11.1": `STRING: "` + d.Serial + `"`,
	}
	cases := map[string][]string{"v1": {"-v1", "-c", "public"}, "v2c": {"-v2c", "-c", "public"}}
	for k, v := range v3Args {
		cases["v3 "+k] = v
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			got := lines(mustSNMP(t, "snmpget", append(append(args, target), oids...)...))
			for o, w := range want {
				if got[o] != w {
					t.Errorf("%s = %s, want %s", o, got[o], w)
				}
			}
		})
	}
	t.Run("wrong priv passphrase", func(t *testing.T) {
		args := append([]string{}, v3Args["SHA/AES"]...)
		args[len(args)-1] = "wrong-priv-pass"
		if out, err := netsnmp(t, "snmpget", append(args, target, "1.3.6.1.2.1.1.5.0")...); err == nil && strings.Contains(out, d.Name) {
			t.Fatalf("a wrong privacy passphrase read sysName: %s", out)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		out, err := netsnmp(t, "snmpget", "-v3", "-l", "noAuthNoPriv", "-u", "nobody", target, "1.3.6.1.2.1.1.5.0")
		if err == nil || !strings.Contains(strings.ToLower(out), "unknown user") {
			t.Fatalf("unknown user: %v %s", err, out)
		}
	})
}

func TestNetSNMPWalksAreCompleteAndOrdered(t *testing.T) {
	h, s := startSim(t, 200, Config{Users: netsnmpUsers()})
	sw, _ := h.Resolve(Selector{Class: "NETWORK_SWITCH", CareArea: ICU})
	target := fmt.Sprintf("%s:%d", sw.IP(), s.Port())
	walks := map[string][]string{
		"snmpwalk v1":           {"snmpwalk", "-v1", "-c", "public"},
		"snmpwalk v2c":          {"snmpwalk", "-v2c", "-c", "public"},
		"snmpbulkwalk v2c":      {"snmpbulkwalk", "-v2c", "-c", "public", "-Cr25"},
		"snmpbulkwalk v3 SHA2":  append([]string{"snmpbulkwalk"}, v3Args["SHA-256/AES-256"]...),
		"snmpwalk v3 SHA/AES":   append([]string{"snmpwalk"}, v3Args["SHA/AES"]...),
		"snmpbulkwalk v3 small": append(append([]string{"snmpbulkwalk"}, v3Args["SHA/AES"]...), "-Cr200"),
	}
	var reference map[string]string
	for name, w := range walks {
		t.Run(name, func(t *testing.T) {
			// net-snmp checks that OIDs increase ("OID not increasing" is an error).
			out := mustSNMP(t, w[0], append(append([]string{}, w[1:]...), target, "1.3.6.1.2.1")...)
			got := lines(out)
			if got["1.3.6.1.2.1.1.5.0"] != `STRING: "`+sw.Name+`"` {
				t.Fatalf("walk has no sysName:\n%s", out)
			}
			// The whole switch: 52 interfaces, FDB rows, bridge ports.
			if n := countPrefix(got, "1.3.6.1.2.1.2.2.1.8."); n != len(sw.sw.ports) {
				t.Errorf("%d ifOperStatus rows, want %d", n, len(sw.sw.ports))
			}
			if reference == nil {
				reference = got
			} else if len(got) != len(reference) {
				t.Errorf("%d objects, another walk found %d", len(got), len(reference))
			}
		})
	}
}

func countPrefix(m map[string]string, p string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, p) {
			n++
		}
	}
	return n
}

// TestNetSNMPTopologyIsDiscoverable walks a switch's forwarding and LLDP tables and
// finds every device of the unit on its port, and the cores on the uplinks.
func TestNetSNMPTopologyIsDiscoverable(t *testing.T) {
	h, s := startSim(t, 200, Config{})
	sw, _ := h.Resolve(Selector{Class: "NETWORK_SWITCH", CareArea: OR})
	target := fmt.Sprintf("%s:%d", sw.IP(), s.Port())
	fdb := lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", target, "1.3.6.1.2.1.17.4.3.1.2"))
	basePorts := lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", target, "1.3.6.1.2.1.17.1.4.1.2"))
	for _, d := range sw.Unit.Devices {
		if d == sw {
			continue
		}
		key := "1.3.6.1.2.1.17.4.3.1.2." + macOID(d.MAC)
		if fdb[key] != fmt.Sprintf("INTEGER: %d", d.Port) {
			t.Errorf("FDB entry of %s (%s): %q, want port %d", d.Name, d.MACString(), fdb[key], d.Port)
		}
		if basePorts[fmt.Sprintf("1.3.6.1.2.1.17.1.4.1.2.%d", d.Port)] != fmt.Sprintf("INTEGER: %d", d.Port) {
			t.Errorf("dot1dBasePortIfIndex.%d missing", d.Port)
		}
	}
	lldp := lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", target, "1.0.8802.1.1.2.1.4.1.1.9"))
	for _, up := range []struct {
		core  *Device
		local uint16
	}{{sw.Uplink, sw.UplinkLocal}, {sw.Uplink2, sw.Uplink2Local}} {
		key := fmt.Sprintf("1.0.8802.1.1.2.1.4.1.1.9.0.%d.1", up.local)
		if lldp[key] != `STRING: "`+up.core.Name+`"` {
			t.Errorf("LLDP on uplink %d: %q, want %s", up.local, lldp[key], up.core.Name)
		}
	}
	// A device switched off leaves the forwarding table; its port goes down.
	victim := sw.sw.ports[3]
	s.SetDown(victim, true)
	fdb = lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", target, "1.3.6.1.2.1.17.4.3.1.2"))
	if _, ok := fdb["1.3.6.1.2.1.17.4.3.1.2."+macOID(victim.MAC)]; ok {
		t.Errorf("FDB still has %s after it went down", victim.Name)
	}
	oper := lines(mustSNMP(t, "snmpget", "-v2c", "-c", "public", target, "1.3.6.1.2.1.2.2.1.8.4"))
	if oper["1.3.6.1.2.1.2.2.1.8.4"] != "INTEGER: 2" {
		t.Errorf("ifOperStatus.4 = %q with its device down, want 2", oper["1.3.6.1.2.1.2.2.1.8.4"])
	}
	// And the core sees the access switch on its downlink.
	core := fmt.Sprintf("%s:%d", sw.Uplink.IP(), s.Port())
	lldp = lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", core, "1.0.8802.1.1.2.1.4.1.1.9"))
	if got := lldp[fmt.Sprintf("1.0.8802.1.1.2.1.4.1.1.9.0.%d.1", sw.Port)]; got != `STRING: "`+sw.Name+`"` {
		t.Errorf("core LLDP on port %d: %q, want %s", sw.Port, got, sw.Name)
	}
	// The core routes the units: its ARP table maps each live device's address to its
	// MAC on the unit's VLAN interface, and leaves out the one that is down.
	arp := lines(mustSNMP(t, "snmpbulkwalk", "-v2c", "-c", "public", core, "1.3.6.1.2.1.4.22.1.2"))
	for _, d := range sw.Unit.Devices {
		ip := d.IP().As4()
		key := fmt.Sprintf("1.3.6.1.2.1.4.22.1.2.%d.%d.%d.%d.%d", sviBase+sw.Unit.VLAN, ip[0], ip[1], ip[2], ip[3])
		got, ok := arp[key]
		switch {
		case d == victim && ok:
			t.Errorf("ARP entry for %s, which is down", d.Name)
		case d != victim && got != "Hex-STRING: "+strings.ToUpper(strings.ReplaceAll(d.MACString(), ":", " "))+" ":
			t.Errorf("ARP entry of %s: %q", d.Name, got)
		}
	}
	// A full walk of the core is in strictly increasing order (net-snmp checks).
	all := lines(mustSNMP(t, "snmpwalk", "-v2c", "-c", "public", core, "1.3.6.1.2.1"))
	if got := all[fmt.Sprintf("1.3.6.1.2.1.2.2.1.2.%d", sviBase+sw.Unit.VLAN)]; got != fmt.Sprintf(`STRING: "Vlan%d"`, sw.Unit.VLAN) {
		t.Errorf("core ifDescr of the unit's VLAN interface: %q", got)
	}
}

func macOID(m [6]byte) string {
	return fmt.Sprintf("%d.%d.%d.%d.%d.%d", m[0], m[1], m[2], m[3], m[4], m[5])
}

func TestNetSNMPDownDeviceTimesOut(t *testing.T) {
	h, s := startSim(t, 60, Config{})
	d := h.Devices[20]
	s.SetDown(d, true)
	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "public", fmt.Sprintf("%s:%d", d.IP(), s.Port()), "1.3.6.1.2.1.1.5.0")
	if err == nil || !strings.Contains(out, "Timeout") {
		t.Fatalf("a down device answered: %v %s", err, out)
	}
}
