package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A minimal BER codec for the hot path: SNMPv1/v2c GetRequest encoding and response
// decoding without reflection or per-varbind allocation. gosnmp stays in charge of
// SNMPv3, walks and traps; this covers the one message a collector sends 10,000 times
// a second. Requests are built once per (version, community, OID list) as a template
// in which only the request id changes.

// BER tags used by SNMP.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagSequence    = 0x30
	tagIPAddress   = 0x40
	tagCounter32   = 0x41
	tagGauge32     = 0x42
	tagTimeTicks   = 0x43
	tagOpaque      = 0x44
	tagCounter64   = 0x46
	tagNoSuchObj   = 0x80
	tagNoSuchInst  = 0x81
	tagEndOfMib    = 0x82

	pduGetRequest  = 0xa0
	pduGetNext     = 0xa1
	pduResponse    = 0xa2
	pduGetBulk     = 0xa5
	pduTrapV2      = 0xa7
	pduReport      = 0xa8
	snmpVersion1   = 0
	snmpVersion2c  = 1
	snmpVersion3   = 3
	reqIDOffsetLen = 4
)

// errMalformed marks a packet that is not well-formed BER/SNMP.
var errMalformed = errors.New("malformed SNMP message")

// encodeOID encodes a dotted OID ("1.3.6.1.2.1.1.3.0") as BER content octets.
func encodeOID(s string) ([]byte, error) {
	s = strings.TrimPrefix(s, ".")
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("oid %q: too short", s)
	}
	arcs := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("oid %q: %w", s, err)
		}
		arcs[i] = v
	}
	if arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
		return nil, fmt.Errorf("oid %q: invalid first arcs", s)
	}
	out := appendBase128(nil, arcs[0]*40+arcs[1])
	for _, a := range arcs[2:] {
		out = appendBase128(out, a)
	}
	return out, nil
}

func mustOID(s string) []byte {
	b, err := encodeOID(s)
	if err != nil {
		panic(err)
	}
	return b
}

func appendBase128(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// oidString decodes BER OID content octets to dotted form.
func oidString(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errMalformed
	}
	var sb strings.Builder
	var v uint64
	first := true
	for i, c := range b {
		if v > 1<<56 {
			return "", errMalformed
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(b)-1 {
				return "", errMalformed
			}
			continue
		}
		if first {
			x, y := v/40, v%40
			if x > 2 {
				x, y = 2, v-80
			}
			sb.WriteString(strconv.FormatUint(x, 10))
			sb.WriteByte('.')
			sb.WriteString(strconv.FormatUint(y, 10))
			first = false
		} else {
			sb.WriteByte('.')
			sb.WriteString(strconv.FormatUint(v, 10))
		}
		v = 0
	}
	return sb.String(), nil
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendTLV(b []byte, tag byte, content []byte) []byte {
	b = append(b, tag)
	b = appendLength(b, len(content))
	return append(b, content...)
}

func appendInt(b []byte, v int64) []byte {
	var tmp [8]byte
	n := 8
	for i := 7; i >= 0; i-- {
		tmp[i] = byte(v)
		v >>= 8
	}
	// Minimal two's complement: drop leading bytes that only repeat the sign.
	i := 0
	for i < n-1 && ((tmp[i] == 0 && tmp[i+1]&0x80 == 0) || (tmp[i] == 0xff && tmp[i+1]&0x80 != 0)) {
		i++
	}
	return appendTLV(b, tagInteger, tmp[i:])
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
		vb := appendTLV(nil, tagOID, o)
		vb = append(vb, tagNull, 0)
		vbl = appendTLV(vbl, tagSequence, vb)
	}
	pduBody := []byte{tagInteger, reqIDOffsetLen, 0x01, 0, 0, 0}
	pduBody = appendInt(pduBody, 0) // error-status / non-repeaters
	pduBody = appendInt(pduBody, 0) // error-index / max-repetitions
	pduBody = appendTLV(pduBody, tagSequence, vbl)
	head := appendInt(nil, int64(version))
	head = appendTLV(head, tagOctetString, []byte(community))
	pduTLV := appendTLV(nil, pdu, pduBody)
	body := append(head, pduTLV...)
	msg := appendTLV(nil, tagSequence, body)
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
	global := appendInt(nil, int64(msgID))
	global = appendInt(global, 65507)
	global = appendTLV(global, tagOctetString, []byte{0x04}) // reportable, noAuthNoPriv
	global = appendInt(global, 3)                            // USM
	usm := appendTLV(nil, tagOctetString, nil)
	usm = appendInt(usm, 0)
	usm = appendInt(usm, 0)
	usm = appendTLV(usm, tagOctetString, nil)
	usm = appendTLV(usm, tagOctetString, nil)
	usm = appendTLV(usm, tagOctetString, nil)
	pdu := appendInt(nil, int64(msgID))
	pdu = appendInt(pdu, 0)
	pdu = appendInt(pdu, 0)
	pdu = appendTLV(pdu, tagSequence, nil)
	scoped := appendTLV(nil, tagOctetString, nil)
	scoped = appendTLV(scoped, tagOctetString, nil)
	scoped = appendTLV(scoped, pduGetRequest, pdu)

	body := appendInt(nil, 3)
	body = appendTLV(body, tagSequence, global)
	body = appendTLV(body, tagOctetString, appendTLV(nil, tagSequence, usm))
	body = appendTLV(body, tagSequence, scoped)
	return appendTLV(nil, tagSequence, body)
}

// readTLV reads one TLV at b[0:], returning tag, content and the rest.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errMalformed
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errMalformed // high tag numbers are not used by SNMP
	}
	l := int(b[1])
	p := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < 2+n {
			return 0, nil, nil, errMalformed
		}
		l = 0
		for i := range n {
			l = l<<8 | int(b[2+i])
		}
		p += n
	}
	if l > len(b)-p {
		return 0, nil, nil, errMalformed
	}
	return tag, b[p : p+l], b[p+l:], nil
}

func readInt(b []byte) (int64, []byte, error) {
	tag, c, rest, err := readTLV(b)
	if err != nil || tag != tagInteger || len(c) == 0 || len(c) > 8 {
		return 0, nil, errMalformed
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, rest, nil
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
	tag, body, _, err := readTLV(pkt)
	if err != nil || tag != tagSequence {
		return errMalformed
	}
	if r.version, body, err = readInt(body); err != nil {
		return err
	}
	if r.version != snmpVersion1 && r.version != snmpVersion2c {
		return fmt.Errorf("%w: version %d", errMalformed, r.version)
	}
	tag, r.community, body, err = readTLV(body)
	if err != nil || tag != tagOctetString {
		return errMalformed
	}
	tag, pdu, _, err := readTLV(body)
	if err != nil || tag < pduGetRequest || tag > pduReport || tag == 0xa4 {
		return errMalformed
	}
	r.pduType = tag
	if r.reqID, pdu, err = readInt(pdu); err != nil {
		return err
	}
	if r.errStatus, pdu, err = readInt(pdu); err != nil {
		return err
	}
	if r.errIndex, pdu, err = readInt(pdu); err != nil {
		return err
	}
	tag, vbl, _, err := readTLV(pdu)
	if err != nil || tag != tagSequence {
		return errMalformed
	}
	r.vars = r.vars[:0]
	for len(vbl) > 0 {
		var vb []byte
		tag, vb, vbl, err = readTLV(vbl)
		if err != nil || tag != tagSequence {
			return errMalformed
		}
		var v wireVar
		tag, v.oid, vb, err = readTLV(vb)
		if err != nil || tag != tagOID {
			return errMalformed
		}
		v.typ, v.val, _, err = readTLV(vb)
		if err != nil {
			return errMalformed
		}
		r.vars = append(r.vars, v)
	}
	return nil
}

// peekV3MsgID returns the msgID of an SNMPv3 message (enough to match a discovery
// Report to its probe without decrypting anything).
func peekV3MsgID(pkt []byte) (int64, error) {
	tag, body, _, err := readTLV(pkt)
	if err != nil || tag != tagSequence {
		return 0, errMalformed
	}
	v, body, err := readInt(body)
	if err != nil || v != snmpVersion3 {
		return 0, errMalformed
	}
	tag, global, _, err := readTLV(body)
	if err != nil || tag != tagSequence {
		return 0, errMalformed
	}
	id, _, err := readInt(global)
	return id, err
}

// peekVersion returns the version field of any SNMP message.
func peekVersion(pkt []byte) (int64, error) {
	tag, body, _, err := readTLV(pkt)
	if err != nil || tag != tagSequence {
		return 0, errMalformed
	}
	v, _, err := readInt(body)
	return v, err
}

// isException reports a v2 exception value (noSuchObject, noSuchInstance, endOfMibView).
func (v *wireVar) isException() bool {
	return v.typ == tagNoSuchObj || v.typ == tagNoSuchInst || v.typ == tagEndOfMib || v.typ == tagNull
}

// uint returns an unsigned integer value (TimeTicks, Counter32, Gauge32, Counter64,
// non-negative INTEGER).
func (v *wireVar) uint() (uint64, bool) {
	switch v.typ {
	case tagInteger, tagCounter32, tagGauge32, tagTimeTicks, tagCounter64:
	default:
		return 0, false
	}
	c := v.val
	if len(c) == 0 || len(c) > 9 || (v.typ == tagInteger && c[0]&0x80 != 0) {
		return 0, false
	}
	if len(c) == 9 && c[0] != 0 {
		return 0, false
	}
	var x uint64
	for _, b := range c {
		x = x<<8 | uint64(b)
	}
	return x, true
}

// int returns a signed INTEGER value.
func (v *wireVar) int() (int64, bool) {
	if v.typ != tagInteger || len(v.val) == 0 || len(v.val) > 8 {
		return 0, false
	}
	x := int64(int8(v.val[0]))
	for _, b := range v.val[1:] {
		x = x<<8 | int64(b)
	}
	return x, true
}

// text returns the value as a display string.
func (v *wireVar) text() string {
	switch v.typ {
	case tagOctetString:
		return sanitize(string(v.val))
	case tagOID:
		s, err := oidString(v.val)
		if err != nil {
			return ""
		}
		return s
	case tagIPAddress:
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
