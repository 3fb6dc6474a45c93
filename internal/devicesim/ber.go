package devicesim

import "github.com/medcmdb/medcmdb/internal/snmpber"

// The agents' codec: BER primitives come from internal/snmpber (shared with the
// collector's hot poll path); message decoding is in message.go, encoding in
// agent.go and traps.go. Decoding works on sub-slices of the datagram (no copies) and
// encoding appends into reused buffers, so one process answers tens of thousands of
// requests a second; BenchmarkAnswerGet compares it with gosnmp's codec.

// appendValue appends one varbind value.
func appendValue(e *snmpber.Encoder, v *Value) {
	switch v.Type {
	case snmpber.Integer:
		e.Int(snmpber.Integer, v.Int)
	case snmpber.Counter32, snmpber.Gauge32, snmpber.TimeTicks, snmpber.Counter64:
		e.Uint(v.Type, uint64(v.Int))
	case snmpber.OctetString, snmpber.IPAddress, snmpber.Opaque:
		if v.Bytes != nil {
			e.Bytes(v.Type, v.Bytes)
		} else {
			e.String(v.Type, v.Str)
		}
	case snmpber.ObjectIdentifier:
		e.OID(v.OID)
	default:
		e.Null(v.Type)
	}
}
