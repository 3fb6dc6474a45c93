package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp/mllptest"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// Loopback addresses of this test (Linux answers all of 127.0.0.0/8): the flooding
// host, the host holding idle connections, and the real sender.
const (
	floodFrom  = "127.116.0.1"
	idleFrom   = "127.116.0.3"
	senderFrom = "127.116.0.2"
)

// TestHL7FloodOfPartialFramesKeepsRealSendersServed runs the built collector with the
// default hl7 limits and floods its MLLP listener from one address: 1,000 connections,
// each sending 1 MiB of a frame that never ends and dialling again 500 ms after the
// collector closes it, plus 300 idle connections from a second address. A real pump on
// a third address, never seen before, must get its acknowledgements (ORU^R01, NMD^N02,
// then on a new connection) within 5 s each, and the collector must grow by less than
// 200 MB (peak resident set, /proc VmHWM, over the resident set before the flood). The
// refusals are counted in metrics and logged once per reason and interval, not once
// per connection.
func TestHL7FloodOfPartialFramesKeepsRealSendersServed(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	// Nothing listens at the cmdb URL: the collector keeps what it sees in memory and
	// retries, which this test does not look at.
	writeFile(t, cfg, `site: e2e
name: e2e-hl7-flood
cmdb:
  url: http://127.0.0.1:1/graphql
  token: flood-test
hl7:
  listen: 127.0.0.1:0
`)
	col := testkit.Start(t, testkit.Binary(t, "collector"), "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	addr := col.WaitFor(`msg="hl7 listening".* addr=(\S+)`, 30*time.Second)
	metrics := "http://" + col.WaitFor(`msg="collector metrics listening" addr=(\S+)`, 5*time.Second) + "/metrics"
	time.Sleep(500 * time.Millisecond)
	before, _ := procMemory(t, col.Pid())

	// Sample the resident set while the flood runs; VmHWM catches peaks between samples.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var peak int64
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for ctx.Err() == nil {
			rss, _ := procMemory(t, col.Pid())
			peak = max(peak, rss)
			time.Sleep(100 * time.Millisecond)
		}
	})
	flood := mllptest.Start(ctx, mllptest.Flood{Addr: addr, From: floodFrom, Conns: 1000, FrameBytes: 1 << 20, Redial: 500 * time.Millisecond})
	idle := mllptest.Start(ctx, mllptest.Flood{Addr: addr, From: idleFrom, Conns: 300})
	time.Sleep(3 * time.Second)

	pump := hl7test.Pump
	ack := func(c interface {
		Send(context.Context, []byte) ([]byte, error)
	}, msg []byte, want ...string) time.Duration {
		t.Helper()
		start := time.Now()
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		b, err := c.Send(sctx, msg)
		if err != nil {
			t.Fatalf("real sender during the flood: %v (after %s)", err, time.Since(start))
		}
		a, err := hl7.ReadAck(b)
		if err != nil || !contains(want, a.Code) {
			t.Fatalf("real sender during the flood: acknowledgement %+v (%v), want %v", a, err, want)
		}
		return time.Since(start)
	}
	dialStart := time.Now()
	sender, err := mllptest.ClientFrom(ctx, addr, senderFrom)
	if err != nil {
		t.Fatalf("real sender could not connect during the flood: %v", err)
	}
	defer sender.Close()
	// PCD-01 asks for enhanced mode: its accept is CA. The first time counts from the dial.
	ack(sender, pump.PCD01("flood-1"), hl7.CA)
	d1 := time.Since(dialStart)
	time.Sleep(2 * time.Second)
	d2 := ack(sender, pump.Heartbeat("flood-2"), hl7.AA)
	time.Sleep(2 * time.Second)
	again, err := mllptest.ClientFrom(ctx, addr, senderFrom)
	if err != nil {
		t.Fatalf("real sender could not reconnect during the flood: %v", err)
	}
	defer again.Close()
	d3 := ack(again, pump.Heartbeat("flood-3"), hl7.AA)
	time.Sleep(2 * time.Second)

	m, err := scrapeURL(metrics)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	flood.Wait()
	idle.Wait()
	sampling.Wait()
	after, hwm := procMemory(t, col.Pid())
	peak = max(peak, hwm)
	growth := peak - before
	fs, is := flood.Stats(), idle.Stats()
	t.Logf("collector RSS %d MB before, peak %d MB (growth %d MB), %d MB after; acks in %s, %s, %s; "+
		"flood: %d dials, %d closed by the collector, %d MB sent; idle: %d dials, %d closed",
		before>>20, peak>>20, growth>>20, after>>20, d1.Round(time.Millisecond), d2.Round(time.Millisecond), d3.Round(time.Millisecond),
		fs.Dials, fs.Closed, fs.BytesSent>>20, is.Dials, is.Closed)
	t.Logf("metrics: refused %v per peer, %v reserved; closed %v budget, %v frame timeout; partial frame bytes %v of %v",
		m[`medcmdb_hl7_connections_refused_total{reason="per_peer"}`], m[`medcmdb_hl7_connections_refused_total{reason="reserved_for_known"}`],
		m[`medcmdb_hl7_connections_closed_total{reason="partial_frame_budget"}`], m[`medcmdb_hl7_connections_closed_total{reason="frame_timeout"}`],
		m["medcmdb_hl7_partial_frame_bytes"], m["medcmdb_hl7_partial_frame_budget_bytes"])
	if growth >= 200<<20 {
		t.Errorf("the collector grew by %d MB under the flood, want < 200 MB", growth>>20)
	}
	if fs.BytesSent < 200<<20 {
		t.Errorf("the flood sent only %d MB: it did not test what it means to", fs.BytesSent>>20)
	}
	if m[`medcmdb_hl7_connections_refused_total{reason="per_peer"}`] == 0 ||
		m[`medcmdb_hl7_connections_closed_total{reason="partial_frame_budget"}`] == 0 {
		t.Errorf("refusals not counted: %v", m)
	}
	if p, b := m["medcmdb_hl7_partial_frame_bytes"], m["medcmdb_hl7_partial_frame_budget_bytes"]; b == 0 || p > b {
		t.Errorf("partial frame bytes %v over the budget %v", p, b)
	}
	// Thousands of refusals, a handful of lines: one per reason and 10 s interval, the
	// later ones with a count.
	logs := col.Output()
	if n := strings.Count(logs, "mllp connection refused") + strings.Count(logs, "mllp connection closed"); n > 12 {
		t.Errorf("%d log lines about refused or closed connections, want one per reason and interval", n)
	}
	if err := col.Stop(); err != nil {
		t.Errorf("collector after the flood: %v", err)
	}
	// The counts of what was not logged line by line come at the end of each interval,
	// and at the latest when the collector stops.
	if !strings.Contains(col.Output(), "reason=per_peer limit=100 peer="+floodFrom+" suppressed=") {
		t.Errorf("no summary line with the count of refusals not logged one by one")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// procMemory returns the resident set and its high-water mark of pid, from /proc.
func procMemory(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the collector's memory: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}
