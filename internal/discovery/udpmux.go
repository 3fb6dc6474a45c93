package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// udpMux carries the v1/v2c exchanges of many concurrent polls over one socket,
// telling answers apart by request id and source address. The failing lanes use it:
// a poll of a device that does not answer spends most of its time waiting out
// timeouts, and with one socket and one goroutine per in-flight poll that wait costs
// a parked goroutine instead of a worker. A thousand devices dying at once then all
// wait at the same time instead of queueing behind a fixed number of workers, which
// delayed the DOWN of every device that died in the same seconds.
type udpMux struct {
	conn *net.UDPConn

	mu      sync.Mutex
	reqID   uint32
	pending map[uint32]*muxCall
}

// muxCall is one exchange waiting for its answer.
type muxCall struct {
	to netip.AddrPort
	ch chan []byte // the answer, a private copy; buffered so the reader never blocks
}

func newUDPMux() (*udpMux, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, fmt.Errorf("opening poll socket: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	return &udpMux{conn: conn, reqID: minReqID, pending: map[uint32]*muxCall{}}, nil
}

// run reads answers and hands each to the exchange waiting for it, until the socket
// is closed.
func (m *udpMux) run() {
	buf := make([]byte, 9000)
	r := wireResponse{vars: make([]wireVar, 0, 8)}
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if parseMessage(buf[:n], &r) != nil || r.pduType != snmpber.GetResponse {
			continue
		}
		m.mu.Lock()
		c := m.pending[uint32(r.reqID)]
		if c != nil && c.to.Addr() == from.Addr().Unmap() && c.to.Port() == from.Port() {
			delete(m.pending, uint32(r.reqID))
		} else {
			c = nil // a late answer to an exchange that gave up, or garbage
		}
		m.mu.Unlock()
		if c != nil {
			c.ch <- append([]byte(nil), buf[:n]...)
		}
	}
}

// Close stops the reader; exchanges still waiting end with their context or timeout.
func (m *udpMux) Close() error { return m.conn.Close() }

// register reserves a request id for an exchange with to.
func (m *udpMux) register(to netip.AddrPort) (uint32, *muxCall) {
	c := &muxCall{to: to, ch: make(chan []byte, 1)}
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		m.reqID++
		if m.reqID < minReqID || m.reqID > maxReqID {
			m.reqID = minReqID
		}
		if m.pending[m.reqID] == nil {
			m.pending[m.reqID] = c
			return m.reqID, c
		}
	}
}

func (m *udpMux) unregister(id uint32) {
	m.mu.Lock()
	delete(m.pending, id)
	m.mu.Unlock()
}

// inFlight counts exchanges waiting for an answer.
func (m *udpMux) inFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// exchange sends a request built from tpl to to and waits for its answer, retrying;
// the answer is the caller's to parse.
func (m *udpMux) exchange(ctx context.Context, to netip.AddrPort, tpl *getTemplate, timeout time.Duration, retries int, p SessionParams) ([]byte, error) {
	id, c := m.register(to)
	defer m.unregister(id)
	msg := tpl.encode(nil, id)
	ua := net.UDPAddrFromAddrPort(to)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 && p.OnRetry != nil {
			p.OnRetry()
		}
		if _, err := m.conn.WriteToUDP(msg, ua); err != nil {
			return nil, fmt.Errorf("sending to %s: %w", to, err)
		}
		if p.OnSent != nil {
			p.OnSent()
		}
		timer.Reset(timeout)
		select {
		case pkt := <-c.ch:
			return pkt, nil
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, errTimeout
}
