package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/bench/internal/procfs"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp/mllptest"
)

// Loopback addresses of the flood benchmark: the flooding host, the host holding idle
// connections, the real sender.
const (
	benchFloodFrom  = "127.118.0.1" // with -flood-hosts N: 127.118.1.1 to 127.118.1.N
	benchIdleFrom   = "127.118.0.3"
	benchSenderFrom = "127.118.0.2"
)

// floodOptions are the -flood flags.
type floodOptions struct {
	collector   string // binary; empty: go build ./cmd/collector
	conns       int
	frameBytes  int
	redial      time.Duration
	idle        int
	duration    time.Duration
	sendEvery   time.Duration
	hl7Settings string // extra lines under hl7: in the collector's config
	hosts       int    // flooding addresses the connections are spread over
	senderFirst bool   // the real sender sends once before the flood: it is known
}

// runFlood starts the real collector binary with the default hl7 settings (or the
// extra ones given), floods its listener from one address with connections that each
// send a large frame and never end it, holds idle connections from a second address,
// and meanwhile has a real sender on a third address send a heartbeat every sendEvery
// (a new connection every 5 s). It reports the collector's resident set before and at
// its peak, and the time each acknowledgement took.
func runFlood(o floodOptions) error {
	if o.duration < 5*time.Second {
		return fmt.Errorf("-flood-duration %s: at least 5s", o.duration)
	}
	dir, err := os.MkdirTemp("", "hl7-flood-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.collector == "" {
		o.collector = filepath.Join(dir, "collector")
		if out, err := exec.Command("go", "build", "-o", o.collector, "./cmd/collector").CombinedOutput(); err != nil {
			return fmt.Errorf("building the collector: %v\n%s", err, out)
		}
	}
	cfg := filepath.Join(dir, "collector.yaml")
	yaml := "site: bench\nname: hl7-flood-bench\ncmdb:\n  url: http://127.0.0.1:1/graphql\n  token: bench\nhl7:\n  listen: 127.0.0.1:0\n"
	for _, l := range strings.Split(strings.TrimSpace(o.hl7Settings), ";") {
		if l = strings.TrimSpace(l); l != "" {
			yaml += "  " + l + "\n"
		}
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(o.collector, "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	// Read the log: the listener's and the metrics' addresses, then count the lines
	// about refused and closed connections.
	addrs := make(chan [2]string, 1)
	var logMu sync.Mutex
	refusedLines, logLines := 0, 0
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		hl7Addr := regexp.MustCompile(`msg="hl7 listening".* addr=(\S+)`)
		metricsAddr := regexp.MustCompile(`msg="collector metrics listening" addr=(\S+)`)
		var got [2]string
		for sc.Scan() {
			line := sc.Text()
			if m := metricsAddr.FindStringSubmatch(line); m != nil {
				got[1] = m[1]
			}
			if m := hl7Addr.FindStringSubmatch(line); m != nil {
				got[0] = m[1]
				addrs <- got
			}
			logMu.Lock()
			logLines++
			if strings.Contains(line, "too many connections") || strings.Contains(line, "mllp connection refused") ||
				strings.Contains(line, "mllp connection closed") {
				refusedLines++
			}
			logMu.Unlock()
		}
	}()
	var hl7Addr, metricsURL string
	select {
	case a := <-addrs:
		hl7Addr, metricsURL = a[0], "http://"+a[1]+"/metrics"
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the collector did not start listening within 30s")
	}
	pid := cmd.Process.Pid
	time.Sleep(time.Second)
	before := procfs.RSS(pid)

	pump := hl7test.Pump
	if o.senderFirst {
		c, err := mllptest.ClientFrom(context.Background(), hl7Addr, benchSenderFrom)
		if err != nil {
			return err
		}
		if _, err := c.Send(context.Background(), pump.Heartbeat("before")); err != nil {
			return fmt.Errorf("the sender's message before the flood: %w", err)
		}
		c.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			peak = max(peak, procfs.RSS(pid))
			time.Sleep(50 * time.Millisecond)
		}
	})
	var floods []*mllptest.Flooder
	from := benchFloodFrom
	if o.hosts > 1 {
		from = fmt.Sprintf("%d addresses from 127.118.1.1", o.hosts)
		for i := range o.hosts {
			floods = append(floods, mllptest.Start(ctx, mllptest.Flood{Addr: hl7Addr, From: fmt.Sprintf("127.118.1.%d", i+1),
				Conns: o.conns / o.hosts, FrameBytes: o.frameBytes, Redial: o.redial}))
		}
	} else {
		floods = append(floods, mllptest.Start(ctx, mllptest.Flood{Addr: hl7Addr, From: benchFloodFrom, Conns: o.conns, FrameBytes: o.frameBytes, Redial: o.redial}))
	}
	idle := mllptest.Start(ctx, mllptest.Flood{Addr: hl7Addr, From: benchIdleFrom, Conns: o.idle})
	fmt.Printf("collector %s, hl7 settings: %s\n", o.collector, cmp(o.hl7Settings, "defaults"))
	fmt.Printf("flood: %d connections from %s, each %d bytes of a frame never ended, redial %s; %d idle connections from %s; %s; sender known before: %v\n",
		o.conns, from, o.frameBytes, o.redial, o.idle, benchIdleFrom, o.duration, o.senderFirst)

	// The real sender starts once the flood is under way, and stops a second before
	// it ends, when the collector's metrics are read.
	time.Sleep(2 * time.Second)
	var acks []time.Duration
	var firstAA time.Duration // from the sender's first attempt
	failures := map[string]int{}
	senderStart := time.Now()
	sendCtx, sendCancel := context.WithTimeout(ctx, o.duration-3*time.Second)
	defer sendCancel()
	for i := 0; sendCtx.Err() == nil; i++ {
		connStart := time.Now()
		c, err := mllptest.ClientFrom(ctx, hl7Addr, benchSenderFrom)
		if err != nil {
			failures["dial"]++
			sleepCtx(sendCtx, o.sendEvery)
			continue
		}
		for j := 0; sendCtx.Err() == nil && time.Since(connStart) < 5*time.Second; j++ {
			start := time.Now()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			b, err := c.Send(sctx, pump.Heartbeat(fmt.Sprintf("b%d-%d", i, j)))
			scancel()
			if err != nil {
				if strings.Contains(err.Error(), "timeout") {
					failures["no answer in 5s"]++
				} else {
					failures["connection closed or refused"]++
				}
				sleepCtx(sendCtx, o.sendEvery)
				break
			}
			if a, err := hl7.ReadAck(b); err != nil || a.Code != hl7.AA {
				failures["not AA"]++
			} else {
				acks = append(acks, time.Since(start))
				if firstAA == 0 {
					firstAA = time.Since(senderStart)
				}
			}
			sleepCtx(sendCtx, o.sendEvery)
		}
		c.Close()
	}
	metrics := scrapeText(metricsURL)
	var fs mllptest.Stats
	for _, f := range floods {
		f.Wait()
		st := f.Stats()
		fs.Dials, fs.DialErrors, fs.Closed, fs.BytesSent = fs.Dials+st.Dials, fs.DialErrors+st.DialErrors, fs.Closed+st.Closed, fs.BytesSent+st.BytesSent
	}
	idle.Wait()
	wg.Wait()
	is := idle.Stats()

	slices.Sort(acks)
	fmt.Printf("collector resident set: %d MB before, peak %d MB: growth %d MB\n", before>>20, peak>>20, (peak-before)>>20)
	fmt.Printf("real sender: first AA %s after its first attempt; %d acknowledged, time to AA p50 %s p99 %s max %s; failures %v\n",
		firstAA.Round(time.Millisecond), len(acks), pct(acks, 0.5), pct(acks, 0.99), pct(acks, 1), failures)
	fmt.Printf("flood: %d dials (%d failed), %d closed by the collector, %d MB sent; idle: %d dials, %d closed\n",
		fs.Dials, fs.DialErrors, fs.Closed, fs.BytesSent>>20, is.Dials, is.Closed)
	logMu.Lock()
	fmt.Printf("collector log: %d lines about refused/closed connections (%d lines in all)\n", refusedLines, logLines)
	logMu.Unlock()
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "medcmdb_hl7_connections") || strings.HasPrefix(l, "medcmdb_hl7_partial") {
			fmt.Println("  " + l)
		}
	}
	return nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func scrapeText(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
