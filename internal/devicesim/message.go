package devicesim

import (
	"errors"
	"fmt"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// v3 msgFlags bits.
const (
	flagAuth       = 0x01
	flagPriv       = 0x02
	flagReportable = 0x04
)

// Value is one varbind value. Type is the BER tag; Int carries integers, counters,
// gauges and time ticks; Str or Bytes octet strings and IP addresses; OID object
// identifiers. Values point into device and catalogue data, never copies.
type Value struct {
	Type  byte
	Int   int64
	Str   string
	Bytes []byte
	OID   []uint32
}

func intValue(v int64) Value    { return Value{Type: snmpber.Integer, Int: v} }
func gaugeValue(v uint32) Value { return Value{Type: snmpber.Gauge32, Int: int64(v)} }
func ticksValue(v uint32) Value { return Value{Type: snmpber.TimeTicks, Int: int64(v)} }
func strValue(s string) Value   { return Value{Type: snmpber.OctetString, Str: s} }
func bytesValue(b []byte) Value { return Value{Type: snmpber.OctetString, Bytes: b} }
func oidValue(o []uint32) Value { return Value{Type: snmpber.ObjectIdentifier, OID: o} }

// pdu is a decoded request PDU. For GetBulk, errStatus and errIndex hold
// non-repeaters and max-repetitions, as on the wire.
type pdu struct {
	typ       byte
	reqID     int32
	errStatus int32
	errIndex  int32
	oids      [][]uint32 // point into the decoder's arena
}

// usmParams are the USM security parameters of a v3 message.
type usmParams struct {
	engineID   []byte
	boots      int32
	time       int32
	user       []byte
	authParams []byte
	privParams []byte
	// authOff is the offset of authParams' contents in the raw message, so it can be
	// zeroed to check the digest.
	authOff int
}

// message is a decoded request. Byte slices point into the datagram.
type message struct {
	version   int32
	community []byte

	msgID    int32
	maxSize  int32
	flags    byte
	usm      usmParams
	ctxEngID []byte
	ctxName  []byte
	// encrypted holds the encrypted scoped PDU when the privacy flag is set; pdu is
	// then filled in by decodeScoped after decryption.
	encrypted []byte
	scopedRaw []byte

	pdu pdu
}

// decoder parses requests with an OID arena reused across datagrams.
type decoder struct {
	arena []uint32
	oids  [][]uint32
}

// decode parses a whole SNMP message. For v3 with privacy the PDU stays encrypted.
func (d *decoder) decode(raw []byte, m *message) error {
	*m = message{}
	d.arena = d.arena[:0]
	d.oids = d.oids[:0]
	body, _, err := snmpber.Expect(raw, snmpber.Sequence)
	if err != nil {
		return fmt.Errorf("message: %w", err)
	}
	if m.version, body, err = snmpber.ReadInt32(body); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	switch m.version {
	case snmpber.Version1, snmpber.Version2c:
		if m.community, body, err = snmpber.Expect(body, snmpber.OctetString); err != nil {
			return fmt.Errorf("community: %w", err)
		}
		return d.decodePDU(body, &m.pdu)
	case snmpber.Version3:
		return d.decodeV3(raw, body, m)
	}
	return fmt.Errorf("unsupported SNMP version %d", m.version)
}

func (d *decoder) decodeV3(raw, body []byte, m *message) error {
	hdr, body, err := snmpber.Expect(body, snmpber.Sequence)
	if err != nil {
		return fmt.Errorf("msgGlobalData: %w", err)
	}
	if m.msgID, hdr, err = snmpber.ReadInt32(hdr); err != nil {
		return fmt.Errorf("msgID: %w", err)
	}
	if m.maxSize, hdr, err = snmpber.ReadInt32(hdr); err != nil {
		return fmt.Errorf("msgMaxSize: %w", err)
	}
	flags, hdr, err := snmpber.Expect(hdr, snmpber.OctetString)
	if err != nil || len(flags) != 1 {
		return errors.New("msgFlags: want one octet")
	}
	m.flags = flags[0]
	model, _, err := snmpber.ReadInt32(hdr)
	if err != nil {
		return fmt.Errorf("msgSecurityModel: %w", err)
	}
	if model != 3 {
		return fmt.Errorf("security model %d is not USM", model)
	}
	if m.flags&flagPriv != 0 && m.flags&flagAuth == 0 {
		return errors.New("msgFlags: privacy without authentication")
	}
	sp, body, err := snmpber.Expect(body, snmpber.OctetString)
	if err != nil {
		return fmt.Errorf("msgSecurityParameters: %w", err)
	}
	if err := decodeUSM(raw, sp, &m.usm); err != nil {
		return err
	}
	if m.flags&flagPriv != 0 {
		if m.encrypted, _, err = snmpber.Expect(body, snmpber.OctetString); err != nil {
			return fmt.Errorf("encryptedPDU: %w", err)
		}
		return nil
	}
	return d.decodeScoped(body, m)
}

func decodeUSM(raw, sp []byte, u *usmParams) error {
	seq, _, err := snmpber.Expect(sp, snmpber.Sequence)
	if err != nil {
		return fmt.Errorf("usm parameters: %w", err)
	}
	if u.engineID, seq, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("usm engineID: %w", err)
	}
	if u.boots, seq, err = snmpber.ReadInt32(seq); err != nil {
		return fmt.Errorf("usm engineBoots: %w", err)
	}
	if u.time, seq, err = snmpber.ReadInt32(seq); err != nil {
		return fmt.Errorf("usm engineTime: %w", err)
	}
	if u.user, seq, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("usm userName: %w", err)
	}
	if u.authParams, seq, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("usm authParameters: %w", err)
	}
	u.authOff = cap(raw) - cap(u.authParams)
	if u.privParams, _, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("usm privParameters: %w", err)
	}
	if len(u.engineID) > 32 || len(u.user) > 32 {
		return errors.New("usm engineID or userName longer than 32 octets")
	}
	return nil
}

// decodeScoped parses a plaintext ScopedPDU. Trailing bytes (DES padding) are ignored.
func (d *decoder) decodeScoped(b []byte, m *message) error {
	seq, _, err := snmpber.Expect(b, snmpber.Sequence)
	if err != nil {
		return fmt.Errorf("scopedPDU: %w", err)
	}
	m.scopedRaw = seq
	if m.ctxEngID, seq, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("contextEngineID: %w", err)
	}
	if m.ctxName, seq, err = snmpber.Expect(seq, snmpber.OctetString); err != nil {
		return fmt.Errorf("contextName: %w", err)
	}
	return d.decodePDU(seq, &m.pdu)
}

func (d *decoder) decodePDU(b []byte, p *pdu) error {
	tag, body, _, err := snmpber.Read(b)
	if err != nil {
		return fmt.Errorf("pdu: %w", err)
	}
	p.typ = tag
	switch tag {
	case snmpber.GetRequest, snmpber.GetNextRequest, snmpber.GetBulkRequest, snmpber.SetRequest, snmpber.GetResponse, snmpber.InformRequest, snmpber.TrapV2, snmpber.Report:
	default:
		return fmt.Errorf("unsupported PDU type 0x%02x", tag)
	}
	if p.reqID, body, err = snmpber.ReadInt32(body); err != nil {
		return fmt.Errorf("request-id: %w", err)
	}
	if p.errStatus, body, err = snmpber.ReadInt32(body); err != nil {
		return fmt.Errorf("error-status: %w", err)
	}
	if p.errIndex, body, err = snmpber.ReadInt32(body); err != nil {
		return fmt.Errorf("error-index: %w", err)
	}
	vbl, _, err := snmpber.Expect(body, snmpber.Sequence)
	if err != nil {
		return fmt.Errorf("varbind list: %w", err)
	}
	for len(vbl) > 0 {
		var vb []byte
		if vb, vbl, err = snmpber.Expect(vbl, snmpber.Sequence); err != nil {
			return fmt.Errorf("varbind %d: %w", len(d.oids)+1, err)
		}
		ov, rest, err := snmpber.Expect(vb, snmpber.ObjectIdentifier)
		if err != nil {
			return fmt.Errorf("varbind %d name: %w", len(d.oids)+1, err)
		}
		if _, _, _, err := snmpber.Read(rest); err != nil {
			return fmt.Errorf("varbind %d value: %w", len(d.oids)+1, err)
		}
		if len(d.oids) >= maxVarbinds {
			return fmt.Errorf("more than %d varbinds", maxVarbinds)
		}
		start := len(d.arena)
		if d.arena, err = snmpber.ParseOID(d.arena, ov); err != nil {
			return fmt.Errorf("varbind %d name: %w", len(d.oids)+1, err)
		}
		d.oids = append(d.oids, d.arena[start:len(d.arena):len(d.arena)])
	}
	// The arena may have grown and moved: re-slice every OID from the final arena.
	off := 0
	for i, o := range d.oids {
		d.oids[i] = d.arena[off : off+len(o) : off+len(o)]
		off += len(o)
	}
	p.oids = d.oids
	return nil
}

// maxVarbinds bounds the varbinds of one request.
const maxVarbinds = 256
