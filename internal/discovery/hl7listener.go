package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/lograte"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// HL7Options are the collaborators of an HL7 listener.
type HL7Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now. Tests inject one to drive heartbeats.
	Now func() time.Time
}

// HL7Listener receives HL7 v2 over MLLP, acknowledges every message and feeds a
// heartbeat tracker. It keeps device identity, location and timing only: messages are
// parsed in place and dropped, and logs carry message type and control id, never
// content.
type HL7Listener struct {
	cfg     *Config
	srv     *mllp.Server
	tracker *HL7Tracker
	metrics *hl7Metrics
	log     *slog.Logger
	now     func() time.Time

	ackPrefix string
	ackSeq    atomic.Uint64
	parsers   sync.Pool
	// logs writes a misbehaving sender's rejects once per interval and kind, with a
	// count, instead of once per message.
	logs *lograte.Limiter
}

// NewHL7Listener binds cfg.HL7.Listen now (so Addr is valid) and reports what it sees
// to emit.
func NewHL7Listener(cfg *Config, emit Emitter, opts HL7Options) (*HL7Listener, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base := log
	log = log.With("component", "hl7")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var tlsConfig *tls.Config
	if cfg.HL7.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HL7.TLSCert, cfg.HL7.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("hl7 TLS certificate %s / key %s: %w", cfg.HL7.TLSCert, cfg.HL7.TLSKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	b := make([]byte, 4)
	rand.Read(b)
	m := newHL7Metrics(opts.Registerer)
	l := &HL7Listener{
		cfg: cfg, metrics: m, log: log, now: now,
		ackPrefix: "A" + hex.EncodeToString(b),
		tracker:   newHL7Tracker(cfg, observation.NewIDs(cfg.Name), emit, m, base, now),
		parsers:   sync.Pool{New: func() any { return new(hl7.Message) }},
		logs:      lograte.New(log, lograte.DefaultInterval, lograte.Options{}),
	}
	h := &cfg.HL7
	srv, err := mllp.Listen(mllp.Config{
		Addr: h.Listen, TLS: tlsConfig, MaxMessageBytes: h.MaxMessageBytes,
		IdleTimeout: h.IdleTimeout, FrameTimeout: h.FrameTimeout,
		MaxConns: h.MaxConnections, MaxConnsPerPeer: h.MaxConnectionsPerPeer,
		ReservedConns: h.KnownSenderConnections, KnownPeerTTL: h.KnownSenderTTL,
		PartialFrameBudget: h.PartialFrameBudgetBytes, Logger: log,
	}, l)
	if err != nil {
		return nil, fmt.Errorf("hl7.listen: %w", err)
	}
	l.srv = srv
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(newMLLPCollector(srv))
	}
	return l, nil
}

// Addr returns the bound address.
func (l *HL7Listener) Addr() net.Addr { return l.srv.Addr() }

// Tracker returns the heartbeat tracker (tests drive its clock through Check).
func (l *HL7Listener) Tracker() *HL7Tracker { return l.tracker }

// Server returns the MLLP server (for its counters).
func (l *HL7Listener) Server() *mllp.Server { return l.srv }

// Run serves connections and checks heartbeats until ctx ends.
func (l *HL7Listener) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.tracker.Run(ctx)
	}()
	mc := l.srv.Config()
	l.log.Info("hl7 listening", "addr", l.Addr().String(), "tls", l.cfg.HL7.TLSCert != "",
		"heartbeat_timeout", l.cfg.HL7.HeartbeatTimeout, "max_connections", mc.MaxConns,
		"max_connections_per_peer", mc.MaxConnsPerPeer, "known_sender_connections", mc.ReservedConns,
		"frame_timeout", mc.FrameTimeout, "partial_frame_budget_bytes", mc.PartialFrameBudget)
	err := l.srv.Run(ctx)
	cancel()
	<-done
	l.logs.Flush()
	return err
}

// ServeMLLP handles one frame: parse, check, extract, track, acknowledge.
func (l *HL7Listener) ServeMLLP(_ context.Context, req *mllp.Request) {
	now := l.now()
	if req.TooLarge {
		// Only the header is worth reading; the body was never fully received.
		head := req.Message
		if i := bytes.IndexAny(head, "\r\n"); i >= 0 {
			head = head[:i+1]
		}
		m, err := hl7.Parse(head)
		var h hl7.Header
		if err != nil {
			m = nil
		} else {
			h, _ = hl7.ReadHeader(m)
		}
		l.reject(req, m, h, &hl7.Problem{Code: hl7.ErrInternal,
			Reason: "message exceeds " + strconv.Itoa(l.cfg.HL7.MaxMessageBytes) + " bytes"}, now)
		return
	}
	m := l.parsers.Get().(*hl7.Message)
	defer func(m *hl7.Message) {
		m.Reset()
		l.parsers.Put(m)
	}(m)
	if err := m.Parse(req.Message); err != nil {
		// Parse errors name positions only, never content.
		p := &hl7.Problem{Code: hl7.ErrSegmentSequence, Reason: strings.TrimPrefix(err.Error(), "hl7: ")}
		var h hl7.Header
		if m.Len() > 0 {
			// The header was fine; a later segment was not.
			h, _ = hl7.ReadHeader(m)
			rep := hl7.ExtractSender(m)
			l.tracker.Seen(&rep, now)
		} else {
			m = nil
		}
		l.reject(req, m, h, p, now)
		return
	}
	h, p := hl7.ReadHeader(m)
	if p != nil {
		rep := hl7.ExtractSender(m)
		l.tracker.Seen(&rep, now)
		l.reject(req, m, h, p, now)
		return
	}
	rep := hl7.Extract(m, h)
	l.tracker.Seen(&rep, now)
	// A message that parsed and carried a valid header comes from a real HL7 sender:
	// its address keeps a place when strangers flood the listener.
	req.MarkKnown()
	code := hl7.AA
	var prob *hl7.Problem
	if len(rep.Problems) > 0 {
		code, prob = hl7.AE, &rep.Problems[0]
		l.logs.Info("accepted_with_error/"+strconv.Itoa(prob.Code), "hl7 message accepted with error",
			"type", h.MessageType(), "control_id", h.ControlID, "peer", req.Peer.String(), "reason", prob.Error())
	}
	sent := l.acknowledge(req, m, h, code, prob, now)
	l.metrics.message(h.MessageType(), sent)
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("hl7 message", "type", h.MessageType(), "control_id", h.ControlID, "ack", sent,
			"devices", len(rep.Devices), "technical_alarms", len(rep.Alarms))
	}
}

// reject answers AR (or CR) to a message that cannot be used; m may be nil.
func (l *HL7Listener) reject(req *mllp.Request, m *hl7.Message, h hl7.Header, p *hl7.Problem, now time.Time) {
	sent := l.acknowledge(req, m, h, hl7.AR, p, now)
	typ := ""
	if m != nil && h.Type != "" {
		typ = h.MessageType()
	}
	l.metrics.message(typ, sent)
	l.logs.Warn("rejected/"+strconv.Itoa(p.Code), "hl7 message rejected", "type", typ, "control_id", h.ControlID,
		"peer", req.Peer.String(), "reason", p.Error())
}

// acknowledge sends what the sender asked for: original mode (AA/AE/AR), or in
// enhanced mode a commit acknowledgement (CA/CE/CR) per MSH-15 and an application
// acknowledgement per MSH-16, both on this connection. It returns the first code
// sent, or "none".
func (l *HL7Listener) acknowledge(req *mllp.Request, m *hl7.Message, h hl7.Header, code string, p *hl7.Problem, now time.Time) string {
	send := func(c string) {
		req.Scratch = hl7.AppendAck(req.Scratch[:0], m, hl7.AckOptions{Code: c, Problem: p, ControlID: l.nextAckID(), Now: now})
		req.Reply(req.Scratch)
	}
	if m == nil || !h.Enhanced() {
		send(code)
		return code
	}
	ok := code == hl7.AA
	sent := "none"
	accept := h.AcceptAck
	if accept == "" {
		accept = "AL"
	}
	if hl7.Wanted(accept, ok) {
		c := map[string]string{hl7.AA: hl7.CA, hl7.AE: hl7.CE, hl7.AR: hl7.CR}[code]
		send(c)
		sent = c
	}
	if hl7.Wanted(h.AppAck, ok) {
		send(code)
		if sent == "none" {
			sent = code
		}
	}
	return sent
}

// nextAckID returns a control id for our acknowledgements: unique per process start,
// at most 20 characters (the limit of HL7 2.3 to 2.6).
func (l *HL7Listener) nextAckID() string {
	return l.ackPrefix + strconv.FormatUint(l.ackSeq.Add(1), 36)
}
