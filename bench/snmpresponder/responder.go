// Package snmpresponder is a bench-only SNMP agent simulator: one UDP socket bound to
// the wildcard address answers SNMPv1/v2c GetRequests for the system group on behalf
// of any number of 127.x addresses. IP_PKTINFO tells it which address a request was
// sent to; it answers from that address, and only when that address is "alive".
//
// It is deliberately minimal (system group only, no GetNext/GetBulk walks, no v3,
// no tables) and is not the project's device simulator (internal/devicesim).
package snmpresponder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// Responder answers for many addresses on one port.
type Responder struct {
	pc        *ipv4.PacketConn
	raw       net.PacketConn
	community []byte
	alive     func(netip.Addr) bool
	start     time.Time

	mu    sync.RWMutex
	muted map[netip.Addr]bool

	Served  atomic.Uint64 // requests answered
	Ignored atomic.Uint64 // requests to dead or muted addresses, or unparsable
	wg      sync.WaitGroup
}

// Start binds 0.0.0.0:port (0 picks one) and serves with readers goroutines.
func Start(port int, community string, alive func(netip.Addr) bool, readers int) (*Responder, error) {
	c, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(8 << 20)
		_ = uc.SetWriteBuffer(8 << 20)
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("IP_PKTINFO: %w", err)
	}
	r := &Responder{pc: pc, raw: c, community: []byte(community), alive: alive, start: time.Now(), muted: map[netip.Addr]bool{}}
	for range max(readers, 1) {
		r.wg.Go(r.serve)
	}
	return r, nil
}

// Port is the bound UDP port.
func (r *Responder) Port() int { return r.raw.LocalAddr().(*net.UDPAddr).Port }

// Mute makes an address silent (a device that died); Unmute revives it.
func (r *Responder) Mute(a netip.Addr) {
	r.mu.Lock()
	r.muted[a] = true
	r.mu.Unlock()
}

// Unmute revives a muted address.
func (r *Responder) Unmute(a netip.Addr) {
	r.mu.Lock()
	delete(r.muted, a)
	r.mu.Unlock()
}

// Close stops serving.
func (r *Responder) Close() error {
	err := r.raw.Close()
	r.wg.Wait()
	return err
}

func (r *Responder) serve() {
	buf := make([]byte, 2048)
	out := make([]byte, 0, 2048)
	for {
		n, cm, src, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if cm == nil {
			continue
		}
		dst, ok := netip.AddrFromSlice(cm.Dst.To4())
		if !ok || !r.alive(dst) {
			r.Ignored.Add(1)
			continue
		}
		r.mu.RLock()
		m := r.muted[dst]
		r.mu.RUnlock()
		if m {
			r.Ignored.Add(1)
			continue
		}
		resp, ok := r.answer(out[:0], buf[:n], dst)
		if !ok {
			r.Ignored.Add(1)
			continue
		}
		out = resp
		if _, err := r.pc.WriteTo(resp, &ipv4.ControlMessage{Src: cm.Dst}, src); err == nil {
			r.Served.Add(1)
		}
	}
}

// Encoded system-group OIDs (1.3.6.1.2.1.1.N.0).
func sysOID(n byte) []byte { return []byte{0x2b, 6, 1, 2, 1, 1, n, 0} }

var descrs = []string{
	"Philips IntelliVue MX450 Rev. M.00.03",
	"BD Alaris 8015 PC Unit version 12.1.2",
	"HAMILTON-C6 ventilator v2.3.1",
	"Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc1)",
	"APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 MN:SMT1500RMI2U)",
}

// answer builds the response to a GetRequest, or reports false.
func (r *Responder) answer(out, req []byte, dst netip.Addr) ([]byte, bool) {
	body, ok := inner(req, 0x30)
	if !ok {
		return nil, false
	}
	ver, body, ok := tlv(body, 0x02)
	if !ok || len(ver) != 1 || ver[0] > 1 {
		return nil, false
	}
	comm, body, ok := tlv(body, 0x04)
	if !ok || string(comm) != string(r.community) {
		return nil, false
	}
	pdu, _, ok := tlv(body, 0xa0)
	if !ok {
		return nil, false
	}
	reqID, pdu, ok := tlv(pdu, 0x02)
	if !ok {
		return nil, false
	}
	_, pdu, ok = tlv(pdu, 0x02)
	if !ok {
		return nil, false
	}
	_, pdu, ok = tlv(pdu, 0x02)
	if !ok {
		return nil, false
	}
	vbl, _, ok := tlv(pdu, 0x30)
	if !ok {
		return nil, false
	}
	h := dst.As4()
	var vbs []byte
	for len(vbl) > 0 {
		var vb []byte
		if vb, vbl, ok = tlv(vbl, 0x30); !ok {
			return nil, false
		}
		oid, _, ok := tlv(vb, 0x06)
		if !ok {
			return nil, false
		}
		var val []byte
		if len(oid) == 8 && string(oid[:6]) == string(sysOID(0)[:6]) && oid[7] == 0 {
			switch oid[6] {
			case 1:
				val = appendTLV(nil, 0x04, []byte(descrs[int(h[3])%len(descrs)]))
			case 2:
				val = appendTLV(nil, 0x06, []byte{0x2b, 6, 1, 4, 1, 0xbf, 0x08, 3, 2, 10})
			case 3:
				ticks := uint32(time.Since(r.start) / (10 * time.Millisecond))
				val = appendTLV(nil, 0x43, []byte{byte(ticks >> 24), byte(ticks >> 16), byte(ticks >> 8), byte(ticks)})
			case 5:
				val = appendTLV(nil, 0x04, []byte(fmt.Sprintf("sim-%d-%d-%d-%d", h[0], h[1], h[2], h[3])))
			case 6:
				val = appendTLV(nil, 0x04, []byte("Ward 3"))
			}
		}
		if val == nil {
			val = []byte{0x80, 0} // noSuchObject
		}
		v := appendTLV(nil, 0x06, oid)
		vbs = appendTLV(vbs, 0x30, append(v, val...))
	}
	p := appendTLV(nil, 0x02, reqID)
	p = append(p, 0x02, 1, 0, 0x02, 1, 0)
	p = appendTLV(p, 0x30, vbs)
	m := appendTLV(nil, 0x02, ver)
	m = appendTLV(m, 0x04, comm)
	m = appendTLV(m, 0xa2, p)
	return appendTLV(out, 0x30, m), true
}

func inner(b []byte, tag byte) ([]byte, bool) {
	c, _, ok := tlv(b, tag)
	return c, ok
}

// tlv reads one TLV with the expected tag.
func tlv(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	l, p := int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 2 || len(b) < 2+n {
			return nil, nil, false
		}
		l = 0
		for i := range n {
			l = l<<8 | int(b[2+i])
		}
		p += n
	}
	if l > len(b)-p {
		return nil, nil, false
	}
	return b[p : p+l], b[p+l:], true
}

func appendTLV(b []byte, tag byte, c []byte) []byte {
	b = append(b, tag)
	switch {
	case len(c) < 0x80:
		b = append(b, byte(len(c)))
	case len(c) < 0x100:
		b = append(b, 0x81, byte(len(c)))
	default:
		b = append(b, 0x82, byte(len(c)>>8), byte(len(c)))
	}
	return append(b, c...)
}
