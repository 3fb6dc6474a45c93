package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/lograte"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// Trap OIDs (SNMPv2-MIB, IF-MIB, UPS-MIB, APC PowerNet-MIB).
const (
	oidSnmpTrapOID     = "1.3.6.1.6.3.1.1.4.1.0"
	oidSnmpTrapAddress = "1.3.6.1.6.3.18.1.3.0"
	oidTrapColdStart   = "1.3.6.1.6.3.1.1.5.1"
	oidTrapWarmStart   = "1.3.6.1.6.3.1.1.5.2"
	oidTrapLinkDown    = "1.3.6.1.6.3.1.1.5.3"
	oidTrapLinkUp      = "1.3.6.1.6.3.1.1.5.4"
	oidIfIndex         = "1.3.6.1.2.1.2.2.1.1"
	oidUPSTrapOnBatt   = "1.3.6.1.2.1.33.2.1"
	oidUPSTrapAlarmAdd = "1.3.6.1.2.1.33.2.3"
	oidUPSTrapAlarmRem = "1.3.6.1.2.1.33.2.4"
	oidUPSAlarmOnBatt  = "1.3.6.1.2.1.33.1.6.3.2"
	oidUPSAlarmLowBatt = "1.3.6.1.2.1.33.1.6.3.3"
	oidUPSAlarmDeplete = "1.3.6.1.2.1.33.1.6.3.4"
	oidAPCOnBattery    = "1.3.6.1.4.1.318.0.5"
	oidAPCLowBattery   = "1.3.6.1.4.1.318.0.7"
	oidAPCPowerRestore = "1.3.6.1.4.1.318.0.9"
	oidAPCLowBattClear = "1.3.6.1.4.1.318.0.11"
)

// TrapListener receives SNMP v1/v2c/v3 traps and turns them into immediate
// observations. The socket reader only admits datagrams (trapguard.go) and copies
// them into a queue; decoding (which for v3 means authenticating and decrypting) runs
// on separate goroutines, so a burst waits in the large socket buffer and the queues
// instead of being dropped. Each sender's datagrams go to one decoder, so its traps
// are emitted in the order they were received.
type TrapListener struct {
	cfg     *Config
	poller  *Poller
	emit    Emitter
	ids     *observation.IDs
	log     *slog.Logger
	metrics *collectorMetrics
	conn    *net.UDPConn
	queues  []chan trapPacket

	accept  acceptSet
	limit   *sourceLimiter // used by the reader goroutine only
	ignored *lograte.Limiter

	communities map[string]bool
	v3          []*Credential
	rcvbuf      int
}

type trapPacket struct {
	from netip.AddrPort
	at   time.Time
	data []byte
}

// NewTrapListener binds the trap socket now, so a bad address fails at start and
// tests can use port 0.
func newTrapListener(cfg *Config, p *Poller, emit Emitter, ids *observation.IDs, m *collectorMetrics, log *slog.Logger) (*TrapListener, error) {
	addr, err := net.ResolveUDPAddr("udp", cfg.Traps.Listen)
	if err != nil {
		return nil, fmt.Errorf("traps.listen %q: %w", cfg.Traps.Listen, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("traps.listen %q: %w", cfg.Traps.Listen, err)
	}
	t := &TrapListener{
		cfg: cfg, poller: p, emit: emit, ids: ids, metrics: m, conn: conn,
		log:         log.With("component", "traps"),
		communities: map[string]bool{},
		accept:      newAcceptSet(cfg),
		limit:       newSourceLimiter(cfg.Traps.PerSourceRate, cfg.Traps.PerSourceBurst, cfg.Traps.MaxSources),
	}
	t.ignored = lograte.New(t.log, trapLogEvery, lograte.Options{})
	for range trapDecoders {
		t.queues = append(t.queues, make(chan trapPacket, max(1, cfg.Traps.QueueSize/trapDecoders)))
	}
	t.rcvbuf = setReadBuffer(conn, cfg.Traps.ReadBuffer)
	for i := range cfg.SNMP.Credentials {
		cr := &cfg.SNMP.Credentials[i]
		if len(cfg.Traps.Credentials) > 0 && !slices.Contains(cfg.Traps.Credentials, cr.Name) {
			continue
		}
		if cr.Version == "3" {
			t.v3 = append(t.v3, cr)
		} else {
			t.communities[cr.Community.Reveal()] = true
		}
	}
	return t, nil
}

// setReadBuffer asks for a large receive buffer, beyond net.core.rmem_max when the
// process may (SO_RCVBUFFORCE), and returns what the kernel granted.
func setReadBuffer(conn *net.UDPConn, want int) int {
	if want <= 0 {
		return 0
	}
	got := 0
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, want) != nil {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, want)
			}
			got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		})
	}
	return got
}

// Addr is the bound address.
func (t *TrapListener) Addr() net.Addr { return t.conn.LocalAddr() }

// trapDecoders is the number of decoding goroutines.
const trapDecoders = 2

// Run reads and decodes traps until ctx ends.
func (t *TrapListener) Run(ctx context.Context) error {
	t.log.Info("trap listener started", "addr", t.Addr().String(), "socket_buffer", t.rcvbuf,
		"accept_from", t.cfg.Traps.AcceptFrom, "per_source_rate", t.cfg.Traps.PerSourceRate)
	var wg sync.WaitGroup
	for _, q := range t.queues {
		wg.Go(func() { t.decodeLoop(ctx, q) })
	}
	defer t.ignored.Flush()
	stop := context.AfterFunc(ctx, func() { t.conn.Close() })
	defer stop()
	// Datagrams are copied into slabs so the reader allocates rarely.
	var slab []byte
	buf := make([]byte, 65535)
	var err error
	for {
		n, from, rerr := t.conn.ReadFromUDPAddrPort(buf)
		if rerr != nil {
			if ctx.Err() == nil && !errors.Is(rerr, net.ErrClosed) {
				err = fmt.Errorf("reading traps: %w", rerr)
			}
			break
		}
		t.metrics.trap("received")
		src, now := from.Addr().Unmap(), time.Now()
		if reason := t.admit(src, now); reason != "" {
			t.ignore(reason, src)
			continue
		}
		if len(slab) < n {
			slab = make([]byte, max(256<<10, n))
		}
		data := slab[:n:n]
		copy(data, buf[:n])
		slab = slab[n:]
		select {
		case t.queues[decoderOf(src)] <- trapPacket{from: netip.AddrPortFrom(src, from.Port()), at: now, data: data}:
		default:
			t.metrics.trap("dropped")
		}
	}
	for _, q := range t.queues {
		close(q)
	}
	wg.Wait()
	return err
}

// admit says why a datagram from src is ignored before it is decoded ("": it is not).
func (t *TrapListener) admit(src netip.Addr, now time.Time) string {
	if !t.accept.contains(src) {
		return ignoredOutOfRange
	}
	if !t.limit.allow(src, now) {
		return ignoredRateLimited
	}
	return ""
}

// ignore counts a trap ignored and tells the log, a line per reason and interval.
func (t *TrapListener) ignore(reason string, src netip.Addr) {
	t.metrics.trapIgnored(reason)
	t.ignored.Warn(reason, ignoredMessage[reason], "reason", reason, "from", src.String())
}

// decoderOf spreads senders over the decoders, each sender always to the same one.
func decoderOf(a netip.Addr) int {
	b := a.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % trapDecoders)
}

func (t *TrapListener) decodeLoop(ctx context.Context, queue <-chan trapPacket) {
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, Context: ctx}
	if len(t.v3) > 0 {
		table := gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
		for _, cr := range t.v3 {
			ap, _ := authProtocol(cr.AuthProtocol)
			pp, _ := privProtocol(cr.PrivProtocol)
			_ = table.Add(cr.Username, &gosnmp.UsmSecurityParameters{
				UserName: cr.Username, AuthenticationProtocol: ap, AuthenticationPassphrase: cr.AuthPassphrase.Reveal(),
				PrivacyProtocol: pp, PrivacyPassphrase: cr.PrivPassphrase.Reveal(),
			})
		}
		g.SetTrapSecurityParametersTable(table)
	}
	for pkt := range queue {
		t.handle(g, pkt)
	}
}

// handle decodes one datagram and emits what it means.
func (t *TrapListener) handle(g *gosnmp.GoSNMP, pkt trapPacket) {
	ver, err := peekVersion(pkt.data)
	if err != nil {
		t.metrics.trap("rejected")
		return
	}
	if ver == snmpber.Version3 && len(t.v3) == 0 {
		t.metrics.trap("rejected")
		return
	}
	tr, err := unmarshalTrap(g, pkt.data, ver == snmpber.Version3)
	if err != nil || tr == nil {
		t.metrics.trap("rejected")
		t.log.Debug("undecodable or unauthenticated trap", "from", pkt.from.String(), "err", err)
		return
	}
	if ver != snmpber.Version3 && !t.communities[tr.Community] {
		t.metrics.trap("rejected")
		t.log.Debug("trap with unknown community", "from", pkt.from.String())
		return
	}
	switch tr.PDUType {
	case gosnmp.Trap, gosnmp.SNMPv2Trap, gosnmp.InformRequest:
	default:
		t.metrics.trap("rejected")
		return
	}
	ti := decodeTrapInfo(tr, pkt.from.Addr())
	if ti.source != pkt.from.Addr() && !t.accept.contains(ti.source) {
		// A sender in range speaking for a device outside (agent-addr,
		// snmpTrapAddress): the device would become an asset all the same.
		t.ignore(ignoredOutOfRange, ti.source)
		return
	}
	t.metrics.trap("decoded")
	t.emit.Emit(t.observe(ti, pkt))
}

// unmarshalTrap decodes a datagram with gosnmp, turning a panic of the decoder into
// an error: gosnmp v1.47 dereferences nil security parameters on some malformed v3
// headers (found by FuzzTrapHandle), and garbage on a UDP port must never take the
// collector down.
func unmarshalTrap(g *gosnmp.GoSNMP, data []byte, v3 bool) (tr *gosnmp.SnmpPacket, err error) {
	defer func() {
		if v := recover(); v != nil {
			tr, err = nil, fmt.Errorf("malformed trap: decoder panicked: %v", v)
		}
	}()
	return g.UnmarshalTrap(data, v3)
}

// trapInfo is the meaning of a trap, independent of the SNMP version.
type trapInfo struct {
	oid     string
	source  netip.Addr
	ifIndex int
	vars    map[string]string
}

func decodeTrapInfo(tr *gosnmp.SnmpPacket, from netip.Addr) trapInfo {
	ti := trapInfo{source: from, vars: map[string]string{}, ifIndex: -1}
	if tr.PDUType == gosnmp.Trap {
		// SNMPv1 → v2 trap OID (RFC 3584 §3.1).
		if tr.GenericTrap >= 0 && tr.GenericTrap < 6 {
			ti.oid = "1.3.6.1.6.3.1.1.5." + strconv.Itoa(tr.GenericTrap+1)
		} else {
			ti.oid = strings.TrimPrefix(tr.Enterprise, ".") + ".0." + strconv.Itoa(tr.SpecificTrap)
		}
		if a, err := netip.ParseAddr(tr.AgentAddress); err == nil && !a.IsUnspecified() {
			ti.source = a
		}
	}
	for _, v := range tr.Variables {
		name := strings.TrimPrefix(v.Name, ".")
		val := pduString(v)
		if v.Type == gosnmp.ObjectIdentifier {
			val = strings.TrimPrefix(val, ".")
		}
		switch {
		case name == oidSnmpTrapOID:
			ti.oid = val
		case name == oidSnmpTrapAddress:
			if a, err := netip.ParseAddr(val); err == nil && !a.IsUnspecified() {
				ti.source = a
			}
		case strings.HasPrefix(name, oidIfIndex+"."):
			if n, ok := pduUint(v); ok {
				ti.ifIndex = int(n)
			}
		}
		if len(ti.vars) < 32 {
			ti.vars[name] = val
		}
	}
	return ti
}

// observe turns a trap into an observation about the device that sent it.
func (t *TrapListener) observe(ti trapInfo, pkt trapPacket) observation.Observation {
	p := t.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.lookup(ti.source)
	var o observation.Observation
	if d != nil {
		o = p.observation(d, observation.KindChange, observation.SourceSNMPTrap, pkt.at)
	} else {
		o = observation.Observation{
			ID: t.ids.Next(), Collector: t.cfg.Name, Site: t.cfg.Site, ObservedAt: pkt.at,
			ValidUntil: pkt.at.Add(p.validity()), Source: observation.SourceSNMPTrap, Kind: observation.KindChange,
			Address: &observation.Address{IP: ti.source.String()},
		}
	}
	// Traps are deltas: they speak of one condition, never of the full set.
	o.Conditions = nil
	o.Neighbors = nil
	o.Condition, o.Detail = "", ""
	o.State = observation.StateUp

	set := func(bit condSet, on bool) {
		if d != nil {
			d.conds = d.conds.with(bit, on)
			p.setReported(d)
		}
	}
	event := func(cond, detail string) {
		o.Kind, o.Condition, o.Detail = observation.KindEvent, cond, detail
	}
	raise := func(cond string, bit condSet, detail string) {
		o.Condition, o.State, o.Detail = cond, observation.StateDegraded, detail
		set(bit, true)
	}
	clearCond := func(cond string, bit condSet, detail string) {
		o.Condition, o.State, o.Detail = cond, observation.StateUp, detail
		set(bit, false)
	}
	alarm := ti.vars["1.3.6.1.2.1.33.1.6.2.1.2"] // upsAlarmDescr in the varbinds, if any
	for k, v := range ti.vars {
		if strings.HasPrefix(k, "1.3.6.1.2.1.33.1.6.2.1.2.") {
			alarm = v
		}
	}
	switch ti.oid {
	case oidTrapColdStart, oidTrapWarmStart:
		event(observation.CondDeviceRebooted, "trap "+trapName(ti.oid))
		if d != nil {
			d.nextInventory = 0
		}
	case oidTrapLinkDown, oidTrapLinkUp:
		port, uplink := "ifIndex "+strconv.Itoa(ti.ifIndex), false
		if d != nil && d.inv != nil {
			if name, ok := d.inv.uplinks[ti.ifIndex]; ok {
				port, uplink = name, true
			}
		}
		if d != nil {
			d.nextInventory = 0 // confirm, and learn uplinks if not known yet
		}
		down := ti.oid == oidTrapLinkDown
		switch {
		case uplink && down:
			raise(observation.CondInterfaceDown, condIfDown, "uplink "+port+" down (linkDown trap)")
		case uplink:
			clearCond(observation.CondInterfaceDown, condIfDown, "uplink "+port+" up (linkUp trap)")
		default:
			event(observation.CondUnknownTrap, trapName(ti.oid)+" "+port)
		}
	case oidUPSTrapOnBatt, oidAPCOnBattery:
		raise(observation.CondUPSOnBattery, condOnBattery, "on battery ("+trapName(ti.oid)+" trap)")
	case oidAPCPowerRestore:
		clearCond(observation.CondUPSOnBattery, condOnBattery, "power restored (trap)")
	case oidAPCLowBattery:
		raise(observation.CondUPSBatteryLow, condBatteryLow, "battery low (trap)")
	case oidAPCLowBattClear:
		clearCond(observation.CondUPSBatteryLow, condBatteryLow, "battery no longer low (trap)")
	case oidUPSTrapAlarmAdd, oidUPSTrapAlarmRem:
		add := ti.oid == oidUPSTrapAlarmAdd
		switch alarm {
		case oidUPSAlarmOnBatt:
			if add {
				raise(observation.CondUPSOnBattery, condOnBattery, "upsAlarmOnBattery")
			} else {
				clearCond(observation.CondUPSOnBattery, condOnBattery, "upsAlarmOnBattery cleared")
			}
		case oidUPSAlarmLowBatt, oidUPSAlarmDeplete:
			if add {
				raise(observation.CondUPSBatteryLow, condBatteryLow, "upsAlarmLowBattery")
			} else {
				clearCond(observation.CondUPSBatteryLow, condBatteryLow, "upsAlarmLowBattery cleared")
			}
		default:
			event(observation.CondUnknownTrap, trapName(ti.oid)+" "+alarm)
		}
	default:
		event(observation.CondUnknownTrap, "trap "+ti.oid)
	}
	return o
}

func trapName(oid string) string {
	switch oid {
	case oidTrapColdStart:
		return "coldStart"
	case oidTrapWarmStart:
		return "warmStart"
	case oidTrapLinkDown:
		return "linkDown"
	case oidTrapLinkUp:
		return "linkUp"
	case oidUPSTrapOnBatt:
		return "upsTrapOnBattery"
	case oidAPCOnBattery:
		return "APC upsOnBattery"
	case oidUPSTrapAlarmAdd:
		return "upsTrapAlarmEntryAdded"
	case oidUPSTrapAlarmRem:
		return "upsTrapAlarmEntryRemoved"
	}
	return oid
}
