// Package snmpber holds the BER primitives SNMP messages are made of (tags, TLV
// reading, INTEGER and OBJECT IDENTIFIER encoding and decoding) for the two hand-made
// SNMP codecs of the project: the collector's hot poll path (internal/discovery) and
// the simulated agents (internal/devicesim). Each of them keeps its own message
// logic; gosnmp stays the codec for everything else.
//
// Both codecs handle tens of thousands of messages a second, so decoding works on
// sub-slices of the datagram (nothing is copied) and encoding appends to a buffer the
// caller reuses. Only what SNMP uses is accepted: single-byte tags and definite
// lengths of at most four octets.
package snmpber

import (
	"errors"
	"fmt"
)

// Universal and SNMP application tags (RFC 2578, RFC 3416).
const (
	Integer          = 0x02
	OctetString      = 0x04
	Null             = 0x05
	ObjectIdentifier = 0x06
	Sequence         = 0x30

	IPAddress = 0x40
	Counter32 = 0x41
	Gauge32   = 0x42
	TimeTicks = 0x43
	Opaque    = 0x44
	Counter64 = 0x46

	// Exceptions in v2c responses, in place of a value.
	NoSuchObject   = 0x80
	NoSuchInstance = 0x81
	EndOfMibView   = 0x82
)

// PDU tags.
const (
	GetRequest     = 0xa0
	GetNextRequest = 0xa1
	GetResponse    = 0xa2
	SetRequest     = 0xa3
	TrapV1         = 0xa4
	GetBulkRequest = 0xa5
	InformRequest  = 0xa6
	TrapV2         = 0xa7
	Report         = 0xa8
)

// Message version field values.
const (
	Version1  = 0
	Version2c = 1
	Version3  = 3
)

// Error-status values used by the project.
const (
	NoError     = 0
	TooBig      = 1
	NoSuchName  = 2
	ReadOnly    = 4
	GenErr      = 5
	NotWritable = 17
)

// MaxOIDLen bounds the sub-identifiers of an OID (RFC 2578 allows 128).
const MaxOIDLen = 128

// ErrMalformed is wrapped by every decoding error: the input is not BER as SNMP
// uses it.
var ErrMalformed = errors.New("malformed BER")

var (
	ErrTruncated = fmt.Errorf("%w: truncated", ErrMalformed)
	ErrLength    = fmt.Errorf("%w: unsupported length", ErrMalformed)
	ErrTag       = fmt.Errorf("%w: multi-byte tag", ErrMalformed)
	errEmptyOID  = fmt.Errorf("%w: empty OID", ErrMalformed)
	errOIDPad    = fmt.Errorf("%w: OID sub-identifier with leading 0x80", ErrMalformed)
	errOIDBig    = fmt.Errorf("%w: OID sub-identifier overflows 32 bits", ErrMalformed)
	errOIDLong   = fmt.Errorf("%w: OID longer than %d sub-identifiers", ErrMalformed, MaxOIDLen)
)

// Read splits the first element off b: its tag, its contents and what follows.
func Read(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, ErrTruncated
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, ErrTag
	}
	n := int(b[1])
	i := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return 0, nil, nil, ErrLength
		}
		if len(b) < 2+k {
			return 0, nil, nil, ErrTruncated
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i += k
		if n < 0 {
			return 0, nil, nil, ErrLength
		}
	}
	if n > len(b)-i {
		return 0, nil, nil, ErrTruncated
	}
	return tag, b[i : i+n], b[i+n:], nil
}

// Expect reads one element that must carry tag want.
func Expect(b []byte, want byte) (val, rest []byte, err error) {
	tag, val, rest, err := Read(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, fmt.Errorf("%w: tag 0x%02x, want 0x%02x", ErrMalformed, tag, want)
	}
	return val, rest, nil
}

// ParseInt decodes the contents of a two's-complement INTEGER of at most 8 octets.
func ParseInt(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, fmt.Errorf("%w: integer of %d bytes", ErrMalformed, len(v))
	}
	n := int64(int8(v[0]))
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, nil
}

// ParseUint decodes the contents of an unsigned value (Counter32, Gauge32,
// TimeTicks, Counter64, or a non-negative INTEGER): at most 8 octets of magnitude,
// after a leading zero octet where the top bit would read as a sign.
func ParseUint(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 9 || (len(v) == 9 && v[0] != 0) {
		return 0, fmt.Errorf("%w: unsigned of %d bytes", ErrMalformed, len(v))
	}
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x, nil
}

// ReadInt reads an INTEGER element.
func ReadInt(b []byte) (int64, []byte, error) {
	v, rest, err := Expect(b, Integer)
	if err != nil {
		return 0, nil, err
	}
	n, err := ParseInt(v)
	return n, rest, err
}

// ReadInt32 reads an INTEGER element that must fit in 32 bits, as SNMP header
// fields (version, request id, error status and index, msgID) do.
func ReadInt32(b []byte) (int32, []byte, error) {
	n, rest, err := ReadInt(b)
	if err != nil {
		return 0, nil, err
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, nil, fmt.Errorf("%w: integer %d out of range", ErrMalformed, n)
	}
	return int32(n), rest, nil
}
