package discovery

import (
	"bytes"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// TestGetTemplateMatchesGosnmp checks the hand-made encoder against gosnmp's decoder
// and the hand-made decoder against gosnmp's encoder.
func TestGetTemplateMatchesGosnmp(t *testing.T) {
	tpl := newGetTemplate(snmpber.Version2c, "s3cret", snmpber.GetRequest, systemOIDsB)
	msg := tpl.encode(nil, 0x01020304)
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	pkt, err := g.SnmpDecodePacket(msg)
	if err != nil {
		t.Fatalf("gosnmp cannot decode our request: %v", err)
	}
	if pkt.Community != "s3cret" || pkt.RequestID != 0x01020304 || pkt.PDUType != gosnmp.GetRequest || len(pkt.Variables) != 5 {
		t.Fatalf("decoded %+v", pkt)
	}
	for i, v := range pkt.Variables {
		if v.Name != "."+systemOIDs[i] {
			t.Errorf("varbind %d: %s, want %s", i, v.Name, systemOIDs[i])
		}
	}

	resp := &gosnmp.SnmpPacket{
		Version: gosnmp.Version2c, Community: "s3cret", PDUType: gosnmp.GetResponse, RequestID: 0x01020304,
		Variables: []gosnmp.SnmpPDU{
			{Name: oidSysDescr, Type: gosnmp.OctetString, Value: []byte("Philips IntelliVue MX800\x00")},
			{Name: oidSysObjectID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.318.1.1.1"},
			{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(4294967295)},
			{Name: oidSysName, Type: gosnmp.OctetString, Value: []byte("mx-1")},
			{Name: oidSysLocation, Type: gosnmp.NoSuchObject, Value: nil},
			{Name: oidUPSBatteryStatus, Type: gosnmp.Integer, Value: 3},
			{Name: oidUPSOutputSource, Type: gosnmp.Integer, Value: 5},
			{Name: oidUPSMinutesLeft, Type: gosnmp.Integer, Value: 42},
		},
	}
	b, err := resp.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	var r wireResponse
	if err := parseMessage(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.reqID != 0x01020304 || string(r.community) != "s3cret" || r.pduType != snmpber.GetResponse {
		t.Fatalf("header %+v", r)
	}
	res := decodePoll(r.vars)
	if res.sys.Descr != "Philips IntelliVue MX800" || res.sys.ObjectID != "1.3.6.1.4.1.318.1.1.1" || res.sys.Name != "mx-1" ||
		res.sys.Location != "" || res.sys.UpTime.Seconds() != 42949672.95 {
		t.Errorf("sys %+v", res.sys)
	}
	if !res.ups.OnBattery || !res.ups.BatteryLow || res.ups.MinutesLeft != 42 {
		t.Errorf("ups %+v", res.ups)
	}
}

func TestV3DiscoveryProbe(t *testing.T) {
	msg := v3DiscoveryProbe(0x01000042)
	id, err := peekV3MsgID(msg)
	if err != nil || id != 0x01000042 {
		t.Fatalf("msgID %d, %v", id, err)
	}
	// That real agents answer it is proven by TestSNMPDv3AuthPriv, whose sweep finds
	// v3-only snmpd agents through this probe.
}

// OID encoding and decoding are tested in internal/snmpber.

// FuzzParseMessage: any datagram is rejected or decoded, never a panic, and what
// decodes can be read without panicking.
func FuzzParseMessage(f *testing.F) {
	tpl := newGetTemplate(snmpber.Version1, "public", snmpber.GetRequest, systemOIDsB)
	f.Add(tpl.encode(nil, minReqID))
	f.Add(v3DiscoveryProbe(minReqID))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r wireResponse
		if parseMessage(b, &r) == nil {
			res := decodePoll(r.vars)
			_ = res
			for i := range r.vars {
				_ = r.vars[i].text()
			}
		}
		_, _ = peekV3MsgID(b)
		_, _ = snmpber.FormatOID(b)
		if len(b) > 0 && bytes.Equal(b, tpl.msg) {
			t.Skip()
		}
	})
}

// BenchmarkPollCodec measures the hot poll's codec work per device poll: encode the
// request from its template, decode a five-object answer and read the system group
// out of it, against doing the same with gosnmp's codec.
func BenchmarkPollCodec(b *testing.B) {
	tpl := newGetTemplate(snmpber.Version2c, "public", snmpber.GetRequest, systemOIDsB)
	resp := &gosnmp.SnmpPacket{
		Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetResponse, RequestID: minReqID,
		Variables: []gosnmp.SnmpPDU{
			{Name: oidSysDescr, Type: gosnmp.OctetString, Value: []byte("Philips IntelliVue MX800 Rev. M.00.03 SN DE12345678")},
			{Name: oidSysObjectID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.32847.2.1.800"},
			{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(123456789)},
			{Name: oidSysName, Type: gosnmp.OctetString, Value: []byte("main-icu3-mon07")},
			{Name: oidSysLocation, Type: gosnmp.OctetString, Value: []byte("Main Campus, Tower A, floor 3, ICU-3, room 4, bed 1")},
		},
	}
	pkt, err := resp.MarshalMsg()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		r := wireResponse{vars: make([]wireVar, 0, 8)}
		for b.Loop() {
			buf = tpl.encode(buf, minReqID)
			if err := parseMessage(pkt, &r); err != nil {
				b.Fatal(err)
			}
			if res := decodePoll(r.vars); res.sys.Name == "" {
				b.Fatal("no sysName")
			}
		}
	})
	b.Run("gosnmp", func(b *testing.B) {
		b.ReportAllocs()
		g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
		req := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetRequest, RequestID: minReqID}
		for _, o := range systemOIDs {
			req.Variables = append(req.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
		}
		for b.Loop() {
			if _, err := req.MarshalMsg(); err != nil {
				b.Fatal(err)
			}
			p, err := g.SnmpDecodePacket(pkt)
			if err != nil {
				b.Fatal(err)
			}
			if res := decodeGosnmpPoll(p.Variables); res.sys.Name == "" {
				b.Fatal("no sysName")
			}
		}
	})
}
