package devicesim

import (
	"bytes"
	"errors"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// usmStats counters (SNMP-USER-BASED-SM-MIB usmStats, 1.3.6.1.6.3.15.1.1.x.0).
const (
	usmUnsupportedSecLevels = 1
	usmNotInTimeWindows     = 2
	usmUnknownUserNames     = 3
	usmUnknownEngineIDs     = 4
	usmWrongDigests         = 5
	usmDecryptionErrors     = 6
)

// timeWindow is RFC 3414's 150-second window.
const timeWindow = 150

// maxBulkVarbinds bounds the varbinds of one GetBulk answer.
const maxBulkVarbinds = 2048

// handle answers one datagram for device d, returning nil to stay silent.
func (w *worker) handle(d *Device, raw []byte) []byte {
	s := w.s
	m := &w.msg
	if err := w.dec.decode(raw, m); err != nil {
		s.stats.Malformed.Add(1)
		s.log.Debug("malformed request", "device", d.Name, "err", err)
		return nil
	}
	w.mc.d = d
	w.mc.now = s.now().UnixNano()
	switch m.version {
	case snmpber.Version1, snmpber.Version2c:
		if !s.comms[string(m.community)] {
			s.stats.BadCommunity.Add(1)
			return nil
		}
		if !w.process(d, m.version, &m.pdu, s.cfg.MaxMessageSize-len(m.community)-64) {
			return nil
		}
		w.out.Reset()
		seq := w.out.Begin(snmpber.Sequence)
		w.out.Int(snmpber.Integer, int64(m.version))
		w.out.Bytes(snmpber.OctetString, m.community)
		w.encodePDU(&w.out, snmpber.GetResponse, m.pdu.reqID)
		w.out.End(seq)
		return w.out.B
	}
	return w.handleV3(d, raw, m)
}

// status is the outcome of processing a PDU: an error status and index, the varbind
// list already encoded in w.vbs.
type status struct {
	err, index int32
}

// process runs a request PDU against the device's view, leaving the varbinds in
// w.vbs and the status in w.st. It reports false for PDUs that get no answer.
func (w *worker) process(d *Device, version int32, p *pdu, budget int) bool {
	v := w.s.views.of(d)
	w.vbs.Reset()
	w.st = status{}
	switch p.typ {
	case snmpber.GetRequest:
		for i, o := range p.oids {
			val := v.get(&w.mc, o)
			if version == snmpber.Version1 && (val.Type == snmpber.NoSuchObject || val.Type == snmpber.NoSuchInstance) {
				w.v1Error(p, snmpber.NoSuchName, i)
				return true
			}
			w.varbind(o, &val)
		}
	case snmpber.GetNextRequest:
		for i, o := range p.oids {
			var val Value
			var ok bool
			w.next, val, ok = v.next(&w.mc, o, w.next)
			if !ok {
				if version == snmpber.Version1 {
					w.v1Error(p, snmpber.NoSuchName, i)
					return true
				}
				val = Value{Type: snmpber.EndOfMibView}
				w.varbind(o, &val)
				continue
			}
			w.varbind(w.next, &val)
		}
	case snmpber.GetBulkRequest:
		if version == snmpber.Version1 {
			return false
		}
		w.bulk(v, p, budget)
	case snmpber.SetRequest:
		// Read-only agents: v1 says noSuchName, v2c notWritable (RFC 3584 4.4).
		code := int32(snmpber.NotWritable)
		if version == snmpber.Version1 {
			code = snmpber.NoSuchName
		}
		w.vbs.Reset()
		for _, o := range p.oids {
			w.varbind(o, &Value{Type: snmpber.Null})
		}
		w.st = status{err: code, index: 1}
		return true
	default:
		return false
	}
	if len(w.vbs.B) > budget {
		w.vbs.Reset()
		w.st = status{err: snmpber.TooBig}
		if version == snmpber.Version1 {
			for _, o := range p.oids {
				w.varbind(o, &Value{Type: snmpber.Null})
			}
		}
	}
	return true
}

// v1Error answers a v1 request with an error, echoing its varbinds.
func (w *worker) v1Error(p *pdu, code, i int) {
	w.vbs.Reset()
	for _, o := range p.oids {
		w.varbind(o, &Value{Type: snmpber.Null})
	}
	w.st = status{err: int32(code), index: int32(i + 1)}
}

// bulk is RFC 3416 4.2.3: non-repeaters once, then repeaters max-repetitions times,
// stopping early at the size budget or when every repeater is at the end of the MIB.
func (w *worker) bulk(v view, p *pdu, budget int) {
	n := int(max(0, min(p.errStatus, int32(len(p.oids)))))
	reps := int(max(0, p.errIndex))
	for _, o := range p.oids[:n] {
		var val Value
		var ok bool
		w.next, val, ok = v.next(&w.mc, o, w.next)
		if !ok {
			val = Value{Type: snmpber.EndOfMibView}
			w.varbind(o, &val)
			continue
		}
		w.varbind(w.next, &val)
	}
	rep := p.oids[n:]
	if len(rep) == 0 || reps == 0 {
		return
	}
	for len(w.cur) < len(rep) {
		w.cur = append(w.cur, make([]uint32, 0, 32))
	}
	for i, o := range rep {
		w.cur[i] = append(w.cur[i][:0], o...)
	}
	count := n
	for range reps {
		allEnd := true
		for i := range rep {
			mark := len(w.vbs.B)
			var val Value
			var ok bool
			w.next, val, ok = v.next(&w.mc, w.cur[i], w.next)
			if ok {
				allEnd = false
				w.cur[i] = append(w.cur[i][:0], w.next...)
				w.varbind(w.cur[i], &val)
			} else {
				val = Value{Type: snmpber.EndOfMibView}
				w.varbind(w.cur[i], &val)
			}
			count++
			if len(w.vbs.B) > budget || count > maxBulkVarbinds {
				// Keep what fits: an answer cut at a varbind boundary is valid.
				w.vbs.B = w.vbs.B[:mark]
				return
			}
		}
		if allEnd {
			return
		}
	}
}

func (w *worker) varbind(o []uint32, v *Value) {
	seq := w.vbs.Begin(snmpber.Sequence)
	w.vbs.OID(o)
	appendValue(&w.vbs, v)
	w.vbs.End(seq)
}

// encodePDU appends a Response (or Report) PDU with w.st and w.vbs.
func (w *worker) encodePDU(e *snmpber.Encoder, typ byte, reqID int32) {
	p := e.Begin(typ)
	e.Int(snmpber.Integer, int64(reqID))
	e.Int(snmpber.Integer, int64(w.st.err))
	e.Int(snmpber.Integer, int64(w.st.index))
	vl := e.Begin(snmpber.Sequence)
	e.B = append(e.B, w.vbs.B...)
	e.End(vl)
	e.End(p)
}

// handleV3 runs the USM checks of RFC 3414 3.2, then the request.
func (w *worker) handleV3(d *Device, raw []byte, m *message) []byte {
	s := w.s
	var eid [16]byte
	engineID := d.engineID(eid[:0])
	boots, etime := d.Boots(), d.engineTime(w.mc.now)
	reportable := m.flags&flagReportable != 0
	level := m.flags & (flagAuth | flagPriv)
	reqID := m.pdu.reqID // known only for plaintext PDUs

	if !bytes.Equal(m.usm.engineID, engineID) {
		// Engine discovery (RFC 3414 4): an empty or foreign engine ID gets a report
		// carrying ours, unauthenticated.
		return w.report(d, m, reportable, usmUnknownEngineIDs, reqID, nil)
	}
	u := s.users[string(m.usm.user)]
	if u == nil {
		return w.report(d, m, reportable, usmUnknownUserNames, reqID, nil)
	}
	userLevel := byte(0)
	if u.auth != nil {
		userLevel |= flagAuth
	}
	if u.priv != nil {
		userLevel |= flagPriv
	}
	if level != userLevel {
		return w.report(d, m, reportable, usmUnsupportedSecLevels, reqID, nil)
	}
	if level&flagAuth != 0 {
		if !u.verify(engineID, raw, m.usm.authOff, m.usm.authParams) {
			return w.report(d, m, reportable, usmWrongDigests, reqID, nil)
		}
		if m.usm.boots != boots || m.usm.time < etime-timeWindow || m.usm.time > etime+timeWindow {
			// Authenticated report so the manager can trust our clock (RFC 3414 3.2.7).
			return w.report(d, m, reportable, usmNotInTimeWindows, reqID, u)
		}
	}
	if level&flagPriv != 0 {
		plain, err := u.decrypt(engineID, m.usm.boots, m.usm.time, m.usm.privParams, m.encrypted)
		if err == nil {
			err = w.dec.decodeScoped(plain, m)
		}
		if err != nil {
			return w.report(d, m, reportable, usmDecryptionErrors, 0, nil)
		}
	}
	maxSize := min(int(m.maxSize), s.cfg.MaxMessageSize)
	if maxSize < 484 {
		return nil
	}
	if !w.process(d, snmpber.Version3, &m.pdu, maxSize-len(m.ctxName)-180) {
		return nil
	}
	w.scoped.Reset()
	sc := w.scoped.Begin(snmpber.Sequence)
	w.scoped.Bytes(snmpber.OctetString, engineID)
	w.scoped.Bytes(snmpber.OctetString, m.ctxName)
	w.encodePDU(&w.scoped, snmpber.GetResponse, m.pdu.reqID)
	w.scoped.End(sc)
	out, err := w.v3Message(d, engineID, m.msgID, level, u, boots, etime, w.scoped.B)
	if err != nil {
		s.log.Debug("encoding v3 response", "device", d.Name, "err", err)
		return nil
	}
	return out
}

// report answers a failed v3 check with a Report PDU carrying the usmStats counter, if
// the request allows reports. With u set the report is authenticated.
func (w *worker) report(d *Device, m *message, reportable bool, stat int, reqID int32, u *usmUser) []byte {
	s := w.s
	n := s.stats.usm[stat-1].Add(1)
	if !reportable {
		return nil
	}
	s.stats.Reports.Add(1)
	var eid [16]byte
	engineID := d.engineID(eid[:0])
	w.vbs.Reset()
	w.st = status{}
	w.varbind([]uint32{1, 3, 6, 1, 6, 3, 15, 1, 1, uint32(stat), 0}, &Value{Type: snmpber.Counter32, Int: int64(n)})
	w.scoped.Reset()
	sc := w.scoped.Begin(snmpber.Sequence)
	w.scoped.Bytes(snmpber.OctetString, engineID)
	w.scoped.Bytes(snmpber.OctetString, m.ctxName)
	w.encodePDU(&w.scoped, snmpber.Report, reqID)
	w.scoped.End(sc)
	level := byte(0)
	if u != nil {
		level = flagAuth
	}
	out, err := w.v3Message(d, engineID, m.msgID, level, u, d.Boots(), d.engineTime(w.mc.now), w.scoped.B)
	if err != nil {
		return nil
	}
	return out
}

// v3Message wraps a scoped PDU: encrypts it when level asks for privacy, then signs
// the whole message when it asks for authentication.
func (w *worker) v3Message(d *Device, engineID []byte, msgID int32, level byte, u *usmUser, boots, etime int32, scoped []byte) ([]byte, error) {
	return buildV3(&w.out, engineID, msgID, int32(w.s.cfg.MaxMessageSize), level, u, boots, etime, scoped, w.s.salt.Add(1))
}

// buildV3 encodes a v3 message into e (shared by responses and traps).
func buildV3(e *snmpber.Encoder, engineID []byte, msgID, maxSize int32, level byte, u *usmUser, boots, etime int32, scoped []byte, salt uint64) ([]byte, error) {
	var privParams []byte
	data := scoped
	if level&flagPriv != 0 {
		enc, sp, err := u.encrypt(engineID, boots, etime, salt, scoped)
		if err != nil {
			return nil, err
		}
		data, privParams = enc, sp
	}
	e.Reset()
	seq := e.Begin(snmpber.Sequence)
	e.Int(snmpber.Integer, snmpber.Version3)
	hdr := e.Begin(snmpber.Sequence)
	e.Int(snmpber.Integer, int64(msgID))
	e.Int(snmpber.Integer, int64(maxSize))
	e.Bytes(snmpber.OctetString, []byte{level})
	e.Int(snmpber.Integer, 3)
	e.End(hdr)
	sp := e.Begin(snmpber.OctetString)
	usm := e.Begin(snmpber.Sequence)
	e.Bytes(snmpber.OctetString, engineID)
	e.Int(snmpber.Integer, int64(boots))
	e.Int(snmpber.Integer, int64(etime))
	userName := ""
	if u != nil {
		userName = u.name
	}
	e.String(snmpber.OctetString, userName)
	macLen := 0
	if level&flagAuth != 0 {
		macLen = u.auth.macLen
	}
	e.B = append(e.B, snmpber.OctetString, byte(macLen))
	e.B = append(e.B, make([]byte, macLen)...)
	e.Bytes(snmpber.OctetString, privParams)
	e.End(usm)
	e.End(sp)
	if level&flagPriv != 0 {
		e.Bytes(snmpber.OctetString, data)
	} else {
		e.B = append(e.B, data...)
	}
	e.End(seq)
	if level&flagAuth != 0 {
		var m message
		if err := decodeUSMOf(e.B, &m); err != nil {
			return nil, err
		}
		copy(e.B[m.usm.authOff:], u.mac(u.authKey(engineID), e.B))
	}
	return e.B, nil
}

// decodeUSMOf finds the USM parameters of an encoded v3 message (to place the digest).
func decodeUSMOf(raw []byte, m *message) error {
	body, _, err := snmpber.Expect(raw, snmpber.Sequence)
	if err != nil {
		return err
	}
	if _, body, err = snmpber.ReadInt32(body); err != nil {
		return err
	}
	if _, body, err = snmpber.Expect(body, snmpber.Sequence); err != nil {
		return err
	}
	sp, _, err := snmpber.Expect(body, snmpber.OctetString)
	if err != nil {
		return err
	}
	if err := decodeUSM(raw, sp, &m.usm); err != nil {
		return err
	}
	if m.usm.authOff < 0 || m.usm.authOff > len(raw) {
		return errors.New("digest position out of range")
	}
	return nil
}
