package mllp

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medcmdb/medcmdb/internal/lograte"
)

// Request is one received frame.
type Request struct {
	// Message is the frame content; it is valid only during ServeMLLP.
	Message []byte
	// TooLarge is set when the frame exceeded the maximum size: Message then holds
	// only its first bytes, enough to read a header and reject it.
	TooLarge bool
	// Peer is the remote address of the connection.
	Peer net.Addr
	// Scratch is a buffer owned by the connection that a handler may reuse to build
	// replies without allocating; it survives between requests of one connection.
	Scratch []byte

	out  *[]byte
	conn *conn // nil for a request made by NewRequest
}

// MarkKnown records that the peer sent a valid message: for Config.KnownPeerTTL its
// address may use the connections and partial-frame memory kept for known peers, so a
// flood from unknown addresses cannot lock it out. The handler decides what is valid
// (the server knows nothing of the content).
func (r *Request) MarkKnown() {
	if r.conn != nil {
		r.conn.s.markKnown(r.conn)
	}
}

// Reply queues msg as one reply frame; several replies may be queued. msg is copied.
func (r *Request) Reply(msg []byte) { *r.out = AppendFrame(*r.out, msg) }

// NewRequest returns a request whose replies collect in the request itself, to drive
// a Handler without a connection (tests, benchmarks).
func NewRequest(msg []byte, peer net.Addr) *Request {
	var out []byte
	return &Request{Message: msg, Peer: peer, out: &out}
}

// Replies returns the framed replies queued so far, and forgets them.
func (r *Request) Replies() []byte {
	b := *r.out
	*r.out = (*r.out)[:0]
	return b
}

// Handler answers frames. It is called from one goroutine per connection, so it must
// be safe for concurrent use across connections.
type Handler interface {
	ServeMLLP(ctx context.Context, req *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request)

// ServeMLLP calls f.
func (f HandlerFunc) ServeMLLP(ctx context.Context, req *Request) { f(ctx, req) }

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on ("127.0.0.1:0" picks a port).
	Addr string
	// TLS, when set, makes the server speak MLLP over TLS.
	TLS *tls.Config
	// MaxMessageBytes bounds a frame's content (default 1 MiB).
	MaxMessageBytes int
	// IdleTimeout closes a connection that sends nothing between frames for this long
	// (default 10m: HL7 senders keep connections open between heartbeats minutes apart).
	IdleTimeout time.Duration
	// FrameTimeout closes a connection whose frame is not complete this long after its
	// start block (default 30s), so a half-sent frame cannot hold memory and a slot.
	FrameTimeout time.Duration
	// MaxConns bounds concurrent connections; more are closed at once (default 10000).
	MaxConns int
	// MaxConnsPerPeer bounds concurrent connections from one IP address (default 100).
	MaxConnsPerPeer int
	// ReservedConns of MaxConns are kept for known peers, addresses that sent a valid
	// message (Request.MarkKnown) within KnownPeerTTL: other peers are refused once
	// MaxConns-ReservedConns of their connections are open. 0: a tenth of MaxConns;
	// negative: none.
	ReservedConns int
	// KnownPeerTTL is how long an address stays known after its last valid message
	// (default 24h).
	KnownPeerTTL time.Duration
	// EvictAfter: when the listener is full, the oldest connection of an unknown peer
	// is closed to make room if it has been open this long (default 5s) without
	// delivering a valid message.
	EvictAfter time.Duration
	// PartialFrameBudget bounds the bytes all connections together hold in frames larger
	// than the read buffer while they arrive (default 32 MiB, or 2 x MaxMessageBytes if
	// larger). A quarter is kept for known peers. A connection whose frame cannot get
	// memory is closed; the sender retries later.
	PartialFrameBudget int64
	// ReadBufferSize is the per-connection read buffer (default 4 KiB): the memory an
	// idle connection holds, and the size of frames handled without copying.
	ReadBufferSize int
	// LogInterval is the most often one kind of refusal is logged; the line says how
	// many were not (default 10s).
	LogInterval time.Duration
	Logger      *slog.Logger
}

// Stats are the server's counters.
type Stats struct {
	// Rejected counts connections refused at accept, for any reason.
	Accepted, Rejected, Open int64
	Frames, Oversized        int64
	JunkBytes                int64
	// Refused counts connections refused at accept, by reason (RefusedPerPeer, ...).
	Refused map[string]int64
	// Closed counts connections the server closed, by reason (ClosedIdle, ...).
	Closed map[string]int64
	// PartialBytes is the memory held now by frames arriving; PartialBudget its bound.
	PartialBytes, PartialBudget int64
	// KnownPeers is the number of addresses in the known table (some may have expired).
	KnownPeers int
}

// Server accepts MLLP connections and hands every frame to a Handler, writing back
// whatever the handler replies. A connection carries any number of messages; replies
// to pipelined requests are flushed together once the input is drained.
type Server struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	logs   *lograte.Limiter
	ln     net.Listener
	budget budget
	now    func() time.Time

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perPeer map[netip.Addr]int
	known   map[netip.Addr]time.Time
	unknown *list.List // of *conn: connections of unknown peers, oldest first
	closing bool

	accepted, rejected, open atomic.Int64
	frames, oversized, junk  atomic.Int64
	refused                  [3]atomic.Int64 // by refusedReasons
	closed                   [4]atomic.Int64 // by closedReasons
}

var (
	refusedReasons = []string{RefusedPerPeer, RefusedMaxConns, RefusedReserved}
	closedReasons  = []string{ClosedIdle, ClosedFrameSlow, ClosedBudget, ClosedEvicted}
)

func reasonIndex(reasons []string, r string) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	panic("mllp: unknown reason " + r)
}

// Listen binds the listener now, so Addr is valid and a bad address fails here.
func Listen(cfg Config, h Handler) (*Server, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = 30 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.MaxConnsPerPeer <= 0 {
		cfg.MaxConnsPerPeer = 100
	}
	switch {
	case cfg.ReservedConns == 0:
		cfg.ReservedConns = cfg.MaxConns / 10
	case cfg.ReservedConns < 0:
		cfg.ReservedConns = 0
	}
	cfg.ReservedConns = min(cfg.ReservedConns, cfg.MaxConns-1)
	if cfg.KnownPeerTTL <= 0 {
		cfg.KnownPeerTTL = 24 * time.Hour
	}
	if cfg.EvictAfter <= 0 {
		cfg.EvictAfter = 5 * time.Second
	}
	if cfg.PartialFrameBudget <= 0 {
		cfg.PartialFrameBudget = max(32<<20, 2*int64(cfg.MaxMessageBytes))
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 4096
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mllp listen %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{
		cfg: cfg, h: h, log: log, ln: ln, now: time.Now,
		logs:    lograte.New(log, cfg.LogInterval, lograte.Options{}),
		conns:   map[*conn]struct{}{},
		perPeer: map[netip.Addr]int{},
		known:   map[netip.Addr]time.Time{},
		unknown: list.New(),
	}
	s.budget.limit = cfg.PartialFrameBudget
	s.budget.shared = cfg.PartialFrameBudget - cfg.PartialFrameBudget/4
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Open: s.open.Load(),
		Frames: s.frames.Load(), Oversized: s.oversized.Load(), JunkBytes: s.junk.Load(),
		Refused: map[string]int64{}, Closed: map[string]int64{},
		PartialBytes: s.budget.used.Load(), PartialBudget: s.budget.limit,
	}
	for i, r := range refusedReasons {
		st.Refused[r] = s.refused[i].Load()
	}
	for i, r := range closedReasons {
		st.Closed[r] = s.closed[i].Load()
	}
	s.mu.Lock()
	st.KnownPeers = len(s.known)
	s.mu.Unlock()
	return st
}

// Config returns the configuration in effect, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Run serves until ctx ends, then closes the listener and every connection and waits
// for their goroutines.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.closing = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.ln.Close()
	})
	defer stop()
	defer s.logs.Flush()
	var tempDelay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: back off, do not spin.
				tempDelay = max(5*time.Millisecond, min(2*tempDelay, time.Second))
				s.logs.Warn("accept", "mllp accept", "err", err, "retry_in", tempDelay)
				select {
				case <-time.After(tempDelay):
				case <-ctx.Done():
				}
				continue
			}
			wg.Wait()
			return fmt.Errorf("mllp accept on %s: %w", s.Addr(), err)
		}
		tempDelay = 0
		cn := &conn{Conn: c, addr: peerAddr(c), s: s}
		if !s.track(cn) {
			continue
		}
		wg.Go(func() {
			defer s.untrack(cn)
			s.serve(ctx, cn)
		})
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track admits a new connection or closes it at once, counting and logging (at most
// once per LogInterval and reason) why.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return false
	}
	reason, limit := s.admit(c, s.now())
	s.mu.Unlock()
	if reason != "" {
		s.rejected.Add(1)
		s.refused[reasonIndex(refusedReasons, reason)].Add(1)
		c.Close()
		s.logs.Warn("refused/"+reason, "mllp connection refused", "reason", reason, "limit", limit,
			"peer", c.addr.String())
		return false
	}
	s.accepted.Add(1)
	s.open.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	c.Close()
	s.mu.Lock()
	s.release(c)
	s.mu.Unlock()
	s.open.Add(-1)
}

func (s *Server) closedFor(reason string) { s.closed[reasonIndex(closedReasons, reason)].Add(1) }

// deadlines sets the connection's read deadline before each read the Reader makes:
// IdleTimeout from now, and while a frame is arriving also no later than FrameTimeout
// after the first read past its start block, however steadily it dribbles.
type deadlines struct {
	*conn
	r          *Reader
	idle       time.Duration
	frame      time.Duration
	frameStart uint64    // r.starts when frameEnd was set
	frameEnd   time.Time // deadline of the frame in progress
	set        time.Time // deadline in force
}

func (d *deadlines) Read(p []byte) (int, error) {
	now := time.Now()
	dl := now.Add(d.idle)
	if d.r.InFrame() {
		if d.frameEnd.IsZero() || d.frameStart != d.r.starts {
			d.frameStart, d.frameEnd = d.r.starts, now.Add(d.frame)
		}
		if d.frameEnd.Before(dl) {
			dl = d.frameEnd
		}
	}
	if !dl.Equal(d.set) {
		if err := d.conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		d.set = dl
	}
	return d.conn.Read(p)
}

// serve runs one connection until it ends, idles out or the server stops.
func (s *Server) serve(ctx context.Context, c *conn) {
	peer := c.RemoteAddr()
	// The scoped logger is made only when needed: an idle connection holds no more
	// than its buffer and goroutine.
	log := func() *slog.Logger { return s.log.With("peer", peer.String()) }
	dl := &deadlines{conn: c, idle: s.cfg.IdleTimeout, frame: s.cfg.FrameTimeout}
	r := NewReader(dl, s.cfg.MaxMessageBytes, s.cfg.ReadBufferSize)
	dl.r = r
	r.SetAllocator(c)
	defer r.Release()
	var out []byte
	req := &Request{Peer: peer, out: &out, conn: c}
	var junkSeen int64
	for {
		msg, err := r.ReadFrame()
		if j := r.Junk - junkSeen; j > 0 {
			s.junk.Add(j)
			junkSeen = r.Junk
			log().Debug("mllp skipped bytes outside frames", "bytes", j)
		}
		tooLarge := errors.Is(err, ErrFrameTooLarge)
		if err != nil && !tooLarge {
			var ne net.Error
			switch {
			case errors.Is(err, net.ErrClosed) || ctx.Err() != nil:
			case errors.Is(err, ErrOverBudget):
				s.closedFor(ClosedBudget)
				s.logs.Warn(ClosedBudget, "mllp connection closed: partial-frame memory budget exhausted",
					"budget_bytes", s.budget.limit, "known_peer", c.known, "peer", c.addr.String())
			case errors.As(err, &ne) && ne.Timeout() && r.InFrame():
				s.closedFor(ClosedFrameSlow)
				s.logs.Warn(ClosedFrameSlow, "mllp connection closed: frame not complete in time",
					"frame_timeout", s.cfg.FrameTimeout, "peer", c.addr.String())
			case errors.As(err, &ne) && ne.Timeout():
				s.closedFor(ClosedIdle)
				log().Debug("mllp connection idle: closing", "idle_timeout", s.cfg.IdleTimeout)
			default:
				log().Debug("mllp connection ended", "err", err)
			}
			return
		}
		s.frames.Add(1)
		if tooLarge {
			s.oversized.Add(1)
			s.logs.Warn("too_large", "mllp frame too large: rejecting", "max_bytes", s.cfg.MaxMessageBytes,
				"peer", c.addr.String())
		}
		req.Message, req.TooLarge = msg, tooLarge
		if !s.handle(ctx, req) {
			return
		}
		req.Message = nil
		// Pipelined requests: answer them all in one write once the input is drained.
		if len(out) > 0 && (len(out) >= 32<<10 || !r.Buffered()) {
			if err := c.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				log().Debug("mllp write", "err", err)
				return
			}
			if cap(out) > 64<<10 {
				out = nil
			} else {
				out = out[:0]
			}
		}
	}
}

// handle calls the handler, turning a panic into a logged error and a closed
// connection instead of a dead process.
func (s *Server) handle(ctx context.Context, req *Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.logs.Log(slog.LevelError, "panic", "mllp handler panic: closing connection", "peer", req.Peer.String(),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	s.h.ServeMLLP(ctx, req)
	return true
}
