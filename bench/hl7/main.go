// Command hl7 measures the collector's HL7 listener on loopback: sustained messages
// per second with acknowledgements over persistent connections, against a bare
// MLLP-shaped ping-pong in the same run; acknowledgement latency at a fixed rate; and
// memory per idle connection. With -flood, it measures instead the real collector
// binary under a flood of partial frames and idle connections: its memory growth and a
// real sender's time to AA. See bench/hl7.md.
//
//	go run ./bench/hl7
//	go run ./bench/hl7 -flood [-collector /path/to/collector]
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func main() {
	conns := flag.Int("conns", 50, "persistent connections for the throughput test")
	slice := flag.Duration("slice", time.Second, "length of one throughput slice")
	rounds := flag.Int("rounds", 20, "alternating baseline/HL7 throughput slices")
	rate := flag.Int("rate", 2000, "messages per second for the latency test")
	latencySlices := flag.Int("latency-slices", 10, "alternating baseline/HL7 latency slices")
	idle := flag.Int("idle", 2000, "idle connections for the memory test")
	var fo floodOptions
	floodMode := flag.Bool("flood", false, "instead: flood the real collector binary's listener with partial frames (see bench/hl7.md)")
	flag.StringVar(&fo.collector, "collector", "", "with -flood: collector binary (default: go build ./cmd/collector)")
	flag.IntVar(&fo.conns, "flood-conns", 1000, "with -flood: connections from the flooding address")
	flag.IntVar(&fo.frameBytes, "flood-frame", 1<<20, "with -flood: bytes of the frame each flood connection starts and never ends")
	flag.DurationVar(&fo.redial, "flood-redial", 500*time.Millisecond, "with -flood: a closed flood connection dials again after this")
	flag.IntVar(&fo.idle, "flood-idle", 300, "with -flood: idle connections from a second address")
	flag.DurationVar(&fo.duration, "flood-duration", 20*time.Second, "with -flood: how long the flood lasts")
	flag.DurationVar(&fo.sendEvery, "flood-send-every", 250*time.Millisecond, "with -flood: the real sender's message interval")
	flag.StringVar(&fo.hl7Settings, "flood-hl7", "", "with -flood: extra hl7 settings, ';'-separated (\"max_connections_per_peer: 10\")")
	flag.IntVar(&fo.hosts, "flood-hosts", 1, "with -flood: spread the flood connections over this many addresses")
	flag.BoolVar(&fo.senderFirst, "flood-sender-known", false, "with -flood: the real sender sends one message before the flood")
	flag.Parse()
	if *floodMode {
		if err := runFlood(fo); err != nil {
			fmt.Fprintln(os.Stderr, "hl7 flood bench:", err)
			os.Exit(1)
		}
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startListener(ctx)
	raw := startRawPingPong(ctx)
	msgs := deviceMessages(*conns)
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s; message %d bytes (IHE PCD-01 ORU^R01), ack %d bytes\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), len(msgs[0]), len(ackSample(l.Addr().String(), msgs[0])))

	fmt.Printf("\n== throughput: %d persistent connections per target, one message in flight each;\n"+
		"   %d alternating %s slices per target (the machine is shared: alternation spreads the noise)\n", *conns, *rounds, *slice)
	base, full := newLoad(raw.String(), msgs), newLoad(l.Addr().String(), msgs)
	var ratios []float64
	var bt, ft total
	for range *rounds {
		b, f := base.run(*slice), full.run(*slice)
		bt.add(b)
		ft.add(f)
		ratios = append(ratios, f.rate()/b.rate())
	}
	slices.Sort(ratios)
	fmt.Printf("bare MLLP ping-pong: %8.0f msg/s  %5.1f µs CPU/msg (client and server, this process)\n", bt.rate(), bt.cpuPerMsg())
	fmt.Printf("HL7 listener:        %8.0f msg/s  %5.1f µs CPU/msg\n", ft.rate(), ft.cpuPerMsg())
	fmt.Printf("ratio HL7/bare: overall %.2f, median of slices %.2f (min %.2f, max %.2f); CPU per message ratio %.2f\n",
		ft.rate()/bt.rate(), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], bt.cpuPerMsg()/ft.cpuPerMsg())
	fmt.Printf("if this process had both cores to itself: bare %.0f msg/s, HL7 %.0f msg/s\n",
		2e6/bt.cpuPerMsg(), 2e6/ft.cpuPerMsg())
	base.close()
	full.close()

	fmt.Printf("\n== latency: %d msg/s over %d connections, %d alternating %s slices per target\n"+
		"   (from each message's scheduled send time to its ACK read, so a stall counts)\n", *rate, *conns, *latencySlices, *slice)
	base, full = newLoad(raw.String(), msgs), newLoad(l.Addr().String(), msgs)
	var bl, fl []time.Duration
	for range *latencySlices {
		bl = append(bl, latency(base, *rate, *slice)...)
		fl = append(fl, latency(full, *rate, *slice)...)
	}
	for _, r := range []struct {
		name string
		lat  []time.Duration
	}{{"bare MLLP ping-pong", bl}, {"HL7 listener", fl}} {
		slices.Sort(r.lat)
		fmt.Printf("%-20s n=%d p50 %s p90 %s p99 %s max %s\n", r.name, len(r.lat),
			pct(r.lat, 0.50), pct(r.lat, 0.90), pct(r.lat, 0.99), pct(r.lat, 1))
	}
	base.close()
	full.close()

	fmt.Printf("\n== memory per idle connection (%d connections, each after one message)\n", *idle)
	idleMemory(ctx, l.Addr().String(), msgs[0], *idle)
}

// countingEmitter stands in for the reporter: the benchmark measures the listener.
type countingEmitter struct{ n atomic.Int64 }

func (c *countingEmitter) Emit(observation.Observation) { c.n.Add(1) }

func startListener(ctx context.Context) *discovery.HL7Listener {
	cfg := discovery.DefaultConfig()
	cfg.Name, cfg.Site = "bench", "bench"
	cfg.HL7.Listen = "127.0.0.1:0"
	cfg.HL7.MaxConnections = 100000
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := discovery.NewHL7Listener(&cfg, &countingEmitter{}, discovery.HL7Options{Logger: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go l.Run(ctx)
	return l
}

// startRawPingPong is the baseline: read a frame up to its end block, answer a fixed
// acknowledgement-sized frame. No parsing, no framing package, no bookkeeping.
func startRawPingPong(ctx context.Context) net.Addr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	reply := mllp.AppendFrame(nil, bytes.Repeat([]byte("A"), 180))
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					_, err := r.ReadSlice(mllp.EndBlock)
					if err == bufio.ErrBufferFull {
						continue
					}
					if err != nil {
						return
					}
					if _, err := c.Write(reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr()
}

// deviceMessages returns one PCD-01 per connection, each from its own device.
func deviceMessages(n int) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		d := hl7test.Pump
		d.EUI64 = fmt.Sprintf("0012A1FFFE%06X", i)
		d.Serial = fmt.Sprintf("SN-%05d", i)
		out[i] = d.PCD01(fmt.Sprintf("B%06d", i))
	}
	return out
}

func ackSample(addr string, msg []byte) []byte {
	c, err := mllp.Dial(context.Background(), addr, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	b, err := c.Send(context.Background(), msg)
	if err != nil {
		panic(err)
	}
	return b
}

// load is a set of persistent connections to one target.
type load struct {
	clients []*mllp.Client
	msgs    [][]byte
}

func newLoad(addr string, msgs [][]byte) *load {
	l := &load{msgs: msgs}
	for range msgs {
		c, err := mllp.Dial(context.Background(), addr, nil)
		if err != nil {
			panic(err)
		}
		l.clients = append(l.clients, c)
	}
	return l
}

func (l *load) close() {
	for _, c := range l.clients {
		c.Close()
	}
}

// result is one slice: messages acknowledged, wall time, CPU time of this process.
type result struct {
	msgs      int64
	wall, cpu time.Duration
}

func (r result) rate() float64 { return float64(r.msgs) / r.wall.Seconds() }

type total struct{ result }

func (t *total) add(r result) { t.msgs += r.msgs; t.wall += r.wall; t.cpu += r.cpu }
func (t *total) cpuPerMsg() float64 {
	return float64(t.cpu.Microseconds()) / float64(t.msgs)
}

// run has every connection send, wait for its ACK and send again, for d.
func (l *load) run(d time.Duration) result {
	var n atomic.Int64
	var wg sync.WaitGroup
	cpu0, start := cpuTime(), time.Now()
	deadline := start.Add(d)
	for i, c := range l.clients {
		m := l.msgs[i]
		wg.Go(func() {
			ctx := context.Background()
			k := int64(0)
			for time.Now().Before(deadline) {
				if err := c.Write(ctx, m); err != nil {
					panic(err)
				}
				if _, err := c.Read(ctx); err != nil {
					panic(err)
				}
				k++
			}
			n.Add(k)
		})
	}
	wg.Wait()
	return result{msgs: n.Load(), wall: time.Since(start), cpu: cpuTime() - cpu0}
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latency sends at a fixed total rate spread over the connections for d and measures
// from each message's scheduled time to its ACK, so a stall counts against us.
func latency(l *load, rate int, d time.Duration) []time.Duration {
	per := time.Duration(float64(time.Second) * float64(len(l.clients)) / float64(rate))
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now().Add(20 * time.Millisecond)
	for i, c := range l.clients {
		m := l.msgs[i]
		wg.Go(func() {
			ctx := context.Background()
			var local []time.Duration
			// Stagger the connections evenly over one period.
			next := start.Add(per * time.Duration(i) / time.Duration(len(l.clients)))
			for next.Before(start.Add(d)) {
				time.Sleep(time.Until(next))
				if err := c.Write(ctx, m); err != nil {
					panic(err)
				}
				if _, err := c.Read(ctx); err != nil {
					panic(err)
				}
				local = append(local, time.Since(next))
				next = next.Add(per)
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}

// idleMemory opens n connections to the listener, sends one message on each, and
// reports the growth of the Go heap and stacks per connection, minus the same number
// of connections to a listener that only accepts (the client side's own cost).
func idleMemory(ctx context.Context, addr string, msg []byte, n int) {
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer hold.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	measure := func(target string, send bool) float64 {
		before := goMemory()
		conns := make([]*mllp.Client, 0, n)
		for range n {
			c, err := mllp.Dial(ctx, target, nil)
			if err != nil {
				panic(err)
			}
			if send {
				if _, err := c.Send(ctx, msg); err != nil {
					panic(err)
				}
			}
			conns = append(conns, c)
		}
		time.Sleep(500 * time.Millisecond)
		after := goMemory()
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(500 * time.Millisecond)
		return float64(after-before) / float64(n)
	}
	clientOnly := measure(hold.Addr().String(), false)
	withServer := measure(addr, true)
	fmt.Printf("client side only: %6.0f B/conn; listener + client: %6.0f B/conn; listener: %6.0f B (%.1f KiB) per idle connection\n",
		clientOnly, withServer, withServer-clientOnly, (withServer-clientOnly)/1024)
	for _, c := range held {
		c.Close()
	}
}

// goMemory returns heap in use plus goroutine stacks, after a GC.
func goMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i].Round(time.Microsecond)
}
