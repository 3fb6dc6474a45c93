package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/internal/devicesim"
)

// The agents are the project's simulated hospital (internal/devicesim): one UDP
// socket answering for every device, v1/v2c/v3, full MIBs, per-device SetDown. It
// runs in this process when its CPU does not matter (sweep, latency), and as its own
// process (cmd/devicesim) when the collector's CPU must be measured alone (poll,
// exporter).

// simSeed is the layout seed: the same seed and size give the same addresses in this
// process and in a devicesim process.
const simSeed = 1

// startSim runs a simulated hospital in this process.
func startSim(ctx context.Context, o devicesim.LayoutOptions) (*devicesim.Sim, error) {
	h, err := devicesim.Generate(o)
	if err != nil {
		return nil, err
	}
	sim, err := devicesim.New(h, devicesim.Config{Listen: "0.0.0.0:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	go sim.Run(ctx)
	return sim, nil
}

// endpoints are the devices whose failure takes nothing else down (not switches), in
// address order.
func endpoints(h *devicesim.Hospital) []*devicesim.Device {
	var out []*devicesim.Device
	for _, d := range h.Devices {
		if d.Class != devicesim.NetworkSwitch {
			out = append(out, d)
		}
	}
	return out
}

// simProcess is a devicesim process serving n devices on port.
type simProcess struct {
	cmd   *exec.Cmd
	addrs []netip.Addr // the devices' addresses, in order
}

// startSimProcess starts `devicesim --devices n` (bin, or built from ./cmd/devicesim
// when empty) and returns once its last device answers.
func startSimProcess(bin string, n, port int) (*simProcess, error) {
	if bin == "" {
		dir, err := os.MkdirTemp("", "snmpbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir) // the running binary stays open
		bin = filepath.Join(dir, "devicesim")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/devicesim").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building devicesim (run from the repository root or pass -devicesim): %v\n%s", err, out)
		}
	}
	// The same layout as the process will generate, for the addresses only.
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: simSeed, Devices: n})
	if err != nil {
		return nil, err
	}
	p := &simProcess{addrs: make([]netip.Addr, len(h.Devices))}
	for i, d := range h.Devices {
		p.addrs[i] = d.IP()
	}
	h = nil
	p.cmd = exec.Command(bin, "--devices", strconv.Itoa(n), "--seed", strconv.Itoa(simSeed),
		"--listen", fmt.Sprintf("0.0.0.0:%d", port), "--control-listen", "", "--log-level", "warn")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	// Warnings and errors pass through; readiness is the last device answering.
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, "devicesim:", sc.Text())
		}
	}()
	last := netip.AddrPortFrom(p.addrs[len(p.addrs)-1], uint16(port))
	for deadline := time.Now().Add(60 * time.Second); ; {
		if getOnce(last, 200*time.Millisecond) == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("devicesim: %s does not answer after 60 s", last)
		}
	}
}

func (p *simProcess) pid() int { return p.cmd.Process.Pid }

func (p *simProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// getOnce sends one v2c Get of sysUpTime.0 and waits for any answer.
func getOnce(to netip.AddrPort, timeout time.Duration) error {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	defer c.Close()
	req := []byte{0x30, 0x29, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c',
		0xa0, 0x1c, 0x02, 0x04, 0x01, 0x02, 0x03, 0x04, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
		0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x05, 0x00}
	if _, err := c.Write(req); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if n < 2 || buf[0] != 0x30 {
		return errors.New("not an SNMP answer")
	}
	return nil
}

// freePort finds a UDP port free on every address.
func freePort() (int, error) {
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// cpuOf returns user+system CPU seconds of a process from /proc.
func cpuOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}
