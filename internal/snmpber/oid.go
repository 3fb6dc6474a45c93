package snmpber

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseOID decodes OBJECT IDENTIFIER contents, appending the sub-identifiers to dst.
// Sub-identifiers are 32-bit (RFC 2578) and encoded minimally.
func ParseOID(dst []uint32, v []byte) ([]uint32, error) {
	if len(v) == 0 {
		return dst, errEmptyOID
	}
	start := len(dst)
	var cur uint64
	first := true
	for i, c := range v {
		if cur == 0 && c == 0x80 {
			return dst, errOIDPad
		}
		cur = cur<<7 | uint64(c&0x7f)
		if cur > 0xffffffff {
			return dst, errOIDBig
		}
		if c&0x80 != 0 {
			if i == len(v)-1 {
				return dst, ErrTruncated
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
		if len(dst)-start > MaxOIDLen {
			return dst, errOIDLong
		}
		cur = 0
	}
	return dst, nil
}

// FormatOID decodes OBJECT IDENTIFIER contents to dotted form ("1.3.6.1.2.1.1.2.0"),
// with the rules of ParseOID.
func FormatOID(v []byte) (string, error) {
	if len(v) == 0 {
		return "", errEmptyOID
	}
	var buf [64]byte
	out := buf[:0]
	var cur uint64
	n := 0
	for i, c := range v {
		if cur == 0 && c == 0x80 {
			return "", errOIDPad
		}
		cur = cur<<7 | uint64(c&0x7f)
		if cur > 0xffffffff {
			return "", errOIDBig
		}
		if c&0x80 != 0 {
			if i == len(v)-1 {
				return "", ErrTruncated
			}
			continue
		}
		if n == 0 {
			x, y := cur/40, cur%40
			if x > 2 {
				x, y = 2, cur-80
			}
			out = strconv.AppendUint(out, x, 10)
			out = append(out, '.')
			out = strconv.AppendUint(out, y, 10)
			n = 2
		} else {
			out = append(out, '.')
			out = strconv.AppendUint(out, cur, 10)
			n++
		}
		if n > MaxOIDLen {
			return "", errOIDLong
		}
		cur = 0
	}
	return string(out), nil
}

// EncodeOID encodes a dotted OID ("1.3.6.1.2.1.1.3.0", a leading dot allowed) as
// OBJECT IDENTIFIER contents.
func EncodeOID(s string) ([]byte, error) {
	d := strings.TrimPrefix(s, ".")
	parts := strings.Split(d, ".")
	if len(parts) < 2 || len(parts) > MaxOIDLen {
		return nil, fmt.Errorf("oid %q: want 2..%d sub-identifiers", s, MaxOIDLen)
	}
	arcs := make([]uint32, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("oid %q: %w", s, err)
		}
		arcs[i] = uint32(v)
	}
	if arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) || (arcs[0] == 2 && arcs[1] > 0xffffffff-80) {
		return nil, fmt.Errorf("oid %q: invalid first sub-identifiers", s)
	}
	return AppendOID(nil, arcs), nil
}

// AppendOID appends the OBJECT IDENTIFIER contents of the concatenation of parts
// (at least two sub-identifiers in all; the first two are valid as EncodeOID checks).
func AppendOID(b []byte, parts ...[]uint32) []byte {
	var first uint32
	n := 0
	for _, p := range parts {
		for _, s := range p {
			switch n {
			case 0:
				first = s * 40
			case 1:
				b = AppendSubID(b, first+s)
			default:
				b = AppendSubID(b, s)
			}
			n++
		}
	}
	if n == 1 {
		b = AppendSubID(b, first)
	}
	return b
}

// AppendSubID appends one sub-identifier in base 128.
func AppendSubID(b []byte, v uint32) []byte {
	switch {
	case v < 1<<7:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v>>7)|0x80, byte(v&0x7f))
	case v < 1<<21:
		return append(b, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	case v < 1<<28:
		return append(b, byte(v>>21)|0x80, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	default:
		return append(b, byte(v>>28)|0x80, byte(v>>21)|0x80, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v&0x7f))
	}
}
