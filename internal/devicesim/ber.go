package devicesim

import (
	"errors"
	"fmt"
)

// A small BER codec for SNMP. The simulator answers tens of thousands of requests a
// second from one process, so decoding works on sub-slices of the datagram (no copies)
// and encoding appends into a reused buffer. gosnmp's codec is built for a manager and
// allocates per varbind; bench_test.go compares the two.

// BER and SNMP tags.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagSequence    = 0x30

	tagIPAddress  = 0x40
	tagCounter32  = 0x41
	tagGauge32    = 0x42
	tagTimeTicks  = 0x43
	tagOpaque     = 0x44
	tagCounter64  = 0x46
	tagNoSuchObj  = 0x80
	tagNoSuchInst = 0x81
	tagEndOfView  = 0x82

	pduGet      = 0xa0
	pduGetNext  = 0xa1
	pduResponse = 0xa2
	pduSet      = 0xa3
	pduTrapV1   = 0xa4
	pduGetBulk  = 0xa5
	pduInform   = 0xa6
	pduTrapV2   = 0xa7
	pduReport   = 0xa8
)

// SNMP error-status values.
const (
	errNoError     = 0
	errTooBig      = 1
	errNoSuchName  = 2
	errReadOnly    = 4
	errGenErr      = 5
	errNotWritable = 17
)

var (
	errTruncated = errors.New("truncated BER")
	errLength    = errors.New("bad BER length")
)

// maxOIDLen bounds sub-identifiers per OID (RFC 2578 allows 128).
const maxOIDLen = 128

// tlv splits the first BER element off b: its tag, its contents and what follows.
// Only definite lengths up to 4 bytes are accepted; SNMP uses nothing else.
func tlv(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errTruncated
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, fmt.Errorf("multi-byte tag 0x%02x", tag)
	}
	n := int(b[1])
	i := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return 0, nil, nil, errLength
		}
		if len(b) < 2+k {
			return 0, nil, nil, errTruncated
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i += k
		if n < 0 {
			return 0, nil, nil, errLength
		}
	}
	if n > len(b)-i {
		return 0, nil, nil, errTruncated
	}
	return tag, b[i : i+n], b[i+n:], nil
}

// expect reads one element that must carry tag.
func expect(b []byte, want byte) (val, rest []byte, err error) {
	tag, val, rest, err := tlv(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, fmt.Errorf("tag 0x%02x, want 0x%02x", tag, want)
	}
	return val, rest, nil
}

// parseInt decodes a two's-complement INTEGER of at most 8 bytes.
func parseInt(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, fmt.Errorf("integer of %d bytes", len(v))
	}
	n := int64(int8(v[0]))
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, nil
}

// readInt reads an INTEGER element that must fit in int32.
func readInt(b []byte) (int32, []byte, error) {
	v, rest, err := expect(b, tagInteger)
	if err != nil {
		return 0, nil, err
	}
	n, err := parseInt(v)
	if err != nil {
		return 0, nil, err
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, nil, fmt.Errorf("integer %d out of range", n)
	}
	return int32(n), rest, nil
}

// parseOID decodes OID contents, appending sub-identifiers to dst.
func parseOID(dst []uint32, v []byte) ([]uint32, error) {
	if len(v) == 0 {
		return dst, errors.New("empty OID")
	}
	start := len(dst)
	var cur uint64
	first := true
	for i, c := range v {
		if cur == 0 && c == 0x80 {
			return dst, errors.New("OID sub-identifier with leading 0x80")
		}
		cur = cur<<7 | uint64(c&0x7f)
		if cur > 0xffffffff {
			return dst, errors.New("OID sub-identifier overflows 32 bits")
		}
		if c&0x80 != 0 {
			if i == len(v)-1 {
				return dst, errTruncated
			}
			continue
		}
		if first {
			first = false
			switch {
			case cur < 40:
				dst = append(dst, 0, uint32(cur))
			case cur < 80:
				dst = append(dst, 1, uint32(cur-40))
			default:
				dst = append(dst, 2, uint32(cur-80))
			}
		} else {
			dst = append(dst, uint32(cur))
		}
		if len(dst)-start > maxOIDLen {
			return dst, errors.New("OID longer than 128 sub-identifiers")
		}
		cur = 0
	}
	return dst, nil
}

// encoder appends BER into a reused buffer. Constructed elements are opened with
// begin and closed with end, which fixes the length in place.
type encoder struct {
	b []byte
}

func (e *encoder) reset() { e.b = e.b[:0] }

// begin opens a constructed element and returns the offset of its contents.
func (e *encoder) begin(tag byte) int {
	e.b = append(e.b, tag, 0)
	return len(e.b)
}

// end closes the element opened at start, moving its contents right when the length
// needs the long form.
func (e *encoder) end(start int) {
	n := len(e.b) - start
	if n < 0x80 {
		e.b[start-1] = byte(n)
		return
	}
	k := 1
	for x := n >> 8; x > 0; x >>= 8 {
		k++
	}
	e.b = append(e.b, make([]byte, k)...)
	copy(e.b[start+k:], e.b[start:start+n])
	e.b[start-1] = 0x80 | byte(k)
	for i := k - 1; i >= 0; i-- {
		e.b[start+i] = byte(n)
		n >>= 8
	}
}

func (e *encoder) length(n int) {
	switch {
	case n < 0x80:
		e.b = append(e.b, byte(n))
	case n < 0x100:
		e.b = append(e.b, 0x81, byte(n))
	case n < 0x10000:
		e.b = append(e.b, 0x82, byte(n>>8), byte(n))
	default:
		e.b = append(e.b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// int appends a signed INTEGER-like element.
func (e *encoder) int(tag byte, v int64) {
	k := 1
	for x := v; x > 127 || x < -128; x >>= 8 {
		k++
	}
	e.b = append(e.b, tag, byte(k))
	for i := k - 1; i >= 0; i-- {
		e.b = append(e.b, byte(v>>(8*i)))
	}
}

// uint appends an unsigned value (Counter32, Gauge32, TimeTicks, Counter64), with a
// leading zero byte when the top bit would read as a sign.
func (e *encoder) uint(tag byte, v uint64) {
	k := 1
	for x := v >> 8; x > 0; x >>= 8 {
		k++
	}
	pad := v>>(8*k-1)&1 == 1
	n := k
	if pad {
		n++
	}
	e.b = append(e.b, tag, byte(n))
	if pad {
		e.b = append(e.b, 0)
	}
	for i := k - 1; i >= 0; i-- {
		e.b = append(e.b, byte(v>>(8*i)))
	}
}

func (e *encoder) bytes(tag byte, v []byte) {
	e.b = append(e.b, tag)
	e.length(len(v))
	e.b = append(e.b, v...)
}

func (e *encoder) string(tag byte, v string) {
	e.b = append(e.b, tag)
	e.length(len(v))
	e.b = append(e.b, v...)
}

func (e *encoder) null(tag byte) { e.b = append(e.b, tag, 0) }

// oid appends an OBJECT IDENTIFIER made of the concatenation of parts.
func (e *encoder) oid(parts ...[]uint32) {
	start := e.begin(tagOID)
	var first [2]uint32
	n := 0
	for _, p := range parts {
		for _, s := range p {
			switch n {
			case 0:
				first[0] = s
			case 1:
				first[1] = s
				e.subid(first[0]*40 + first[1])
			default:
				e.subid(s)
			}
			n++
		}
	}
	if n == 1 {
		e.subid(first[0] * 40)
	}
	e.end(start)
}

func (e *encoder) subid(v uint32) {
	switch {
	case v < 1<<7:
		e.b = append(e.b, byte(v))
	case v < 1<<14:
		e.b = append(e.b, byte(v>>7)|0x80, byte(v&0x7f))
	case v < 1<<21:
		e.b = append(e.b, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	case v < 1<<28:
		e.b = append(e.b, byte(v>>21)|0x80, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	default:
		e.b = append(e.b, byte(v>>28)|0x80, byte(v>>21)|0x80, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	}
}

// value appends one varbind value.
func (e *encoder) value(v *Value) {
	switch v.Type {
	case tagInteger:
		e.int(tagInteger, v.Int)
	case tagCounter32, tagGauge32, tagTimeTicks, tagCounter64:
		e.uint(v.Type, uint64(v.Int))
	case tagOctetString, tagIPAddress, tagOpaque:
		if v.Bytes != nil {
			e.bytes(v.Type, v.Bytes)
		} else {
			e.string(v.Type, v.Str)
		}
	case tagOID:
		e.oid(v.OID)
	default:
		e.null(v.Type)
	}
}
