package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/bench/snmpresponder"
	"github.com/medcmdb/medcmdb/internal/discovery"
)

func (m *runtimeMem) read() {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap = ms.HeapAlloc
}

const exporterConfig = `sys5:
  version: 2
  auth:
    community: public
  timeout: 1s
  retries: 1
  get:
    - 1.3.6.1.2.1.1.1.0
    - 1.3.6.1.2.1.1.2.0
    - 1.3.6.1.2.1.1.3.0
    - 1.3.6.1.2.1.1.5.0
    - 1.3.6.1.2.1.1.6.0
  metrics:
    - {name: sysDescr, oid: 1.3.6.1.2.1.1.1, type: DisplayString, help: sysDescr}
    - {name: sysObjectID, oid: 1.3.6.1.2.1.1.2, type: OctetString, help: sysObjectID}
    - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge, help: sysUpTime}
    - {name: sysName, oid: 1.3.6.1.2.1.1.5, type: DisplayString, help: sysName}
    - {name: sysLocation, oid: 1.3.6.1.2.1.1.6, type: DisplayString, help: sysLocation}
`

func runExporter(bin, base string, n, port, conc int, dur time.Duration) error {
	dir, err := os.MkdirTemp("", "snmpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "snmp.yml")
	if err := os.WriteFile(cfgPath, []byte(exporterConfig), 0o600); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--web.listen-address="+addr, "--log.level=error")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		if r, err := client.Get("http://" + addr + "/"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			return fmt.Errorf("snmp_exporter did not start on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := netip.MustParseAddr(base)
	var ok, bad atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	cpu0 := cpuOf(cmd.Process.Pid)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				url := fmt.Sprintf("http://%s/snmp?module=sys5&target=%s:%d", addr, addrAt(b, rand.IntN(n)), port)
				r, err := client.Get(url)
				if err != nil {
					bad.Add(1)
					continue
				}
				body, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode == 200 && strings.Contains(string(body), "sysUpTime") {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	cpu := cpuOf(cmd.Process.Pid) - cpu0
	fmt.Printf("snmp_exporter: %d concurrent scrapes of the same 5 OIDs for %.0f s: %.0f scrapes/s ok, %d failed; exporter CPU %.2f cores (%.1f µs per scrape)\n",
		conc, el, float64(ok.Load())/el, bad.Load(), cpu/el, 1e6*cpu/max(float64(ok.Load()), 1))
	return nil
}

// latency measures device silent → DOWN observation delivered, with the reporter in
// the path (a counting sender stands for the cmdb).
func latency(args []string) error {
	fs := newFlagSet("latency")
	live := fs.Int("live", 1000, "live devices")
	dead := fs.Int("dead", 0, "devices that never answer")
	samples := fs.Int("samples", 200, "devices silenced, one every -spacing")
	spacing := fs.Duration("spacing", 100*time.Millisecond, "time between silencing two devices")
	base := fs.String("base", "127.66.0.1", "first device address")
	transient := fs.Bool("transient", false, "silence devices right after adding the dead ones")
	fs.Parse(args)
	b := netip.MustParseAddr(*base)
	r, err := snmpresponder.Start(0, "public", inRange(b, *live), 2)
	if err != nil {
		return err
	}
	defer r.Close()
	var mu sync.Mutex
	muted := map[string]time.Time{}
	var lat []time.Duration
	var downs atomic.Int64
	snk := &sink{onDown: func(ip string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		downs.Add(1)
		if t0, ok := muted[ip]; ok {
			lat = append(lat, at.Sub(t0))
			delete(muted, ip)
		}
	}}
	c, err := newCollector(fmt.Sprintf(`snmp:
  port: %d
  timeout: 1s
  retries: 1
  poll_interval: 5s
  down_after: 2
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
`, r.Port()), snk, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i := range *live + *dead {
		c.Poller().Add(foundAt(addrAt(b, i), r.Port()))
	}
	// Settle: every dead device DOWN (steady state), unless -transient asks to silence
	// devices while the dead ones are still being found out.
	wstart := time.Now()
	for !*transient && downs.Load() < int64(*dead) && time.Since(wstart) < 2*time.Minute {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(6 * time.Second)
	settled := time.Since(wstart)
	picks := rand.Perm(*live)[:*samples]
	for _, i := range picks {
		a := addrAt(b, i)
		mu.Lock()
		muted[a.String()] = time.Now()
		mu.Unlock()
		r.Mute(a)
		time.Sleep(*spacing)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(muted)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("latency: %d live + %d dead devices (settled %.0f s, transient=%v), poll 5s, down_after 2, timeout 1s, retries 1: %d/%d detected; p50 %.2f s, p99 %.2f s, max %.2f s\n",
		*live, *dead, settled.Seconds(), *transient, len(lat), *samples, q(0.50).Seconds(), q(0.99).Seconds(), q(1).Seconds())
	return nil
}

func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ExitOnError) }

var benchCred = &discovery.Credential{Name: "v2", Version: "2c", Community: "public"}

func foundAt(a netip.Addr, port int) discovery.Found {
	return discovery.Found{Target: discovery.Target{Host: a.String(), Port: uint16(port)}, Cred: benchCred}
}
