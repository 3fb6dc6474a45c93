package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Sweeper walks configured address ranges with bounded concurrency and hands every
// agent that answers to the poller.
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

type probeJob struct {
	target   Target
	creds    []*Credential
	location Location
}

// SweepResult summarises one sweep.
type SweepResult struct {
	Probed    int
	Responded int
	Elapsed   time.Duration
}

// Sweep probes every address of every range, and every static target, once.
func (s *Sweeper) Sweep(ctx context.Context) SweepResult {
	start := time.Now()
	jobs := make(chan probeJob)
	var (
		mu  sync.Mutex
		res SweepResult
		wg  sync.WaitGroup
	)
	for range s.cfg.SNMP.SweepWorkers {
		wg.Go(func() {
			for j := range jobs {
				ok := s.probe(ctx, j)
				mu.Lock()
				res.Probed++
				if ok {
					res.Responded++
				}
				mu.Unlock()
			}
		})
	}
	feed := func(j probeJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	port := uint16(s.cfg.SNMP.Port)
feeding:
	for _, r := range s.cfg.SNMP.Ranges {
		creds := s.credentialsFor(r.Credentials)
		for a := range hosts(r.Prefix()) {
			if !feed(probeJob{target: Target{Host: a.String(), Port: port}, creds: creds, location: r.Location}) {
				break feeding
			}
		}
	}
	for _, t := range s.cfg.SNMP.Targets {
		tg, err := parseTarget(t.Address, port)
		if err != nil {
			s.log.Warn("skipping static target", "address", t.Address, "err", err)
			continue
		}
		if !feed(probeJob{target: tg, creds: s.credentialsFor(t.Credentials), location: t.Location}) {
			break
		}
	}
	close(jobs)
	wg.Wait()
	res.Elapsed = time.Since(start)
	s.metrics.sweepDone(res)
	s.log.Info("sweep done", "probed", res.Probed, "responded", res.Responded, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res
}

// probe tries each credential in order; the first that gets an answer wins.
func (s *Sweeper) probe(ctx context.Context, j probeJob) bool {
	params := s.poller.sessionParams()
	for _, cr := range j.creds {
		g, err := newSession(ctx, j.target, cr, params)
		if err != nil {
			s.log.Debug("session", "target", j.target.String(), "err", err)
			return false
		}
		sys, err := getSystem(g)
		g.Conn.Close()
		if err != nil {
			continue
		}
		s.poller.Add(Found{Target: j.target, Cred: cr, Creds: j.creds, Sys: sys, Location: j.location})
		return true
	}
	return false
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
