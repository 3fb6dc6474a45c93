// Command devicesimhl7-bench measures what the HL7 senders add to a simulated
// hospital: `devicesim --devices N` without HL7 (the baseline) and then with every
// HL7 device sending to the collector's real HL7 listener (run in this process), in
// the same invocation: start time, RSS, CPU per message, message rate, ACKs.
//
//	go run ./bench/devicesimhl7 --devices 100000 --interval 10s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/bench/internal/procfs"
	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func main() {
	devices := flag.Int("devices", 100000, "simulated devices")
	interval := flag.Duration("interval", 10*time.Second, "HL7 interval of each device")
	measure := flag.Duration("measure", 30*time.Second, "length of the measured window")
	bin := flag.String("devicesim", "", "devicesim binary (default: go build ./cmd/devicesim)")
	flag.Parse()
	if err := run(*devices, *interval, *measure, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "devicesimhl7-bench:", err)
		os.Exit(1)
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Emit(observation.Observation) { c.n.Add(1) }

func run(n int, interval, measure time.Duration, bin string) error {
	dir, err := os.MkdirTemp("", "devicesimhl7-bench-")
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
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: 1, Devices: n})
	if err != nil {
		return err
	}
	hl7Devices := 0
	for _, d := range h.Devices {
		if d.Class.SpeaksHL7() {
			hl7Devices++
		}
	}

	// The receiver: the collector's own HL7 listener, whose tracker says who it heard.
	cfg := discovery.DefaultConfig()
	cfg.Name, cfg.Site = "bench", h.Sites[0].Name
	cfg.HL7.Listen = "127.0.0.1:0"
	cfg.HL7.HeartbeatTimeout = 10 * time.Minute
	cfg.Refresh = time.Hour
	var obs counter
	l, err := discovery.NewHL7Listener(&cfg, &obs, discovery.HL7Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)

	fmt.Printf("# devicesim --devices %d: %d HL7 devices, interval %s, measured over %s\n\n", n, hl7Devices, interval, measure)
	fmt.Printf("| | without HL7 | with HL7 senders |\n| --- | --- | --- |\n")

	// Baseline: the same hospital, SNMP agents only.
	base, err := start(bin, n, "")
	if err != nil {
		return err
	}
	bc0 := procfs.CPUTicks(base.pid)
	time.Sleep(measure)
	baseRSS, baseCPU, baseLive := procfs.RSS(base.pid), procfs.CPUTicks(base.pid)-bc0, base.live.Load()
	base.stop()

	sim, err := start(bin, n, l.Addr().String(), "--hl7-interval", interval.String())
	if err != nil {
		return err
	}
	defer sim.stop()
	t0 := time.Now()
	for l.Tracker().Len() < hl7Devices {
		if time.Since(t0) > 2*interval+time.Minute {
			return fmt.Errorf("the listener heard %d of %d HL7 devices", l.Tracker().Len(), hl7Devices)
		}
		time.Sleep(50 * time.Millisecond)
	}
	heard := time.Since(t0)
	time.Sleep(interval) // every device past its first (full) message
	s0, c0, w0 := sim.stats(), procfs.CPUTicks(sim.pid), time.Now()
	time.Sleep(measure)
	s1, c1, el := sim.stats(), procfs.CPUTicks(sim.pid), time.Since(w0)
	sent := float64(s1.Sent - s0.Sent)
	cpu := float64(c1-c0) / 100
	withRSS := procfs.RSS(sim.pid)

	fmt.Printf("| start (exec → ready) | %s | %s |\n", base.startup, sim.startup)
	fmt.Printf("| every HL7 device heard by the listener | | %s after ready |\n", heard.Round(time.Millisecond))
	fmt.Printf("| MLLP connections | | %d |\n", s1.Connections)
	fmt.Printf("| RSS after %s | %s | %s (+%.0f B per HL7 device) |\n", measure, mib(baseRSS), mib(withRSS),
		float64(withRSS-baseRSS)/float64(hl7Devices))
	fmt.Printf("| live heap after the last GC | %d MB | %d MB (+%.0f B per HL7 device) |\n", baseLive, sim.live.Load(),
		float64(sim.live.Load()-baseLive)*(1<<20)/float64(hl7Devices))
	fmt.Printf("| CPU | %.2f %% of one core | %.1f %% of one core |\n", float64(baseCPU)/100/measure.Seconds()*100, 100*cpu/el.Seconds())
	fmt.Printf("| messages | | %.0f/s (expected %.0f/s), %.1f µs devicesim CPU per message |\n",
		sent/el.Seconds(), float64(hl7Devices)/interval.Seconds(), 1e6*cpu/sent)
	fmt.Printf("| acknowledgements in the window | | AA %d, AE %d, AR %d, failed %d, unsent %d |\n",
		s1.AA-s0.AA, s1.AE-s0.AE, s1.AR-s0.AR, s1.Failed-s0.Failed, s1.Unsent-s0.Unsent)
	fmt.Printf("| listener | | %d devices tracked, %d observations emitted |\n", l.Tracker().Len(), obs.n.Load())
	return nil
}

type proc struct {
	cmd     *exec.Cmd
	pid     int
	startup string
	control string
	live    atomic.Int64 // heap live after the last GC, in MB (gctrace)
}

type hl7Stats struct {
	Connections                      int
	Sent, AA, AE, AR, Failed, Unsent int64
}

func (p *proc) stats() hl7Stats {
	var out struct {
		HL7 hl7Stats `json:"hl7"`
	}
	resp, err := http.Get(p.control + "/stats")
	if err == nil {
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&out)
	}
	return out.HL7
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// start runs devicesim and waits for its ready line (its own startup figure).
func start(bin string, n int, hl7 string, more ...string) (*proc, error) {
	ctl, err := freeTCP()
	if err != nil {
		return nil, err
	}
	args := []string{"--devices", strconv.Itoa(n), "--listen", "0.0.0.0:0", "--control-listen", ctl}
	if hl7 != "" {
		args = append(args, "--hl7", hl7)
	}
	cmd := exec.Command(bin, append(args, more...)...)
	// gctrace tells the live heap after each collection: RSS also holds garbage the
	// collector lets pile up to twice the live heap (GOGC=100).
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, control: "http://" + ctl}
	ready := regexp.MustCompile(`msg="devicesim ready".*startup=(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			p.startup = m[1]
			break
		}
	}
	gc := regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)
	go func() {
		for sc.Scan() {
			if m := gc.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseInt(m[3], 10, 64)
				p.live.Store(v)
			}
		}
	}()
	if p.startup == "" {
		p.stop()
		return nil, errors.New("devicesim exited before it was ready")
	}
	return p, nil
}

func freeTCP() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
