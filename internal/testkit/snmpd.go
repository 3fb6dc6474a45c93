// Package testkit holds helpers for tests that drive real parts: net-snmp's snmpd on
// loopback addresses, the project's binaries, and a GraphQL client.
package testkit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireTool skips the test when a tool is missing, unless MEDCMDB_REQUIRE_TOOLS is
// set (the test command sets it): then a missing tool fails the test.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && !fi.IsDir() {
			return filepath.Join(dir, name)
		}
	}
	if os.Getenv("MEDCMDB_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is not installed (./test.sh installs it)", name)
	}
	t.Skipf("%s is not installed; run ./test.sh to install test dependencies", name)
	return ""
}

// Agent is one net-snmp snmpd configuration.
type Agent struct {
	Addr        string // 127.x.y.z
	Port        int
	Community   string // default "public"
	SysName     string
	SysDescr    string
	SysObjectID string
	SysLocation string
	// Extra lines appended to snmpd.conf (createUser, override, trapsess, ...).
	Extra []string
}

// SNMPD is a running snmpd.
type SNMPD struct {
	t      testing.TB
	Agent  Agent
	dir    string
	bin    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartSNMPD starts net-snmp's snmpd for the agent and waits until it answers.
func StartSNMPD(t testing.TB, a Agent) *SNMPD {
	t.Helper()
	bin := RequireTool(t, "snmpd")
	if a.Community == "" {
		a.Community = "public"
	}
	s := &SNMPD{t: t, Agent: a, dir: t.TempDir(), bin: bin}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *SNMPD) conf() string {
	a := s.Agent
	lines := []string{
		fmt.Sprintf("agentaddress udp:%s:%d", a.Addr, a.Port),
		fmt.Sprintf("rocommunity %s 127.0.0.0/8", a.Community),
		"persistentDir " + filepath.Join(s.dir, "persist"),
		"syscontact biomed@example.org",
	}
	if a.SysName != "" {
		lines = append(lines, "sysname "+a.SysName)
	}
	if a.SysDescr != "" {
		lines = append(lines, "sysdescr "+a.SysDescr)
	}
	if a.SysObjectID != "" {
		lines = append(lines, "sysobjectid ."+strings.TrimPrefix(a.SysObjectID, "."))
	}
	if a.SysLocation != "" {
		lines = append(lines, "syslocation "+a.SysLocation)
	}
	lines = append(lines, a.Extra...)
	return strings.Join(lines, "\n") + "\n"
}

// Start (re)starts the agent and waits for it to answer.
func (s *SNMPD) Start() {
	s.t.Helper()
	conf := filepath.Join(s.dir, "snmpd.conf")
	if err := os.WriteFile(conf, []byte(s.conf()), 0o600); err != nil {
		s.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "snmpd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	// -C: only our config; -f: foreground; -Lf: log to file; no MIB loading.
	cmd := exec.Command(s.bin, "-f", "-C", "-c", conf, "-Lf", logf.Name())
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting snmpd on %s:%d: %v", s.Agent.Addr, s.Agent.Port, err)
	}
	logf.Close()
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(10 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "snmpd.log"))
		s.Stop()
		s.t.Fatalf("snmpd on %s:%d not answering: %v\n%s", s.Agent.Addr, s.Agent.Port, err, log)
	}
}

// waitReady sends a minimal SNMPv1 get of sysUpTime until anything comes back.
func (s *SNMPD) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	addr := net.JoinHostPort(s.Agent.Addr, strconv.Itoa(s.Agent.Port))
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("snmpd exited")
		default:
		}
		c, err := net.Dial("udp", addr)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			_, _ = c.Write(v1GetPacket(s.Agent.Community))
			buf := make([]byte, 1500)
			n, rerr := c.Read(buf)
			c.Close()
			if rerr == nil && n > 0 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timeout")
}

// v1GetPacket encodes an SNMPv1 GetRequest for sysUpTime.0.
func v1GetPacket(community string) []byte {
	oid := []byte{0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 3, 0}
	vb := append(append([]byte{0x30, byte(len(oid) + 2)}, oid...), 0x05, 0x00)
	vbl := append([]byte{0x30, byte(len(vb))}, vb...)
	pdu := append([]byte{0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}, vbl...)
	pdu = append([]byte{0xa0, byte(len(pdu))}, pdu...)
	msg := append([]byte{0x02, 0x01, 0x00, 0x04, byte(len(community))}, community...)
	msg = append(msg, pdu...)
	return append([]byte{0x30, byte(len(msg))}, msg...)
}

// Stop kills the agent (as a crash would) and waits for it to go.
func (s *SNMPD) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Log returns what snmpd logged.
func (s *SNMPD) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "snmpd.log"))
	return string(b)
}

// LoopbackNet returns a /24 of 127.0.0.0/8 unlikely to be used by another test run,
// as "127.A.B." (append the host number).
func LoopbackNet() string {
	p := os.Getpid()
	return fmt.Sprintf("127.%d.%d.", 100+p%100, (p/100)%250+1)
}

// FreeUDPPort returns a UDP port that is free on addr now.
func FreeUDPPort(t testing.TB, addr string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
