package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// Encoded OIDs of the hot poll: the system group, and UPS-MIB status for UPSs.
var (
	oidSysDescrB    = mustOID(oidSysDescr)
	oidSysObjectIDB = mustOID(oidSysObjectID)
	oidSysUpTimeB   = mustOID(oidSysUpTime)
	oidSysNameB     = mustOID(oidSysName)
	oidSysLocationB = mustOID(oidSysLocation)

	oidUPSBatteryStatus = "1.3.6.1.2.1.33.1.2.1.0"
	oidUPSMinutesLeft   = "1.3.6.1.2.1.33.1.2.3.0"
	oidUPSOutputSource  = "1.3.6.1.2.1.33.1.4.1.0"
	oidUPSBatteryB      = mustOID(oidUPSBatteryStatus)
	oidUPSMinutesB      = mustOID(oidUPSMinutesLeft)
	oidUPSSourceB       = mustOID(oidUPSOutputSource)

	systemOIDsB = [][]byte{oidSysDescrB, oidSysObjectIDB, oidSysUpTimeB, oidSysNameB, oidSysLocationB}
	upsOIDs     = []string{oidUPSBatteryStatus, oidUPSMinutesLeft, oidUPSOutputSource}
	upsOIDsB    = [][]byte{oidUPSBatteryB, oidUPSMinutesB, oidUPSSourceB}
)

// UPSStatus is what UPS-MIB says about power.
type UPSStatus struct {
	Known          bool
	OnBattery      bool
	BatteryLow     bool
	MinutesLeft    int
	BatteryStatus  int
	OutputSource   int
	MinutesPresent bool
}

// pollResult is one poll's reading.
type pollResult struct {
	sys SystemInfo
	ups UPSStatus
}

// credWire holds the pre-encoded requests of one community credential.
type credWire struct {
	sys    getTemplate // system group
	sysUPS getTemplate // system group + UPS status
}

func newCredWire(cr *Credential) *credWire {
	if cr.Version != "1" && cr.Version != "2c" {
		return nil
	}
	v := snmpber.Version2c
	if cr.Version == "1" {
		v = snmpber.Version1
	}
	c := cr.Community.Reveal()
	return &credWire{
		sys:    newGetTemplate(v, c, snmpber.GetRequest, systemOIDsB),
		sysUPS: newGetTemplate(v, c, snmpber.GetRequest, append(append([][]byte{}, systemOIDsB...), upsOIDsB...)),
	}
}

// errTimeout is a poll that got no answer.
var errTimeout = errors.New("no response (timeout)")

// agentClient is owned by one worker goroutine and never shared: one long-lived
// unconnected UDP socket for v1/v2c (request ids demultiplex answers; a late answer
// to an earlier request is simply discarded), gosnmp sessions for v3. Creating a
// socket per poll, as a gosnmp session does, costs three system calls and a 64 KiB
// buffer each time; this costs one send and one receive.
type agentClient struct {
	mux    *udpMux // when set, v1/v2c exchanges share the mux's socket (failing lanes)
	conn   *net.UDPConn
	rbuf   []byte
	wbuf   []byte
	resp   wireResponse
	reqID  uint32
	params SessionParams
}

func newAgentClient(p SessionParams) (*agentClient, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, fmt.Errorf("opening poll socket: %w", err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	return &agentClient{
		conn: conn, rbuf: make([]byte, 9000), wbuf: make([]byte, 0, 512),
		reqID: binary.BigEndian.Uint32(seed[:]), params: p,
		resp: wireResponse{vars: make([]wireVar, 0, 8)},
	}, nil
}

// newMuxClient is the client of one poll in a failing lane: its exchanges go through
// the lane's shared socket.
func newMuxClient(m *udpMux, p SessionParams) *agentClient {
	return &agentClient{mux: m, params: p, resp: wireResponse{vars: make([]wireVar, 0, 8)}}
}

func (c *agentClient) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

func (c *agentClient) nextID() uint32 {
	c.reqID++
	if c.reqID < minReqID || c.reqID > maxReqID {
		c.reqID = minReqID
	}
	return c.reqID
}

// exchange sends a v1/v2c request and waits for the matching response, retrying.
func (c *agentClient) exchange(ctx context.Context, to netip.AddrPort, tpl *getTemplate, timeout time.Duration, retries int) (*wireResponse, error) {
	if c.mux != nil {
		pkt, err := c.mux.exchange(ctx, to, tpl, timeout, retries, c.params)
		if err != nil {
			return nil, err
		}
		if err := parseMessage(pkt, &c.resp); err != nil {
			return nil, fmt.Errorf("answer from %s: %w", to, err)
		}
		return &c.resp, nil
	}
	id := c.nextID()
	c.wbuf = tpl.encode(c.wbuf, id)
	ua := net.UDPAddrFromAddrPort(to)
	for attempt := 0; attempt <= retries; attempt++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt > 0 && c.params.OnRetry != nil {
			c.params.OnRetry()
		}
		if _, err := c.conn.WriteToUDP(c.wbuf, ua); err != nil {
			return nil, fmt.Errorf("sending to %s: %w", to, err)
		}
		if c.params.OnSent != nil {
			c.params.OnSent()
		}
		deadline := time.Now().Add(timeout)
		_ = c.conn.SetReadDeadline(deadline)
		for {
			n, from, err := c.conn.ReadFromUDPAddrPort(c.rbuf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, fmt.Errorf("reading from %s: %w", to, err)
			}
			if from.Addr().Unmap() != to.Addr() || from.Port() != to.Port() {
				continue
			}
			if parseMessage(c.rbuf[:n], &c.resp) != nil || c.resp.pduType != snmpber.GetResponse || c.resp.reqID != int64(id) {
				continue // stale answer to an earlier request, or garbage
			}
			return &c.resp, nil
		}
	}
	return nil, errTimeout
}

// poll reads the system group (and UPS status when ups is set) with one credential.
func (c *agentClient) poll(ctx context.Context, to netip.AddrPort, cr *Credential, w *credWire, v3 *v3State, ups bool, timeout time.Duration, retries int) (pollResult, error) {
	if w == nil {
		return c.pollV3(ctx, to, cr, v3, ups, timeout, retries)
	}
	tpl := &w.sys
	if ups {
		tpl = &w.sysUPS
	}
	r, err := c.exchange(ctx, to, tpl, timeout, retries)
	if err != nil {
		return pollResult{}, err
	}
	if r.errStatus == 2 && ups {
		// SNMPv1 answers noSuchName for the whole request when one object is missing.
		if r, err = c.exchange(ctx, to, &w.sys, timeout, retries); err != nil {
			return pollResult{}, err
		}
	}
	if r.errStatus != 0 {
		return pollResult{}, fmt.Errorf("agent %s: error-status %d at %d", to, r.errStatus, r.errIndex)
	}
	return decodePoll(r.vars), nil
}

func decodePoll(vars []wireVar) pollResult {
	var res pollResult
	for i := range vars {
		v := &vars[i]
		if v.isException() {
			continue
		}
		switch {
		case bytes.Equal(v.oid, oidSysDescrB):
			res.sys.Descr = v.text()
		case bytes.Equal(v.oid, oidSysObjectIDB):
			res.sys.ObjectID = v.text()
		case bytes.Equal(v.oid, oidSysUpTimeB):
			if t, ok := v.uint(); ok {
				res.sys.UpTime = time.Duration(t) * 10 * time.Millisecond
			}
		case bytes.Equal(v.oid, oidSysNameB):
			res.sys.Name = v.text()
		case bytes.Equal(v.oid, oidSysLocationB):
			res.sys.Location = v.text()
		case bytes.Equal(v.oid, oidUPSBatteryB):
			if n, ok := v.int(); ok {
				res.ups.Known, res.ups.BatteryStatus = true, int(n)
			}
		case bytes.Equal(v.oid, oidUPSMinutesB):
			if n, ok := v.int(); ok {
				res.ups.MinutesLeft, res.ups.MinutesPresent = int(n), true
			}
		case bytes.Equal(v.oid, oidUPSSourceB):
			if n, ok := v.int(); ok {
				res.ups.Known, res.ups.OutputSource = true, int(n)
			}
		}
	}
	res.ups.derive()
	return res
}

// derive sets the booleans from UPS-MIB codes: upsBatteryStatus 3 low, 4 depleted;
// upsOutputSource 5 battery.
func (u *UPSStatus) derive() {
	u.OnBattery = u.OutputSource == 5
	u.BatteryLow = u.BatteryStatus == 3 || u.BatteryStatus == 4
}

// v3State caches what engine discovery learnt of a v3 agent, so a poll need not
// repeat it: one round trip instead of two.
type v3State struct {
	engineID string
	boots    uint32
	time     uint32
	at       time.Time
}

// pollV3 polls through gosnmp (USM authentication and privacy).
func (c *agentClient) pollV3(ctx context.Context, to netip.AddrPort, cr *Credential, st *v3State, ups bool, timeout time.Duration, retries int) (pollResult, error) {
	params := c.params
	params.Retries = retries
	params.Timeout = timeout
	g, err := newSession(ctx, Target{Host: to.Addr().String(), Port: to.Port()}, cr, params)
	if err != nil {
		return pollResult{}, err
	}
	defer g.Conn.Close()
	usm := g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if st != nil && st.engineID != "" {
		usm.AuthoritativeEngineID = st.engineID
		usm.AuthoritativeEngineBoots = st.boots
		usm.AuthoritativeEngineTime = st.time + uint32(time.Since(st.at)/time.Second)
	}
	oids := systemOIDs
	if ups {
		oids = append(append([]string{}, systemOIDs...), upsOIDs...)
	}
	pkt, err := g.Get(oids)
	if err != nil {
		return pollResult{}, err
	}
	if st != nil {
		if u, ok := g.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
			st.engineID, st.boots, st.time, st.at = u.AuthoritativeEngineID, u.AuthoritativeEngineBoots, u.AuthoritativeEngineTime, time.Now()
		}
	}
	if pkt.Error != gosnmp.NoError {
		return pollResult{}, fmt.Errorf("agent %s: error-status %s", to, pkt.Error)
	}
	return decodeGosnmpPoll(pkt.Variables), nil
}

func decodeGosnmpPoll(vars []gosnmp.SnmpPDU) pollResult {
	var res pollResult
	for _, v := range vars {
		switch v.Type {
		case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
			continue
		}
		n, isNum := pduUint(v)
		switch strings.TrimPrefix(v.Name, ".") {
		case oidSysDescr:
			res.sys.Descr = pduString(v)
		case oidSysObjectID:
			res.sys.ObjectID = strings.TrimPrefix(pduString(v), ".")
		case oidSysUpTime:
			if isNum {
				res.sys.UpTime = time.Duration(n) * 10 * time.Millisecond
			}
		case oidSysName:
			res.sys.Name = pduString(v)
		case oidSysLocation:
			res.sys.Location = pduString(v)
		case oidUPSBatteryStatus:
			if isNum {
				res.ups.Known, res.ups.BatteryStatus = true, int(n)
			}
		case oidUPSMinutesLeft:
			if isNum {
				res.ups.MinutesLeft, res.ups.MinutesPresent = int(n), true
			}
		case oidUPSOutputSource:
			if isNum {
				res.ups.Known, res.ups.OutputSource = true, int(n)
			}
		}
	}
	res.ups.derive()
	return res
}
