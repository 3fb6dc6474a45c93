package mllp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests of this file dial from addresses of 127.117.0.0/24, one per simulated
// host, so the server sees distinct peers on loopback.

// marking answers like echo and marks its peer known when the message starts "ok".
var marking = HandlerFunc(func(ctx context.Context, req *Request) {
	if bytes.HasPrefix(req.Message, []byte("ok")) {
		req.MarkKnown()
	}
	echo(ctx, req)
})

// dialFrom opens a raw TCP connection to s from the loopback address from.
func dialFrom(t *testing.T, s *Server, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clientFrom is dialFrom wrapped in a Client.
func clientFrom(t *testing.T, s *Server, from string) *Client {
	t.Helper()
	c := NewClient(dialFrom(t, s, from))
	c.Timeout = 5 * time.Second
	return c
}

// served reports whether c gets an answer to msg (false: the server closed it).
func served(t *testing.T, c *Client, msg string) bool {
	t.Helper()
	got, err := c.Send(context.Background(), []byte(msg))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer and no close within 5s: %v", err)
		}
		return false
	}
	if string(got) != "ack:"+msg {
		t.Fatalf("reply %q to %q", got, msg)
	}
	return true
}

// waitClosed waits until the server closes c and returns how long that took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	for {
		_, err := c.Read(make([]byte, 512))
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", within)
		}
		return time.Since(start)
	}
}

func logTo(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerPerPeerCap(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{MaxConnsPerPeer: 3, Logger: logTo(&logs), LogInterval: time.Hour}, echo)
	for i := range 3 {
		if !served(t, clientFrom(t, s, "127.117.0.1"), "a") {
			t.Fatalf("connection %d of 3 from one peer refused", i+1)
		}
	}
	for range 20 {
		if served(t, clientFrom(t, s, "127.117.0.1"), "a") {
			t.Fatal("a 4th connection from one peer was served with MaxConnsPerPeer 3")
		}
	}
	if !served(t, clientFrom(t, s, "127.117.0.2"), "b") {
		t.Fatal("another peer was refused")
	}
	st := s.Stats()
	if st.Refused[RefusedPerPeer] != 20 || st.Rejected != 20 || st.Open != 4 {
		t.Fatalf("stats %+v: want 20 refused per peer, 4 open", st)
	}
	// Twenty refusals, one log line (the interval is an hour); the count comes in the
	// summary line at the end of the interval or at shutdown.
	if n := strings.Count(logs.String(), "mllp connection refused"); n != 1 {
		t.Fatalf("%d log lines for 20 refusals, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "reason=per_peer limit=3 peer=127.117.0.1") {
		t.Fatalf("refusal line does not say why and who:\n%s", logs.String())
	}
}

func TestServerKeepsSlotsForKnownPeers(t *testing.T) {
	s := startServer(t, Config{MaxConns: 6, ReservedConns: 2, MaxConnsPerPeer: 10}, marking)
	const known, stranger, other = "127.117.0.10", "127.117.0.11", "127.117.0.12"
	// The known sender sends one valid message and goes away.
	first := clientFrom(t, s, known)
	if !served(t, first, "ok hello") {
		t.Fatal("first connection refused")
	}
	first.Close()
	waitStats(t, s, func(st Stats) bool { return st.Open == 0 })
	// Strangers fill the four unreserved slots with idle connections: the fifth is
	// refused although the listener is not full.
	var flood []*Client
	for range 4 {
		c := clientFrom(t, s, stranger)
		if !served(t, c, "idle") {
			t.Fatal("a stranger was refused below MaxConns-ReservedConns")
		}
		flood = append(flood, c)
	}
	if served(t, clientFrom(t, s, other), "x") {
		t.Fatal("an unknown peer got a reserved slot")
	}
	// The known sender still gets in, twice (the two reserved slots); then the
	// listener is full for everyone.
	for range 2 {
		if !served(t, clientFrom(t, s, known), "ok again") {
			t.Fatal("a known sender was refused while reserved slots were free")
		}
	}
	if served(t, clientFrom(t, s, known), "ok full") {
		t.Fatal("a 7th connection was served with MaxConns 6")
	}
	// A stranger whose connection delivers a valid message becomes known: its slot
	// leaves the unknown pool, so another unknown peer fits again.
	if !served(t, flood[0], "ok now valid") {
		t.Fatal("stranger's open connection closed")
	}
	flood[1].Close()
	waitStats(t, s, func(st Stats) bool { return st.Open == 5 })
	if !served(t, clientFrom(t, s, other), "y") {
		t.Fatal("an unknown peer was refused with an unknown slot free")
	}
	st := s.Stats()
	if st.Refused[RefusedReserved] != 1 || st.Refused[RefusedMaxConns] != 1 || st.KnownPeers != 2 {
		t.Fatalf("stats %+v: want 1 refused for reserved slots, 1 for max connections, 2 known peers", st)
	}
}

func TestServerKnownPeersExpire(t *testing.T) {
	s, err := Listen(Config{Addr: "127.0.0.1:0", MaxConns: 2, ReservedConns: 1, KnownPeerTTL: time.Hour, EvictAfter: 24 * time.Hour}, marking)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64 // the server's clock runs this far ahead
	s.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const peer = "127.117.0.20"
	c := clientFrom(t, s, peer)
	served(t, c, "ok")
	c.Close()
	waitStats(t, s, func(st Stats) bool { return st.Open == 0 })
	// A stranger takes the one unreserved slot; the known peer gets the reserved one.
	served(t, clientFrom(t, s, "127.117.0.21"), "x")
	c2 := clientFrom(t, s, peer)
	if !served(t, c2, "x") {
		t.Fatal("a known peer was refused its reserved slot")
	}
	c2.Close()
	waitStats(t, s, func(st Stats) bool { return st.Open == 1 })
	// An hour after its last valid message the address is a stranger again.
	offset.Store(int64(time.Hour))
	if served(t, clientFrom(t, s, peer), "x") {
		t.Fatal("an address was still known after KnownPeerTTL")
	}
	if st := s.Stats(); st.Refused[RefusedReserved] != 1 {
		t.Fatalf("refused %v, want one for reserved slots", st.Refused)
	}
}

func TestServerFrameTimeoutAndIdleTimeout(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{FrameTimeout: 400 * time.Millisecond, IdleTimeout: time.Minute, Logger: logTo(&logs)}, echo)
	// A frame that keeps dribbling a byte every 50 ms is never idle, but it is not
	// complete 400 ms after it started: closed.
	slow := dialFrom(t, s, "127.117.0.30")
	go func() {
		slow.Write([]byte{StartBlock})
		for range 200 {
			if _, err := slow.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// An idle connection, and one between messages, stay open: only the idle timeout
	// (a minute) applies to them.
	idle := clientFrom(t, s, "127.117.0.31")
	between := clientFrom(t, s, "127.117.0.32")
	served(t, between, "first")
	if d := waitClosed(t, slow, 5*time.Second); d > 3*time.Second {
		t.Fatalf("slow frame closed after %s, frame timeout 400ms", d)
	}
	time.Sleep(500 * time.Millisecond)
	if !served(t, idle, "late") || !served(t, between, "second") {
		t.Fatal("an idle connection was closed by the frame timeout")
	}
	// A frame that pauses before its end but finishes in time is served.
	c := clientFrom(t, s, "127.117.0.33")
	c.Conn().Write([]byte("\x0bpart one "))
	time.Sleep(150 * time.Millisecond)
	c.Conn().Write([]byte("part two\x1c\r"))
	if got, err := c.Read(context.Background()); err != nil || string(got) != "ack:part one part two" {
		t.Fatalf("reply %q, %v", got, err)
	}
	if st := s.Stats(); st.Closed[ClosedFrameSlow] != 1 || st.Closed[ClosedIdle] != 0 {
		t.Fatalf("closed %v, want one frame timeout", st.Closed)
	}
	if !strings.Contains(logs.String(), "frame not complete in time") {
		t.Fatalf("no log line for the frame timeout:\n%s", logs.String())
	}
}

func TestServerPartialFrameBudget(t *testing.T) {
	// 512 KiB in all, 384 KiB for unknown peers; a frame of up to 128 KiB.
	s := startServer(t, Config{PartialFrameBudget: 512 << 10, MaxMessageBytes: 128 << 10, ReadBufferSize: 4096}, marking)
	const known = "127.117.0.40"
	if !served(t, clientFrom(t, s, known), "ok") {
		t.Fatal("known sender refused")
	}
	// Ten strangers each start a 100 KiB frame and stop before its end. The budget
	// admits three (128 KiB each once their buffers have grown); the others are closed.
	body := bytes.Repeat([]byte("x"), 100<<10)
	var conns []net.Conn
	for range 10 {
		c := dialFrom(t, s, "127.117.0.41")
		conns = append(conns, c)
		go func() {
			c.Write([]byte{StartBlock})
			c.Write(body)
		}()
	}
	// It settles when every stranger left holds its whole frame (a 128 KiB buffer).
	// Which ones, and whether two or three, depends on the order their bytes came in.
	waitStats(t, s, func(st Stats) bool {
		c := st.Closed[ClosedBudget]
		return c >= 7 && st.PartialBytes == (10-c)*128<<10
	})
	if st := s.Stats(); st.PartialBytes > 384<<10 {
		t.Fatalf("%d bytes held in partial frames, more than the 384 KiB for unknown peers", st.PartialBytes)
	}
	// The known sender still gets a large message through, in the quarter kept for it.
	k := clientFrom(t, s, known)
	big := strings.Repeat("k", 100<<10)
	if !served(t, k, "ok"+big) {
		t.Fatal("a known sender's large message was refused")
	}
	// Everything is given back: when the strangers go, nothing stays held.
	for _, c := range conns {
		c.Close()
	}
	waitStats(t, s, func(st Stats) bool { return st.PartialBytes == 0 && st.Open == 2 }) // the known sender's two
}

// waitStats waits up to 5 s for the server's counters to satisfy ok.
func waitStats(t *testing.T, s *Server, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerEvictsOldestUnknownWhenFull(t *testing.T) {
	s := startServer(t, Config{MaxConns: 4, ReservedConns: 1, EvictAfter: 300 * time.Millisecond}, marking)
	// Three strangers fill the unreserved slots; their connections deliver nothing
	// valid. A fourth, right away, is refused: none of them is old enough to go.
	a1, a2, a3 := clientFrom(t, s, "127.117.0.51"), clientFrom(t, s, "127.117.0.52"), clientFrom(t, s, "127.117.0.53")
	for _, c := range []*Client{a1, a2, a3} {
		if !served(t, c, "junk") {
			t.Fatal("stranger refused below the unreserved slots")
		}
	}
	if served(t, clientFrom(t, s, "127.117.0.54"), "x") {
		t.Fatal("a newcomer was served by evicting a connection younger than EvictAfter")
	}
	// Later the oldest stranger makes room for a newcomer, which delivers a valid
	// message at once and so becomes known: it is never evicted.
	time.Sleep(400 * time.Millisecond)
	n1 := clientFrom(t, s, "127.117.0.55")
	if !served(t, n1, "ok I am real") {
		t.Fatal("a newcomer was refused although an old idle stranger could go")
	}
	waitClosed(t, a1.Conn(), 5*time.Second)
	// Full for everyone (a2, a3, n1 and n1's second connection): a known sender's
	// connection still gets in, in place of the oldest stranger.
	n2 := clientFrom(t, s, "127.117.0.55")
	served(t, n2, "x")
	n3 := clientFrom(t, s, "127.117.0.55")
	if !served(t, n3, "x") {
		t.Fatal("a known sender was refused while a stranger's old connection could go")
	}
	waitClosed(t, a2.Conn(), 5*time.Second)
	// A stranger arriving when full replaces the last old one; the next one finds only
	// a young stranger and is refused.
	if !served(t, clientFrom(t, s, "127.117.0.56"), "x") {
		t.Fatal("stranger refused although an old stranger could go")
	}
	waitClosed(t, a3.Conn(), 5*time.Second)
	if served(t, clientFrom(t, s, "127.117.0.57"), "x") {
		t.Fatal("a young stranger was evicted")
	}
	for _, c := range []*Client{n1, n2, n3} {
		if !served(t, c, "still here") {
			t.Fatal("a known sender's connection was closed")
		}
	}
	st := s.Stats()
	if st.Closed[ClosedEvicted] != 3 || st.Refused[RefusedReserved] != 1 || st.Refused[RefusedMaxConns] != 1 || st.Open != 4 {
		t.Fatalf("stats %+v: want 3 evicted, 1 refused for reserved slots, 1 for max connections, 4 open", st)
	}
}
