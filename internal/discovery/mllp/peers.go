package mllp

import (
	"container/list"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Reasons a connection is refused at accept or closed by the server; they are the
// label values of the collector's metrics.
const (
	RefusedPerPeer  = "per_peer"           // the peer's address has MaxConnsPerPeer open
	RefusedMaxConns = "max_connections"    // MaxConns open
	RefusedReserved = "reserved_for_known" // only the slots kept for known peers are left
	ClosedIdle      = "idle"               // nothing for IdleTimeout between frames
	ClosedFrameSlow = "frame_timeout"      // a frame not complete FrameTimeout after its start
	ClosedBudget    = "partial_frame_budget"
	ClosedEvicted   = "evicted" // an unknown peer's oldest connection, to make room when full
)

// maxKnownPeers bounds the table of known peers (a few MB at most).
const maxKnownPeers = 65536

// markEvery is how often a connection refreshes its peer in the known table: a sender
// answering thousands of messages a second takes the server's lock once a minute.
const markEvery = time.Minute

// conn is one accepted connection and what the server knows of its peer.
type conn struct {
	net.Conn
	addr netip.Addr
	// known: the peer sent a valid message recently (at accept, or since). Set at
	// accept, then changed only by the connection's own goroutine, under s.mu together
	// with elem; so that goroutine may read it without the lock.
	known    bool
	markedAt time.Time
	s        *Server

	accepted time.Time
	elem     *list.Element // in s.unknown while the connection's peer is not known
}

// Grow and Free make a conn the Allocator of its Reader: every connection draws on the
// server's one budget, and an unknown peer cannot take the part kept for known ones.
func (c *conn) Grow(n int) bool { return c.s.budget.take(int64(n), c.known) }
func (c *conn) Free(n int)      { c.s.budget.give(int64(n)) }

// budget bounds the bytes all connections together hold in frames still arriving.
type budget struct {
	limit  int64 // for known peers
	shared int64 // for everyone else: limit minus the part kept for known peers
	used   atomic.Int64
}

func (b *budget) take(n int64, known bool) bool {
	lim := b.shared
	if known {
		lim = b.limit
	}
	for {
		u := b.used.Load()
		if u+n > lim {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *budget) give(n int64) { b.used.Add(-n) }

// peerAddr is the IP address of a connection's remote end (IPv4-mapped IPv6 unmapped,
// so one host counts once whichever way it connected).
func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admit decides whether a new connection may stay, and counts it; s.mu is held. A
// peer over its own cap is refused. When the listener is full (for everyone, or for
// unknown peers once only the reserved slots are left), the oldest connection of an
// unknown peer that has been open EvictAfter without delivering a valid message is
// closed to make room; with none that old, the newcomer is refused. So idle or
// half-sent connections cannot keep a real sender out for long, and a sender whose
// connection delivers its first valid message in time is never evicted.
func (s *Server) admit(c *conn, now time.Time) (reason string, limit int) {
	if s.perPeer[c.addr] >= s.cfg.MaxConnsPerPeer {
		return RefusedPerPeer, s.cfg.MaxConnsPerPeer
	}
	c.known = s.isKnown(c.addr, now)
	full := len(s.conns) >= s.cfg.MaxConns
	unknownFull := !c.known && s.unknown.Len() >= s.cfg.MaxConns-s.cfg.ReservedConns
	if full || unknownFull {
		oldest := s.unknown.Front()
		if oldest == nil || now.Sub(oldest.Value.(*conn).accepted) < s.cfg.EvictAfter {
			if full {
				return RefusedMaxConns, s.cfg.MaxConns
			}
			return RefusedReserved, s.cfg.MaxConns - s.cfg.ReservedConns
		}
		victim := oldest.Value.(*conn)
		s.release(victim) // counted out now; its goroutine ends when it sees the close
		victim.Close()
		s.closedFor(ClosedEvicted)
		s.logs.Warn(ClosedEvicted, "mllp connection closed to make room: the oldest of an unknown peer",
			"peer", victim.addr.String(), "age", now.Sub(victim.accepted).Round(time.Second), "newcomer", c.addr.String())
	}
	c.accepted = now
	s.conns[c] = struct{}{}
	s.perPeer[c.addr]++
	if !c.known {
		c.elem = s.unknown.PushBack(c)
	}
	return "", 0
}

// release forgets a connection; s.mu is held. It may run twice for a connection
// (evicted, then ended), the second time doing nothing.
func (s *Server) release(c *conn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perPeer[c.addr]--; s.perPeer[c.addr] <= 0 {
		delete(s.perPeer, c.addr)
	}
	if c.elem != nil {
		s.unknown.Remove(c.elem)
		c.elem = nil
	}
}

// isKnown reports whether addr sent a valid message within KnownPeerTTL; s.mu is held.
func (s *Server) isKnown(addr netip.Addr, now time.Time) bool {
	t, ok := s.known[addr]
	return ok && now.Sub(t) < s.cfg.KnownPeerTTL
}

// markKnown records that c's peer sent a valid message.
func (s *Server) markKnown(c *conn) {
	now := s.now()
	if c.known && now.Sub(c.markedAt) < markEvery {
		return
	}
	c.markedAt = now
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.known[c.addr]; !ok && len(s.known) >= maxKnownPeers {
		for a, t := range s.known {
			if now.Sub(t) >= s.cfg.KnownPeerTTL {
				delete(s.known, a)
			}
		}
		// Still full: make room by forgetting one peer at random (map order). An
		// attacker would need tens of thousands of addresses that each sent a valid
		// message to push real senders out.
		for a := range s.known {
			if len(s.known) < maxKnownPeers {
				break
			}
			delete(s.known, a)
		}
	}
	s.known[c.addr] = now
	c.known = true
	if c.elem != nil {
		s.unknown.Remove(c.elem)
		c.elem = nil
	}
}
