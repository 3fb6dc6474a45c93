// Command hl7 measures the collector's HL7 listener on loopback: sustained messages
// per second with acknowledgements over persistent connections, against a bare
// MLLP-shaped ping-pong in the same run; acknowledgement latency at a fixed rate; and
// memory per idle connection. See bench/hl7.md.
//
//	go run ./bench/hl7 -duration 10s -rounds 2
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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
)

func main() {
	conns := flag.Int("conns", 50, "persistent connections for the throughput test")
	duration := flag.Duration("duration", 10*time.Second, "length of each throughput run")
	rounds := flag.Int("rounds", 2, "alternating baseline/HL7 throughput rounds")
	rate := flag.Int("rate", 2000, "messages per second for the latency test")
	latencyFor := flag.Duration("latency-duration", 10*time.Second, "length of the latency test")
	idle := flag.Int("idle", 2000, "idle connections for the memory test")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startListener(ctx)
	raw := startRawPingPong(ctx)
	msgs := deviceMessages(*conns)
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s; message %d bytes (IHE PCD-01 ORU^R01), ack %d bytes\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), len(msgs[0]), len(ackSample(l.Addr().String(), msgs[0])))

	fmt.Printf("\n== throughput: %d persistent connections, one message in flight each, %s per run\n", *conns, *duration)
	var base, full []float64
	for r := range *rounds {
		b := throughput(raw.String(), msgs, *duration)
		f := throughput(l.Addr().String(), msgs, *duration)
		base, full = append(base, b), append(full, f)
		fmt.Printf("round %d: bare MLLP ping-pong %8.0f msg/s   HL7 listener %8.0f msg/s   ratio %.2f\n", r+1, b, f, f/b)
	}
	fmt.Printf("mean:    bare MLLP ping-pong %8.0f msg/s   HL7 listener %8.0f msg/s   ratio %.2f\n",
		mean(base), mean(full), mean(full)/mean(base))

	fmt.Printf("\n== latency: %d msg/s over %d connections for %s (scheduled send to ACK read)\n", *rate, *conns, *latencyFor)
	for _, target := range []struct {
		name, addr string
	}{{"bare MLLP ping-pong", raw.String()}, {"HL7 listener", l.Addr().String()}} {
		lat := latency(target.addr, msgs, *rate, *latencyFor)
		fmt.Printf("%-20s n=%d p50 %s p90 %s p99 %s max %s\n", target.name, len(lat),
			pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 1))
	}

	fmt.Printf("\n== memory per idle connection (%d connections, each after one message)\n", *idle)
	idleMemory(ctx, l.Addr().String(), msgs[0], *idle)
}

// countingEmitter stands in for the reporter: the benchmark measures the listener.
type countingEmitter struct{ n atomic.Int64 }

func (c *countingEmitter) Emit(discovery.Observation) { c.n.Add(1) }

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

// throughput runs one sender per connection, each waiting for its ACK before the
// next message, and returns messages per second.
func throughput(addr string, msgs [][]byte, d time.Duration) float64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for _, m := range msgs {
		wg.Go(func() {
			c, err := mllp.Dial(context.Background(), addr, nil)
			if err != nil {
				panic(err)
			}
			defer c.Close()
			ctx := context.Background()
			n := int64(0)
			for time.Now().Before(deadline) {
				if err := c.Write(ctx, m); err != nil {
					panic(err)
				}
				if _, err := c.Read(ctx); err != nil {
					panic(err)
				}
				n++
			}
			total.Add(n)
		})
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}

// latency sends at a fixed total rate spread over the connections and measures from
// each message's scheduled time to its ACK, so a stall counts against us.
func latency(addr string, msgs [][]byte, rate int, d time.Duration) []time.Duration {
	per := time.Duration(float64(time.Second) * float64(len(msgs)) / float64(rate))
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for i, m := range msgs {
		wg.Go(func() {
			c, err := mllp.Dial(context.Background(), addr, nil)
			if err != nil {
				panic(err)
			}
			defer c.Close()
			ctx := context.Background()
			var local []time.Duration
			// Stagger the connections evenly over one period.
			next := start.Add(per * time.Duration(i) / time.Duration(len(msgs)))
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
	slices.Sort(all)
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

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i].Round(time.Microsecond)
}
