// Command devicesim-bench measures the simulated hospital: start time, memory and CPU
// of `devicesim --devices N` at idle and under an SNMP polling load, with net-snmp's
// snmpd under the same load as the baseline in the same invocation.
//
//	go run ./bench/devicesim --devices 100000 --duration 15s
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/bench/internal/procfs"
	"github.com/medcmdb/medcmdb/internal/devicesim"
)

func main() {
	devices := flag.Int("devices", 100000, "simulated devices")
	duration := flag.Duration("duration", 15*time.Second, "length of each load phase")
	idle := flag.Duration("idle", 10*time.Second, "length of the idle phase")
	workers := flag.Int("workers", 64, "concurrent requests in flight")
	v3workers := flag.Int("v3-workers", 16, "concurrent v3 sessions")
	bin := flag.String("devicesim", "", "devicesim binary (default: go build ./cmd/devicesim)")
	flag.Parse()
	if err := run(*devices, *duration, *idle, *workers, *v3workers, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "devicesim-bench:", err)
		os.Exit(1)
	}
}

func run(n int, dur, idle time.Duration, workers, v3workers int, bin string) error {
	dir, err := os.MkdirTemp("", "devicesim-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "devicesim")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/devicesim").CombinedOutput(); err != nil {
			return fmt.Errorf("building devicesim: %v\n%s", err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: 1, Devices: n})
	if err != nil {
		return err
	}
	addrs := make([]netip.AddrPort, len(h.Devices))
	for i, d := range h.Devices {
		addrs[i] = netip.AddrPortFrom(d.IP(), uint16(port))
	}

	fmt.Printf("# devicesim --devices %d (load phases %s, %d requests in flight)\n\n", n, dur, workers)
	start := time.Now()
	cmd := exec.Command(bin, "--devices", strconv.Itoa(n), "--listen", fmt.Sprintf("0.0.0.0:%d", port), "--control-listen", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	ready := regexp.MustCompile(`msg="devicesim ready".*startup=(\S+)`)
	sc := bufio.NewScanner(stderr)
	var inProcess string
	for sc.Scan() {
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			inProcess = m[1]
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if inProcess == "" {
		return errors.New("devicesim exited before it was ready")
	}
	// Ready means answering: time the first answer from the last device.
	if _, err := getOnce(addrs[len(addrs)-1], 5*time.Second); err != nil {
		return fmt.Errorf("last device does not answer: %w", err)
	}
	wall := time.Since(start)
	pid := cmd.Process.Pid
	fmt.Printf("| phase | figure |\n| --- | --- |\n")
	fmt.Printf("| start (exec → last device answers) | %s (in-process: %s) |\n", wall.Round(time.Millisecond), inProcess)
	fmt.Printf("| RSS after start | %s (%.0f B/device) |\n", mib(procfs.RSS(pid)), float64(procfs.RSS(pid))/float64(n))

	t0 := procfs.CPUTicks(pid)
	time.Sleep(idle)
	fmt.Printf("| idle CPU over %s | %.2f %% of one core |\n", idle, 100*float64(procfs.CPUTicks(pid)-t0)/100/idle.Seconds())
	fmt.Printf("| RSS at idle | %s |\n", mib(procfs.RSS(pid)))

	// A load sets itself up, then calls begin for the context whose lifetime is timed.
	phase := func(name string, load func(begin func() context.Context) result) result {
		var c0 int64
		var cancel context.CancelFunc = func() {}
		r := load(func() context.Context {
			var ctx context.Context
			ctx, cancel = context.WithTimeout(context.Background(), dur)
			c0 = procfs.CPUTicks(pid)
			return ctx
		})
		cancel()
		cpu := float64(procfs.CPUTicks(pid)-c0) / 100 / r.elapsed.Seconds()
		fmt.Printf("| %s | %.0f answers/s, p50 %s, p99 %s, %d errors; devicesim CPU %.0f %% of one core, %.1f µs CPU/answer, RSS %s |\n",
			name, r.rate(), r.p(50), r.p(99), r.timeouts, 100*cpu, 1e6*cpu/r.rate(), mib(procfs.RSS(pid)))
		if r.firstErr != "" {
			fmt.Printf("| (first error) | %s |\n", r.firstErr)
		}
		return r
	}
	v2 := phase("v2c Get, 5 system OIDs, round robin over all devices", func(begin func() context.Context) result {
		return getLoad(begin(), addrs, workers, gosnmp.GetRequest)
	})
	phase("v2c GetBulk of ifTable (25 repetitions)", func(begin func() context.Context) result {
		return getLoad(begin(), addrs, workers, gosnmp.GetBulkRequest)
	})
	phase(fmt.Sprintf("v3 SHA/AES Get of sysName + sysUpTime, %d gosnmp sessions", v3workers*50), func(begin func() context.Context) result {
		return v3Load(begin, addrs, v3workers)
	})

	// Baseline: net-snmp's snmpd under the same v2c load, one agent.
	base, err := snmpdBaseline(dir, dur, workers)
	if err != nil {
		fmt.Printf("\nbaseline skipped: %v\n", err)
		return nil
	}
	fmt.Printf("| baseline: net-snmp snmpd, same v2c Get load on its one address | %.0f answers/s, p50 %s, p99 %s |\n", base.rate(), base.p(50), base.p(99))
	fmt.Printf("\nratio devicesim / snmpd (v2c Get answers per second): %.2f\n", v2.rate()/base.rate())
	return nil
}

type result struct {
	firstErr    string
	n, timeouts int64
	elapsed     time.Duration
	lat         []time.Duration
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) p(q int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[min(len(r.lat)-1, len(r.lat)*q/100)].Round(time.Microsecond)
}

var systemOIDs = []string{".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0"}

func request(typ gosnmp.PDUType, id uint32) []byte {
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: typ, RequestID: id,
		MaxRepetitions: 25, Logger: gosnmp.NewLogger(nil)}
	oids := systemOIDs
	if typ == gosnmp.GetBulkRequest {
		oids = []string{".1.3.6.1.2.1.2.2.1"}
	}
	for _, o := range oids {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		panic(err)
	}
	return b
}

// getLoad keeps `workers` requests in flight, each worker on its own socket, sending
// pre-encoded requests to the devices in turn: the generator costs little CPU, so the
// agent is what is measured.
func getLoad(ctx context.Context, addrs []netip.AddrPort, workers int, typ gosnmp.PDUType) result {
	var next atomic.Uint64
	var mu sync.Mutex
	var total result
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return
			}
			defer c.Close()
			req := request(typ, uint32(w+1))
			buf := make([]byte, 65536)
			var r result
			for ctx.Err() == nil {
				a := addrs[next.Add(1)%uint64(len(addrs))]
				t := time.Now()
				if _, err := c.WriteToUDPAddrPort(req, a); err != nil {
					continue
				}
				_ = c.SetReadDeadline(t.Add(time.Second))
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					r.timeouts++
					continue
				}
				r.n++
				r.lat = append(r.lat, time.Since(t))
			}
			mu.Lock()
			total.n += r.n
			total.timeouts += r.timeouts
			total.lat = append(total.lat, r.lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

// v3Load gives each worker authPriv sessions to 50 devices, with engine discovery and
// key localisation done before the clock starts (a poller keeps its sessions), then
// polls them in turn until ctx ends.
func v3Load(begin func() context.Context, addrs []netip.AddrPort, workers int) result {
	const perWorker = 50
	sessions := make([][]*gosnmp.GoSNMP, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				a := addrs[rand.IntN(len(addrs))]
				g := &gosnmp.GoSNMP{Target: a.Addr().String(), Port: a.Port(), Version: gosnmp.Version3, Timeout: time.Second,
					Retries: 1, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv, Context: context.Background(),
					SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "biomed", AuthenticationProtocol: gosnmp.SHA,
						AuthenticationPassphrase: "biomed-auth-pass", PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "biomed-priv-pass"}}
				if g.Connect() != nil {
					continue
				}
				if _, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"}); err != nil {
					g.Conn.Close()
					continue
				}
				sessions[w] = append(sessions[w], g)
			}
		})
	}
	wg.Wait()
	ctx := begin()
	for _, ss := range sessions {
		for _, g := range ss {
			g.Context = ctx
		}
	}
	var mu sync.Mutex
	var total result
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			var r result
			// The context's own timer fires a little after its deadline: stop at the
			// deadline so requests cut short by it are not counted as errors.
			dl, _ := ctx.Deadline()
			for i := 0; time.Now().Before(dl) && len(sessions[w]) > 0; i++ {
				g := sessions[w][i%len(sessions[w])]
				t := time.Now()
				if _, err := g.Get([]string{".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.3.0"}); err != nil {
					if time.Now().Before(dl) {
						r.timeouts++
						if r.firstErr == "" {
							r.firstErr = err.Error()
						}
					}
					continue
				}
				r.n++
				r.lat = append(r.lat, time.Since(t))
			}
			for _, g := range sessions[w] {
				g.Conn.Close()
			}
			mu.Lock()
			total.n += r.n
			total.timeouts += r.timeouts
			total.lat = append(total.lat, r.lat...)
			if total.firstErr == "" {
				total.firstErr = r.firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

func getOnce(a netip.AddrPort, timeout time.Duration) (int, error) {
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		_, _ = c.WriteToUDPAddrPort(request(gosnmp.GetRequest, 1), a)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := c.ReadFromUDPAddrPort(buf); err == nil {
			return n, nil
		}
	}
	return 0, errors.New("no answer")
}

func snmpdBaseline(dir string, dur time.Duration, workers int) (result, error) {
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		bin = "/usr/sbin/snmpd"
		if _, err := os.Stat(bin); err != nil {
			return result{}, errors.New("snmpd is not installed")
		}
	}
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	conf := filepath.Join(dir, "snmpd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("agentaddress udp:127.0.0.1:%d\nrocommunity public 127.0.0.0/8\npersistentDir %s\nsysname baseline\nsyslocation bench\n", port, dir)), 0o600)
	cmd := exec.Command(bin, "-f", "-C", "-c", conf, "-Lf", filepath.Join(dir, "snmpd.log"))
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	a := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if _, err := getOnce(a, 10*time.Second); err != nil {
		return result{}, fmt.Errorf("snmpd not answering: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	return getLoad(ctx, []netip.AddrPort{a}, workers, gosnmp.GetRequest), nil
}

func freePort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
