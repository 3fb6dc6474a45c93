package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/medcmdb/medcmdb/internal/lograte"
)

// The trap port is open to the network: anyone can send to it, and every trap taken
// becomes an observation, an asset if the sender is new, and history. So the listener
// takes traps only from where the collector's devices are (the snmp ranges and targets,
// or what traps.accept_from adds) and only so many per sender; the rest is counted
// (medcmdb_snmp_traps_ignored_total{reason}) and told in the log: the first one at
// once, then at most one line per reason per trapLogEvery with the count (lograte).

// Reasons a trap is ignored.
const (
	ignoredOutOfRange  = "out_of_range"
	ignoredRateLimited = "rate_limited"
)

// Trap acceptance keywords of traps.accept_from.
const (
	acceptRanges = "ranges"
	acceptAny    = "any"
)

// trapLogEvery is the interval of the ignored-trap summary line.
const trapLogEvery = lograte.DefaultInterval

// ignoredMessage is the log line of an ignored trap, by reason.
var ignoredMessage = map[string]string{
	ignoredOutOfRange:  "trap from outside the accepted addresses ignored (traps.accept_from)",
	ignoredRateLimited: "trap over its sender's rate limit ignored (traps.per_source_rate)",
}

func defaultTrapConfig() TrapConfig {
	return TrapConfig{
		ReadBuffer: 8 << 20, QueueSize: 65536,
		AcceptFrom: []string{acceptRanges},
		// A device in a storm (a flapping link, a UPS cycling) sends tens of traps in
		// a burst; 300 distinct traps in 5 s from one device are all taken.
		PerSourceRate: 10, PerSourceBurst: 500, MaxSources: 10000,
	}
}

// validate checks the trap settings.
func (t *TrapConfig) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if t.QueueSize < 1 {
		add("traps.queue_size: %d must be at least 1", t.QueueSize)
	}
	if len(t.AcceptFrom) == 0 {
		add("traps.accept_from: empty: list %q, %q or CIDRs", acceptRanges, acceptAny)
	}
	for i, a := range t.AcceptFrom {
		switch a {
		case acceptRanges:
		case acceptAny:
			if len(t.AcceptFrom) > 1 {
				add("traps.accept_from[%d]: %q accepts every address: list it alone", i, a)
			}
		default:
			if _, err := netip.ParsePrefix(a); err != nil {
				add("traps.accept_from[%d]: %q is not %q, %q or a CIDR", i, a, acceptRanges, acceptAny)
			}
		}
	}
	if t.PerSourceRate < 0 || t.PerSourceRate > 1e6 {
		add("traps.per_source_rate: %g is outside 0 (no limit)..1000000 traps per second", t.PerSourceRate)
	}
	if t.PerSourceRate > 0 && (t.PerSourceBurst < 1 || t.PerSourceBurst > 1e7) {
		add("traps.per_source_burst: %d is outside 1..10000000", t.PerSourceBurst)
	}
	if t.MaxSources < 1 || t.MaxSources > 1e6 {
		add("traps.max_sources: %d is outside 1..1000000", t.MaxSources)
	}
	return errors.Join(errs...)
}

// acceptSet is where traps are taken from.
type acceptSet struct {
	any      bool
	prefixes []netip.Prefix
}

// newAcceptSet resolves traps.accept_from against the SNMP ranges and targets (valid
// configuration). A target named by host name is not in it: its address must be
// listed in accept_from.
func newAcceptSet(cfg *Config) acceptSet {
	var s acceptSet
	for _, a := range cfg.Traps.AcceptFrom {
		switch a {
		case acceptAny:
			s.any = true
		case acceptRanges:
			for _, r := range cfg.SNMP.Ranges {
				if r.Prefix().IsValid() {
					s.prefixes = append(s.prefixes, r.Prefix())
				}
			}
			for _, t := range cfg.SNMP.Targets {
				host := t.Address
				if h, _, err := net.SplitHostPort(t.Address); err == nil {
					host = h
				}
				if ip, err := netip.ParseAddr(host); err == nil {
					ip = ip.Unmap()
					s.prefixes = append(s.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				}
			}
		default:
			if p, err := netip.ParsePrefix(a); err == nil {
				s.prefixes = append(s.prefixes, p.Masked())
			}
		}
	}
	return s
}

func (s *acceptSet) contains(a netip.Addr) bool {
	if s.any {
		return true
	}
	a = a.Unmap()
	return slices.ContainsFunc(s.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// sourceLimiter is a token bucket per source address, over a bounded table. It is
// used by the socket reader alone, so it has no lock. When the table is full, buckets
// that are full again (their source went quiet) are dropped, at most once a second;
// if none is, new sources share one bucket until some are.
type sourceLimiter struct {
	rate, burst float64
	max         int
	m           map[netip.Addr]*bucket
	swept       time.Time
	overflow    bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newSourceLimiter(rate float64, burst, max int) *sourceLimiter {
	if rate <= 0 {
		return nil
	}
	return &sourceLimiter{rate: rate, burst: float64(burst), max: max, m: map[netip.Addr]*bucket{},
		overflow: bucket{tokens: float64(burst)}}
}

// allow takes a token of the source's bucket; a nil limiter allows everything.
func (l *sourceLimiter) allow(a netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	b := l.m[a]
	if b == nil {
		if len(l.m) >= l.max {
			l.sweep(now)
		}
		if len(l.m) >= l.max {
			b = &l.overflow
		} else {
			b = &bucket{tokens: l.burst, at: now}
			l.m[a] = b
		}
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *sourceLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Second {
		return
	}
	l.swept = now
	for a, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.m, a)
		}
	}
}
