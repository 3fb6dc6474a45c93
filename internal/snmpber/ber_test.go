package snmpber

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"
)

func TestEncoderLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24} {
		var e Encoder
		s := e.Begin(Sequence)
		e.B = append(e.B, make([]byte, n)...)
		e.End(s)
		tag, val, rest, err := Read(e.B)
		if err != nil || tag != Sequence || len(val) != n || len(rest) != 0 {
			t.Fatalf("length %d: tag %x len %d rest %d err %v", n, tag, len(val), len(rest), err)
		}
		// AppendTLV writes the same bytes as Begin/End.
		if b := AppendTLV(nil, Sequence, make([]byte, n)); !bytes.Equal(b, e.B) {
			t.Fatalf("length %d: AppendTLV and Begin/End differ", n)
		}
	}
}

func TestIntegersRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 1 << 31, -1 << 31, 1<<63 - 1, -1 << 63} {
		var e Encoder
		e.Int(Integer, v)
		got, rest, err := ReadInt(e.B)
		if err != nil || got != v || len(rest) != 0 {
			t.Fatalf("int %d round-trips to %d (%v)", v, got, err)
		}
		_, val, _, _ := Read(e.B)
		if len(val) > 1 && ((val[0] == 0 && val[1]&0x80 == 0) || (val[0] == 0xff && val[1]&0x80 != 0)) {
			t.Errorf("int %d is not minimal: % x", v, val)
		}
	}
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 1<<32 - 1, 1<<63 + 5, 1<<64 - 1} {
		var e Encoder
		e.Uint(Counter64, v)
		tag, val, _, err := Read(e.B)
		if err != nil || tag != Counter64 || val[0]&0x80 != 0 {
			t.Fatalf("uint %d encodes as % x (%v)", v, e.B, err)
		}
		if got, err := ParseUint(val); err != nil || got != v {
			t.Fatalf("uint %d round-trips to %d (%v)", v, got, err)
		}
	}
	if _, _, err := ReadInt32(AppendInt(nil, Integer, 1<<31)); err == nil {
		t.Error("ReadInt32 accepted 2^31")
	}
	if _, err := ParseUint([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("ParseUint accepted 2^64")
	}
}

func TestOIDRoundTrip(t *testing.T) {
	for _, s := range []string{"1.3.6.1.2.1.1.3.0", "1.0.8802.1.1.2.1.4.1.1", "2.999.4294967295", "1.3.6.1.4.1.8072.3.2.10", "0.0", "2.4294967215"} {
		b, err := EncodeOID(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FormatOID(b)
		if err != nil || got != s {
			t.Errorf("%s -> %x -> %s, %v", s, b, got, err)
		}
		arcs, err := ParseOID(nil, b)
		if err != nil || dotted(arcs) != s {
			t.Errorf("%s parses to %v (%v)", s, arcs, err)
		}
		var e Encoder
		e.OID(arcs[:1], arcs[1:])
		if _, val, _, _ := Read(e.B); !bytes.Equal(val, b) {
			t.Errorf("%s: Encoder.OID gives % x, EncodeOID % x", s, val, b)
		}
	}
	for _, bad := range []string{"", "1", "3.1", "1.40", "1.3.x", "1.3.4294967296", "2.4294967216", strings.Repeat("1.", 128) + "1"} {
		if _, err := EncodeOID(bad); err == nil {
			t.Errorf("EncodeOID(%q) accepted", bad)
		}
	}
	for _, bad := range [][]byte{nil, {0x2b, 0x86}, {0x2b, 0x80, 0x01}, {0x2b, 0x90, 0x80, 0x80, 0x80, 0x00}} {
		if _, err := FormatOID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("FormatOID(% x): %v", bad, err)
		}
		if _, err := ParseOID(nil, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOID(% x): %v", bad, err)
		}
	}
}

func dotted(a []uint32) string {
	parts := make([]string, len(a))
	for i, x := range a {
		parts[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(parts, ".")
}

func TestReadRejects(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrTruncated},
		{[]byte{0x30}, ErrTruncated},
		{[]byte{0x30, 0x05, 1, 2}, ErrTruncated},
		{[]byte{0x30, 0x80}, ErrLength},
		{[]byte{0x30, 0x85, 0, 0, 0, 0, 1}, ErrLength},
		{[]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, ErrTruncated},
		{[]byte{0x1f, 0x01, 0x00}, ErrTag},
	} {
		if _, _, _, err := Read(tc.in); !errors.Is(err, tc.want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Read(% x): %v, want %v", tc.in, err, tc.want)
		}
	}
	if _, _, err := Expect([]byte{0x04, 0x00}, Integer); !errors.Is(err, ErrMalformed) {
		t.Errorf("Expect with the wrong tag: %v", err)
	}
}

// TestMatchesGosnmp: what the primitives encode, gosnmp decodes to the same values.
func TestMatchesGosnmp(t *testing.T) {
	var e Encoder
	msg := e.Begin(Sequence)
	e.Int(Integer, Version2c)
	e.String(OctetString, "public")
	pdu := e.Begin(GetResponse)
	e.Int(Integer, 0x01020304)
	e.Int(Integer, NoError)
	e.Int(Integer, 0)
	vbl := e.Begin(Sequence)
	vb := e.Begin(Sequence)
	e.OID([]uint32{1, 3, 6, 1, 2, 1, 1, 3, 0})
	e.Uint(TimeTicks, 4294967295)
	e.End(vb)
	vb = e.Begin(Sequence)
	e.OID([]uint32{1, 3, 6, 1, 2, 1, 1, 2, 0})
	e.OID([]uint32{1, 3, 6, 1, 4, 1, 318, 1, 1, 1})
	e.End(vb)
	vb = e.Begin(Sequence)
	e.OID([]uint32{1, 3, 6, 1, 2, 1, 1, 1, 0})
	e.String(OctetString, strings.Repeat("x", 300)) // long-form lengths all the way up
	e.End(vb)
	vb = e.Begin(Sequence)
	e.OID([]uint32{1, 3, 6, 1, 2, 1, 1, 9, 0})
	e.Null(NoSuchInstance)
	e.End(vb)
	e.End(vbl)
	e.End(pdu)
	e.End(msg)
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	p, err := g.SnmpDecodePacket(e.B)
	if err != nil {
		t.Fatalf("gosnmp cannot decode: %v", err)
	}
	if p.RequestID != 0x01020304 || p.Community != "public" || len(p.Variables) != 4 {
		t.Fatalf("decoded %+v", p)
	}
	v := p.Variables
	if v[0].Value != uint32(4294967295) || v[1].Value != ".1.3.6.1.4.1.318.1.1.1" || string(v[2].Value.([]byte)) != strings.Repeat("x", 300) ||
		v[3].Type != gosnmp.NoSuchInstance {
		t.Fatalf("values %+v", v)
	}
}

// FuzzDecode: no input panics; an OID that decodes re-encodes to the same octets,
// and FormatOID, ParseOID and EncodeOID agree on it.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00})
	f.Add([]byte{0x88, 0x37, 0x8f, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0x84, 0x00, 0x00, 0x00, 0x01, 0x05})
	f.Add([]byte{0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if tag, val, rest, err := Read(b); err == nil {
			if len(val)+len(rest) > len(b) {
				t.Fatalf("Read returned more than it was given")
			}
			_, _ = ParseInt(val)
			_, _ = ParseUint(val)
			_ = tag
		}
		_, _, _ = ReadInt32(b)
		arcs, err := ParseOID(nil, b)
		s, ferr := FormatOID(b)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("ParseOID %v, FormatOID %v", err, ferr)
		}
		if err != nil {
			return
		}
		if got := AppendOID(nil, arcs); !bytes.Equal(got, b) {
			t.Fatalf("% x parses to %v, re-encodes to % x", b, arcs, got)
		}
		if enc, err := EncodeOID(s); err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("% x formats to %s, encodes back to % x (%v)", b, s, enc, err)
		}
		if len(arcs) < 2 || dotted(arcs) != s {
			t.Fatalf("%v: fewer than two sub-identifiers", arcs)
		}
	})
}
