package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
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

	out *[]byte
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
	// IdleTimeout closes a connection that sends nothing for this long (default 10m).
	IdleTimeout time.Duration
	// MaxConns bounds concurrent connections; more are closed at once (default 10000).
	MaxConns int
	// ReadBufferSize is the per-connection read buffer (default 4 KiB): the memory an
	// idle connection holds, and the size of frames handled without copying.
	ReadBufferSize int
	Logger         *slog.Logger
}

// Stats are the server's counters.
type Stats struct {
	Accepted, Rejected, Open int64
	Frames, Oversized        int64
	JunkBytes                int64
}

// Server accepts MLLP connections and hands every frame to a Handler, writing back
// whatever the handler replies. A connection carries any number of messages; replies
// to pipelined requests are flushed together once the input is drained.
type Server struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	ln      net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool

	accepted, rejected, open atomic.Int64
	frames, oversized, junk  atomic.Int64
}

// Listen binds the listener now, so Addr is valid and a bad address fails here.
func Listen(cfg Config, h Handler) (*Server, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
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
	return &Server{cfg: cfg, h: h, log: log, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Open: s.open.Load(),
		Frames: s.frames.Load(), Oversized: s.oversized.Load(), JunkBytes: s.junk.Load(),
	}
}

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
				s.log.Warn("mllp accept", "err", err, "retry_in", tempDelay)
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
		if !s.track(c) {
			continue
		}
		wg.Go(func() {
			defer s.untrack(c)
			s.serve(ctx, c)
		})
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.conns) >= s.cfg.MaxConns {
		s.rejected.Add(1)
		c.Close()
		if !s.closing {
			s.log.Warn("mllp connection refused: too many connections", "peer", c.RemoteAddr().String(), "max", s.cfg.MaxConns)
		}
		return false
	}
	s.conns[c] = struct{}{}
	s.accepted.Add(1)
	s.open.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
}

// serve runs one connection until it ends, idles out or the server stops.
func (s *Server) serve(ctx context.Context, c net.Conn) {
	peer := c.RemoteAddr()
	// The scoped logger is made only when needed: an idle connection holds no more
	// than its buffer and goroutine.
	log := func() *slog.Logger { return s.log.With("peer", peer.String()) }
	r := NewReader(c, s.cfg.MaxMessageBytes, s.cfg.ReadBufferSize)
	var out []byte
	req := &Request{Peer: peer, out: &out}
	var junkSeen int64
	for {
		if err := c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
			return
		}
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
			case errors.As(err, &ne) && ne.Timeout():
				log().Debug("mllp connection idle: closing", "idle_timeout", s.cfg.IdleTimeout)
			default:
				log().Debug("mllp connection ended", "err", err)
			}
			return
		}
		s.frames.Add(1)
		if tooLarge {
			s.oversized.Add(1)
			log().Warn("mllp frame too large: rejecting", "max_bytes", s.cfg.MaxMessageBytes)
		}
		req.Message, req.TooLarge = msg, tooLarge
		if !s.handle(ctx, req, log) {
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
func (s *Server) handle(ctx context.Context, req *Request, log func() *slog.Logger) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			log().Error("mllp handler panic: closing connection", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	s.h.ServeMLLP(ctx, req)
	return true
}
