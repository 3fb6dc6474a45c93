package discovery

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// Sweeper walks configured address ranges and hands every agent that answers to the
// poller. Probing is asynchronous: one socket sends probes at snmp.sweep_rate while a
// reader collects answers, so a /16 of mostly empty addresses costs
// addresses/rate seconds per pass, not addresses x timeout / workers.
//
// Phase 1 sends, to every address, a system-group GetRequest per community
// credential of its range and, when the range has v3 credentials, an unauthenticated
// v3 engine-discovery probe (every v3 agent answers that whatever its users).
// Addresses that stay silent are probed again snmp.retries times. Phase 2 gives
// v3 responders to bounded workers that try the range's v3 credentials in order.
type Sweeper struct {
	cfg     *Config
	poller  *Poller
	log     *slog.Logger
	metrics *collectorMetrics
	creds   map[string]*Credential
}

func newSweeper(cfg *Config, p *Poller, m *collectorMetrics, log *slog.Logger) *Sweeper {
	creds := map[string]*Credential{}
	for i := range cfg.SNMP.Credentials {
		creds[cfg.SNMP.Credentials[i].Name] = &cfg.SNMP.Credentials[i]
	}
	return &Sweeper{cfg: cfg, poller: p, log: log.With("component", "sweeper"), metrics: m, creds: creds}
}

// credentialsFor resolves a range's credential names; an empty list means all, in
// configuration order.
func (s *Sweeper) credentialsFor(names []string) []*Credential {
	if len(names) == 0 {
		out := make([]*Credential, 0, len(s.cfg.SNMP.Credentials))
		for i := range s.cfg.SNMP.Credentials {
			out = append(out, &s.cfg.SNMP.Credentials[i])
		}
		return out
	}
	out := make([]*Credential, 0, len(names))
	for _, n := range names {
		out = append(out, s.creds[n])
	}
	return out
}

// SweepResult summarises one sweep.
type SweepResult struct {
	Probed    int
	Responded int
	Elapsed   time.Duration
}

// sweepTarget is one address to probe with its range's settings.
type sweepTarget struct {
	addr  netip.AddrPort
	group int
}

type sweepGroup struct {
	creds    []*Credential
	wire     []*credWire
	hasV3    bool
	location observation.Location
	clinical bool
}

// answer is what came back from one address.
type answer struct {
	cred int        // index of the first community credential that answered, -1 none
	sys  SystemInfo // from that answer
	v3   bool       // answered the v3 discovery probe
}

// v3ProbeCred marks the v3 discovery probe in the low byte of a request id.
const v3ProbeCred = 0xff

// Sweep probes every address of every range, and every static target, once.
func (s *Sweeper) Sweep(ctx context.Context) SweepResult {
	start := time.Now()
	var groups []sweepGroup
	var targets []sweepTarget
	port := uint16(s.cfg.SNMP.Port)
	addGroup := func(creds []*Credential, loc observation.Location, clinical bool) int {
		g := sweepGroup{creds: creds, location: loc, clinical: clinical, wire: make([]*credWire, len(creds))}
		for i, c := range creds {
			g.wire[i] = newCredWire(c)
			g.hasV3 = g.hasV3 || g.wire[i] == nil
		}
		groups = append(groups, g)
		return len(groups) - 1
	}
	res := SweepResult{}
	// Targets go in chunks so that sweeping a /8 does not hold 16M entries at once.
	const chunk = 1 << 16
	flush := func() {
		if len(targets) == 0 || ctx.Err() != nil {
			targets = targets[:0]
			return
		}
		answers, err := s.probeAll(ctx, targets, groups)
		if err != nil && ctx.Err() == nil {
			s.log.Error("sweep", "err", err)
		}
		res.Probed += len(targets)
		res.Responded += s.resolve(ctx, targets, groups, answers)
		targets = targets[:0]
	}
	for _, r := range s.cfg.SNMP.Ranges {
		gi := addGroup(s.credentialsFor(r.Credentials), r.Location, r.Clinical)
		for a := range hosts(r.Prefix()) {
			targets = append(targets, sweepTarget{addr: netip.AddrPortFrom(a, port), group: gi})
			if len(targets) == chunk {
				flush()
			}
		}
	}
	for _, t := range s.cfg.SNMP.Targets {
		tg, err := parseTarget(t.Address, port)
		if err == nil {
			var ap netip.AddrPort
			if ap, err = tg.addrPort(); err == nil {
				targets = append(targets, sweepTarget{addr: ap, group: addGroup(s.credentialsFor(t.Credentials), t.Location, false)})
				continue
			}
		}
		s.log.Warn("skipping static target", "address", t.Address, "err", err)
	}
	flush()
	res.Elapsed = time.Since(start)
	s.metrics.sweepDone(res)
	s.log.Info("sweep done", "probed", res.Probed, "responded", res.Responded, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res
}

// probeAll runs phase 1 and returns the answers by target index.
func (s *Sweeper) probeAll(ctx context.Context, targets []sweepTarget, groups []sweepGroup) (map[int]*answer, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, fmt.Errorf("opening sweep socket: %w", err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(1 << 20)

	// Request ids carry a per-sweep nonce, the credential index in the low byte and
	// nothing else: the answering address says which target it is.
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	nonce := (binary.BigEndian.Uint32(nb[:])%0x7e + 1) << 24 // 0x01..0x7e in the top byte
	nonce |= binary.BigEndian.Uint32(nb[:]) & 0x00ffff00
	index := make(map[netip.AddrPort]int, len(targets))
	for i, t := range targets {
		index[t.addr] = i
	}

	var mu sync.Mutex
	answers := map[int]*answer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 9000)
		var resp wireResponse
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			ti, ok := index[from]
			if !ok {
				continue
			}
			pkt := buf[:n]
			var id int64
			v3 := false
			if ver, err := peekVersion(pkt); err == nil && ver == snmpber.Version3 {
				if id, err = peekV3MsgID(pkt); err != nil {
					continue
				}
				v3 = true
			} else if parseMessage(pkt, &resp) != nil || resp.pduType != snmpber.GetResponse {
				continue
			} else {
				id = resp.reqID
			}
			if uint32(id)&^0xff != nonce {
				continue
			}
			ci := int(uint32(id) & 0xff)
			mu.Lock()
			a := answers[ti]
			if a == nil {
				a = &answer{cred: -1}
				answers[ti] = a
			}
			switch {
			case v3 && ci == v3ProbeCred:
				a.v3 = true
			case !v3 && ci < len(groups[targets[ti].group].creds) && resp.errStatus == 0:
				// Keep the answer of the credential that comes first in the range's order.
				if a.cred < 0 || ci < a.cred {
					a.cred = ci
					a.sys = decodePoll(resp.vars).sys
				}
			}
			mu.Unlock()
		}
	}()

	pace := newPacer(s.cfg.SNMP.SweepRate)
	var wbuf []byte
	v3probe := v3DiscoveryProbe(nonce | v3ProbeCred)
	send := func(t sweepTarget) {
		g := &groups[t.group]
		ua := net.UDPAddrFromAddrPort(t.addr)
		for ci, w := range g.wire {
			if w == nil {
				continue
			}
			wbuf = w.sys.encode(wbuf, nonce|uint32(ci))
			pace.wait(ctx)
			_, _ = conn.WriteToUDP(wbuf, ua)
			s.metrics.packetSent()
		}
		if g.hasV3 {
			pace.wait(ctx)
			_, _ = conn.WriteToUDP(v3probe, ua)
			s.metrics.packetSent()
		}
	}
	pending := make([]int, len(targets))
	for i := range pending {
		pending[i] = i
	}
	for pass := 0; pass <= s.cfg.SNMP.Retries && len(pending) > 0 && ctx.Err() == nil; pass++ {
		for _, i := range pending {
			if ctx.Err() != nil {
				break
			}
			send(targets[i])
		}
		// Let the last answers of this pass arrive before deciding who stayed silent.
		select {
		case <-time.After(s.cfg.SNMP.Timeout):
		case <-ctx.Done():
		}
		mu.Lock()
		left := pending[:0]
		for _, i := range pending {
			if answers[i] == nil {
				left = append(left, i)
			}
		}
		mu.Unlock()
		pending = left
	}
	conn.Close()
	<-done
	return answers, ctx.Err()
}

// resolve runs phase 2 and hands every responder to the poller.
func (s *Sweeper) resolve(ctx context.Context, targets []sweepTarget, groups []sweepGroup, answers map[int]*answer) int {
	type job struct {
		t sweepTarget
		a *answer
	}
	jobs := make(chan job)
	var found sync.WaitGroup
	var mu sync.Mutex
	responded := 0
	for range s.cfg.SNMP.SweepWorkers {
		found.Go(func() {
			for j := range jobs {
				if s.settle(ctx, j.t, &groups[j.t.group], j.a) {
					mu.Lock()
					responded++
					mu.Unlock()
				}
			}
		})
	}
	for i, a := range answers {
		select {
		case jobs <- job{targets[i], a}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	found.Wait()
	return responded
}

// settle picks the first credential in range order that works for one responder.
func (s *Sweeper) settle(ctx context.Context, t sweepTarget, g *sweepGroup, a *answer) bool {
	target := Target{Host: t.addr.Addr().String(), Port: t.addr.Port()}
	for ci, cr := range g.creds {
		if g.wire[ci] != nil {
			if ci == a.cred {
				s.poller.Add(Found{Target: target, Cred: cr, Creds: g.creds, Sys: a.sys, Location: g.location, Clinical: g.clinical})
				return true
			}
			continue
		}
		if !a.v3 {
			continue
		}
		sys, err := s.getSystemV3(ctx, target, cr)
		if err == nil {
			s.poller.Add(Found{Target: target, Cred: cr, Creds: g.creds, Sys: sys, Location: g.location, Clinical: g.clinical})
			return true
		}
		s.log.Debug("v3 credential refused", "target", target.String(), "credential", cr.Name, "err", err)
	}
	return false
}

func (s *Sweeper) getSystemV3(ctx context.Context, t Target, cr *Credential) (SystemInfo, error) {
	g, err := newSession(ctx, t, cr, s.poller.sessionParams())
	if err != nil {
		return SystemInfo{}, err
	}
	defer g.Conn.Close()
	return getSystem(g)
}

// pacer spaces sends to a rate, sleeping in slices of at least a millisecond so the
// cost of sleeping stays low at high rates.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(rate int) *pacer {
	return &pacer{interval: time.Second / time.Duration(max(rate, 1)), next: time.Now()}
}

func (p *pacer) wait(ctx context.Context) {
	p.next = p.next.Add(p.interval)
	if d := time.Until(p.next); d > time.Millisecond {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	} else if d < -100*time.Millisecond {
		p.next = time.Now() // fell behind (machine busy): do not burst to catch up
	}
}

// hosts yields the host addresses of an IPv4 prefix: all of them for /31 and /32,
// otherwise without the network and broadcast addresses.
func hosts(p netip.Prefix) func(yield func(netip.Addr) bool) {
	return func(yield func(netip.Addr) bool) {
		first := p.Masked().Addr()
		if p.Bits() >= 31 {
			for a := first; p.Contains(a); a = a.Next() {
				if !yield(a) {
					return
				}
			}
			return
		}
		for a := first.Next(); p.Contains(a.Next()); a = a.Next() {
			if !yield(a) {
				return
			}
		}
	}
}

// parseTarget accepts "host" or "host:port".
func parseTarget(s string, defPort uint16) (Target, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return Target{Host: ap.Addr().String(), Port: ap.Port()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return Target{Host: a.String(), Port: defPort}, nil
	}
	return Target{}, fmt.Errorf("target %q: want an IP address or IP:port", s)
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}
