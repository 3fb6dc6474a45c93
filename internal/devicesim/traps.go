package devicesim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// TrapTarget is a notification receiver.
type TrapTarget struct {
	Addr netip.AddrPort
	// Version is "1", "2c" (default) or "3".
	Version   string
	Community string // v1/v2c, default "public"
	User      string // v3: one of the simulator's users
	// Site limits the receiver to the devices of one site (code or name), as with one
	// collector per site; empty: every device.
	Site string
}

func (t TrapTarget) wants(d *Device) bool {
	s := d.Unit.Site
	return t.Site == "" || t.Site == s.Code || t.Site == s.Name
}

func (t TrapTarget) validate(users map[string]*usmUser) error {
	if !t.Addr.IsValid() {
		return fmt.Errorf("trap receiver: address is required")
	}
	switch t.Version {
	case "", "1", "2c":
	case "3":
		if users[t.User] == nil {
			return fmt.Errorf("trap receiver %s: v3 user %q is not configured", t.Addr, t.User)
		}
	default:
		return fmt.Errorf("trap receiver %s: version %q is not 1, 2c or 3", t.Addr, t.Version)
	}
	return nil
}

// Notification OIDs.
var (
	oidSysUpTime0      = oid("1.3.6.1.2.1.1.3.0")
	oidSnmpTrapOID0    = oid("1.3.6.1.6.3.1.1.4.1.0")
	TrapColdStart      = oid("1.3.6.1.6.3.1.1.5.1")
	TrapLinkDown       = oid("1.3.6.1.6.3.1.1.5.3")
	TrapLinkUp         = oid("1.3.6.1.6.3.1.1.5.4")
	TrapUPSOnBattery   = oid("1.3.6.1.2.1.33.2.1")
	TrapUPSAlarmAdded  = oid("1.3.6.1.2.1.33.2.3")
	TrapUPSAlarmRemove = oid("1.3.6.1.2.1.33.2.4")
	snmpTraps          = oid("1.3.6.1.6.3.1.1.5")
)

// trapVar is one varbind of a notification.
type trapVar struct {
	oid []uint32
	val Value
}

func sub(base []uint32, more ...uint32) []uint32 {
	return append(append([]uint32(nil), base...), more...)
}

// linkVars are RFC 2863's linkDown/linkUp objects for interface n of d.
func linkVars(d *Device, n int, up bool) []trapVar {
	oper, admin := int64(2), int64(1)
	if up {
		oper = 1
	}
	if d.Class == NetworkSwitch && !d.linkUp(uint16(n)) {
		admin = 2
	}
	return []trapVar{
		{sub(oid("1.3.6.1.2.1.2.2.1.1"), uint32(n)), intValue(int64(n))},
		{sub(oid("1.3.6.1.2.1.2.2.1.7"), uint32(n)), intValue(admin)},
		{sub(oid("1.3.6.1.2.1.2.2.1.8"), uint32(n)), intValue(oper)},
		{sub(oid("1.3.6.1.2.1.31.1.1.1.1"), uint32(n)), strValue(ifShortName(ifDescr(d, n)))},
	}
}

// upsVars are the objects of upsTrapOnBattery.
func upsVars(d *Device, now int64) []trapVar {
	c := &mctx{d: d, now: now}
	m, sec, _ := upsMinutes(c)
	return []trapVar{
		{oid("1.3.6.1.2.1.33.1.2.3.0"), intValue(m)},
		{oid("1.3.6.1.2.1.33.1.2.2.0"), intValue(sec)},
		{oid("1.3.6.1.2.1.33.1.9.7.0"), intValue(upsLowMinutes + 1)},
	}
}

func upsAlarmVars(id int, alarm []uint32) []trapVar {
	return []trapVar{
		{sub(oid("1.3.6.1.2.1.33.1.6.2.1.1"), uint32(id)), intValue(int64(id))},
		{sub(oid("1.3.6.1.2.1.33.1.6.2.1.2"), uint32(id)), oidValue(alarm)},
	}
}

// SetTraps replaces the notification receivers (for receivers that bind after the
// simulator, such as the collectors of `cmdb demo`).
func (s *Sim) SetTraps(ts []TrapTarget) error {
	for _, t := range ts {
		if err := t.validate(s.users); err != nil {
			return err
		}
	}
	s.trapMu.Lock()
	defer s.trapMu.Unlock()
	s.cfg.Traps = ts
	return nil
}

// SendTrap sends a notification from device d to every receiver, from d's address.
// It is safe for concurrent use.
func (s *Sim) SendTrap(d *Device, trap []uint32, vars []trapVar) {
	s.trapMu.Lock()
	defer s.trapMu.Unlock()
	if len(s.cfg.Traps) == 0 {
		return
	}
	now := s.now().UnixNano()
	for _, t := range s.cfg.Traps {
		if !t.wants(d) {
			continue
		}
		b, err := s.encodeTrap(&s.trapEnc, t, d, trap, vars, now)
		if err == nil {
			s.trapOOB = srcOOB(s.trapOOB, d.ip)
			_, _, err = s.conn.WriteMsgUDPAddrPort(b, s.trapOOB, t.Addr)
		}
		if err != nil {
			s.stats.TrapErrors.Add(1)
			s.log.Debug("sending trap", "device", d.Name, "to", t.Addr.String(), "err", err)
			continue
		}
		s.stats.TrapsSent.Add(1)
	}
}

func (s *Sim) encodeTrap(e *snmpber.Encoder, t TrapTarget, d *Device, trap []uint32, vars []trapVar, now int64) ([]byte, error) {
	community := t.Community
	if community == "" {
		community = "public"
	}
	ticks := d.upTicks(now)
	var vb snmpber.Encoder
	all := vars
	if t.Version != "1" {
		all = append([]trapVar{{oidSysUpTime0, ticksValue(ticks)}, {oidSnmpTrapOID0, oidValue(trap)}}, vars...)
	}
	for _, v := range all {
		seq := vb.Begin(snmpber.Sequence)
		vb.OID(v.oid)
		appendValue(&vb, &v.val)
		vb.End(seq)
	}
	reqID := int64(rand.Int32())
	switch t.Version {
	case "1":
		// RFC 3584 3.2: generic traps keep sysObjectID as enterprise; others split.
		enterprise, generic, specific := d.Model.ObjectID, int64(6), int64(0)
		if len(trap) == len(snmpTraps)+1 && hasPrefix(trap, snmpTraps) {
			generic = int64(trap[len(trap)-1]) - 1
		} else {
			enterprise = trap[:len(trap)-1]
			specific = int64(trap[len(trap)-1])
			if len(enterprise) > 0 && enterprise[len(enterprise)-1] == 0 {
				enterprise = enterprise[:len(enterprise)-1]
			}
		}
		e.Reset()
		seq := e.Begin(snmpber.Sequence)
		e.Int(snmpber.Integer, snmpber.Version1)
		e.String(snmpber.OctetString, community)
		p := e.Begin(snmpber.TrapV1)
		e.OID(enterprise)
		ip := d.IP().As4()
		e.Bytes(snmpber.IPAddress, ip[:])
		e.Int(snmpber.Integer, generic)
		e.Int(snmpber.Integer, specific)
		e.Uint(snmpber.TimeTicks, uint64(ticks))
		vl := e.Begin(snmpber.Sequence)
		e.B = append(e.B, vb.B...)
		e.End(vl)
		e.End(p)
		e.End(seq)
		return e.B, nil
	case "3":
		u := s.users[t.User]
		var eid [16]byte
		engineID := d.engineID(eid[:0])
		var sc snmpber.Encoder
		seq := sc.Begin(snmpber.Sequence)
		sc.Bytes(snmpber.OctetString, engineID)
		sc.String(snmpber.OctetString, "")
		encodeTrapPDU(&sc, reqID, vb.B)
		sc.End(seq)
		level := byte(0)
		if u.auth != nil {
			level |= flagAuth
		}
		if u.priv != nil {
			level |= flagPriv
		}
		return buildV3(e, engineID, int32(reqID&0x7fffffff), int32(s.cfg.MaxMessageSize), level, u,
			d.Boots(), d.engineTime(now), sc.B, s.salt.Add(1))
	}
	e.Reset()
	seq := e.Begin(snmpber.Sequence)
	e.Int(snmpber.Integer, snmpber.Version2c)
	e.String(snmpber.OctetString, community)
	encodeTrapPDU(e, reqID, vb.B)
	e.End(seq)
	return e.B, nil
}

func encodeTrapPDU(e *snmpber.Encoder, reqID int64, vbs []byte) {
	p := e.Begin(snmpber.TrapV2)
	e.Int(snmpber.Integer, reqID)
	e.Int(snmpber.Integer, 0)
	e.Int(snmpber.Integer, 0)
	vl := e.Begin(snmpber.Sequence)
	e.B = append(e.B, vbs...)
	e.End(vl)
	e.End(p)
}
