package discovery

import (
	"fmt"
	"strconv"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// A minimal BER codec for the hot path: SNMPv1/v2c GetRequest encoding and response
// decoding without reflection or per-varbind allocation. gosnmp stays in charge of
// SNMPv3, walks and traps; this covers the one message a collector sends 10,000 times
// a second. Requests are built once per (version, community, OID list) as a template
// in which only the request id changes.

// reqIDOffsetLen is the length of a template's request id: always four octets.
const reqIDOffsetLen = 4

func mustOID(s string) []byte {
	b, err := snmpber.EncodeOID(s)
	if err != nil {
		panic(err)
	}
	return b
}

// getTemplate is an encoded request whose request id sits at a fixed offset. Request
// ids are kept in 0x01000000..0x7fffffff so that they always take exactly four octets
// in minimal BER.
type getTemplate struct {
	msg      []byte
	idOffset int
}

const (
	minReqID = 0x01000000
	maxReqID = 0x7fffffff
)

// newGetTemplate encodes a GetRequest (or GetNext) for oids in SNMPv1 or v2c.
func newGetTemplate(version int, community string, pdu byte, oids [][]byte) getTemplate {
	var vbl []byte
	for _, o := range oids {
		vb := snmpber.AppendTLV(nil, snmpber.ObjectIdentifier, o)
		vb = append(vb, snmpber.Null, 0)
		vbl = snmpber.AppendTLV(vbl, snmpber.Sequence, vb)
	}
	pduBody := []byte{snmpber.Integer, reqIDOffsetLen, 0x01, 0, 0, 0}
	pduBody = snmpber.AppendInt(pduBody, snmpber.Integer, 0) // error-status / non-repeaters
	pduBody = snmpber.AppendInt(pduBody, snmpber.Integer, 0) // error-index / max-repetitions
	pduBody = snmpber.AppendTLV(pduBody, snmpber.Sequence, vbl)
	head := snmpber.AppendInt(nil, snmpber.Integer, int64(version))
	head = snmpber.AppendTLV(head, snmpber.OctetString, []byte(community))
	pduTLV := snmpber.AppendTLV(nil, pdu, pduBody)
	body := append(head, pduTLV...)
	msg := snmpber.AppendTLV(nil, snmpber.Sequence, body)
	// The request id is the first TLV of the PDU body.
	off := len(msg) - len(pduTLV) + (len(pduTLV) - len(pduBody)) + 2
	return getTemplate{msg: msg, idOffset: off}
}

// encode writes the template with reqID into dst (reused) and returns it.
func (t *getTemplate) encode(dst []byte, reqID uint32) []byte {
	dst = append(dst[:0], t.msg...)
	dst[t.idOffset] = byte(reqID >> 24)
	dst[t.idOffset+1] = byte(reqID >> 16)
	dst[t.idOffset+2] = byte(reqID >> 8)
	dst[t.idOffset+3] = byte(reqID)
	return dst
}

// v3DiscoveryProbe encodes an unauthenticated SNMPv3 GetRequest with an empty
// engine id and user (RFC 3414 §4): every v3 agent answers it with a Report that
// carries its engine id, whatever credentials it has.
func v3DiscoveryProbe(msgID uint32) []byte {
	global := snmpber.AppendInt(nil, snmpber.Integer, int64(msgID))
	global = snmpber.AppendInt(global, snmpber.Integer, 65507)
	global = snmpber.AppendTLV(global, snmpber.OctetString, []byte{0x04}) // reportable, noAuthNoPriv
	global = snmpber.AppendInt(global, snmpber.Integer, 3)                // USM
	usm := snmpber.AppendTLV(nil, snmpber.OctetString, nil)
	usm = snmpber.AppendInt(usm, snmpber.Integer, 0)
	usm = snmpber.AppendInt(usm, snmpber.Integer, 0)
	usm = snmpber.AppendTLV(usm, snmpber.OctetString, nil)
	usm = snmpber.AppendTLV(usm, snmpber.OctetString, nil)
	usm = snmpber.AppendTLV(usm, snmpber.OctetString, nil)
	pdu := snmpber.AppendInt(nil, snmpber.Integer, int64(msgID))
	pdu = snmpber.AppendInt(pdu, snmpber.Integer, 0)
	pdu = snmpber.AppendInt(pdu, snmpber.Integer, 0)
	pdu = snmpber.AppendTLV(pdu, snmpber.Sequence, nil)
	scoped := snmpber.AppendTLV(nil, snmpber.OctetString, nil)
	scoped = snmpber.AppendTLV(scoped, snmpber.OctetString, nil)
	scoped = snmpber.AppendTLV(scoped, snmpber.GetRequest, pdu)

	body := snmpber.AppendInt(nil, snmpber.Integer, 3)
	body = snmpber.AppendTLV(body, snmpber.Sequence, global)
	body = snmpber.AppendTLV(body, snmpber.OctetString, snmpber.AppendTLV(nil, snmpber.Sequence, usm))
	body = snmpber.AppendTLV(body, snmpber.Sequence, scoped)
	return snmpber.AppendTLV(nil, snmpber.Sequence, body)
}

// wireVar is one varbind of a decoded response; slices point into the packet.
type wireVar struct {
	oid []byte // OID content octets
	typ byte
	val []byte
}

// wireResponse is a decoded SNMPv1/v2c message. It is reused between packets.
type wireResponse struct {
	version   int64
	community []byte
	pduType   byte
	reqID     int64
	errStatus int64
	errIndex  int64
	vars      []wireVar
}

// parseMessage decodes an SNMPv1/v2c message into r (slices alias pkt).
func parseMessage(pkt []byte, r *wireResponse) error {
	tag, body, _, err := snmpber.Read(pkt)
	if err != nil || tag != snmpber.Sequence {
		return snmpber.ErrMalformed
	}
	if r.version, body, err = snmpber.ReadInt(body); err != nil {
		return err
	}
	if r.version != snmpber.Version1 && r.version != snmpber.Version2c {
		return fmt.Errorf("%w: version %d", snmpber.ErrMalformed, r.version)
	}
	tag, r.community, body, err = snmpber.Read(body)
	if err != nil || tag != snmpber.OctetString {
		return snmpber.ErrMalformed
	}
	tag, pdu, _, err := snmpber.Read(body)
	if err != nil || tag < snmpber.GetRequest || tag > snmpber.Report || tag == snmpber.TrapV1 {
		return snmpber.ErrMalformed
	}
	r.pduType = tag
	if r.reqID, pdu, err = snmpber.ReadInt(pdu); err != nil {
		return err
	}
	if r.errStatus, pdu, err = snmpber.ReadInt(pdu); err != nil {
		return err
	}
	if r.errIndex, pdu, err = snmpber.ReadInt(pdu); err != nil {
		return err
	}
	tag, vbl, _, err := snmpber.Read(pdu)
	if err != nil || tag != snmpber.Sequence {
		return snmpber.ErrMalformed
	}
	r.vars = r.vars[:0]
	for len(vbl) > 0 {
		var vb []byte
		tag, vb, vbl, err = snmpber.Read(vbl)
		if err != nil || tag != snmpber.Sequence {
			return snmpber.ErrMalformed
		}
		var v wireVar
		tag, v.oid, vb, err = snmpber.Read(vb)
		if err != nil || tag != snmpber.ObjectIdentifier {
			return snmpber.ErrMalformed
		}
		v.typ, v.val, _, err = snmpber.Read(vb)
		if err != nil {
			return snmpber.ErrMalformed
		}
		r.vars = append(r.vars, v)
	}
	return nil
}

// peekV3MsgID returns the msgID of an SNMPv3 message (enough to match a discovery
// Report to its probe without decrypting anything).
func peekV3MsgID(pkt []byte) (int64, error) {
	tag, body, _, err := snmpber.Read(pkt)
	if err != nil || tag != snmpber.Sequence {
		return 0, snmpber.ErrMalformed
	}
	v, body, err := snmpber.ReadInt(body)
	if err != nil || v != snmpber.Version3 {
		return 0, snmpber.ErrMalformed
	}
	tag, global, _, err := snmpber.Read(body)
	if err != nil || tag != snmpber.Sequence {
		return 0, snmpber.ErrMalformed
	}
	id, _, err := snmpber.ReadInt(global)
	return id, err
}

// peekVersion returns the version field of any SNMP message.
func peekVersion(pkt []byte) (int64, error) {
	tag, body, _, err := snmpber.Read(pkt)
	if err != nil || tag != snmpber.Sequence {
		return 0, snmpber.ErrMalformed
	}
	v, _, err := snmpber.ReadInt(body)
	return v, err
}

// isException reports a v2 exception value (noSuchObject, noSuchInstance, endOfMibView).
func (v *wireVar) isException() bool {
	return v.typ == snmpber.NoSuchObject || v.typ == snmpber.NoSuchInstance || v.typ == snmpber.EndOfMibView || v.typ == snmpber.Null
}

// uint returns an unsigned integer value (TimeTicks, Counter32, Gauge32, Counter64,
// non-negative INTEGER).
func (v *wireVar) uint() (uint64, bool) {
	switch v.typ {
	case snmpber.Integer:
		if len(v.val) > 0 && v.val[0]&0x80 != 0 {
			return 0, false
		}
	case snmpber.Counter32, snmpber.Gauge32, snmpber.TimeTicks, snmpber.Counter64:
	default:
		return 0, false
	}
	x, err := snmpber.ParseUint(v.val)
	return x, err == nil
}

// int returns a signed INTEGER value.
func (v *wireVar) int() (int64, bool) {
	if v.typ != snmpber.Integer {
		return 0, false
	}
	x, err := snmpber.ParseInt(v.val)
	return x, err == nil
}

// text returns the value as a display string.
func (v *wireVar) text() string {
	switch v.typ {
	case snmpber.OctetString:
		return sanitize(string(v.val))
	case snmpber.ObjectIdentifier:
		s, err := snmpber.FormatOID(v.val)
		if err != nil {
			return ""
		}
		return s
	case snmpber.IPAddress:
		if len(v.val) == 4 {
			return fmt.Sprintf("%d.%d.%d.%d", v.val[0], v.val[1], v.val[2], v.val[3])
		}
		return ""
	}
	if n, ok := v.uint(); ok {
		return strconv.FormatUint(n, 10)
	}
	if n, ok := v.int(); ok {
		return strconv.FormatInt(n, 10)
	}
	return ""
}
