package devicesim

import (
	"log/slog"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// gosnmpRequest marshals a request with gosnmp, as a manager would send it.
func gosnmpRequest(t testing.TB, version gosnmp.SnmpVersion, typ gosnmp.PDUType, oids ...string) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: version, Community: "public", PDUType: typ, RequestID: 4242,
		MaxRepetitions: 10, Logger: gosnmp.NewLogger(nil)}
	for _, o := range oids {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// offlineSim is a simulator whose worker is driven directly, without the network.
func offlineSim(t testing.TB, n int) (*Hospital, *worker) {
	t.Helper()
	h := generate(t, 1, n)
	s, err := New(h, Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return h, newWorker(s)
}

func decodeWithGosnmp(t testing.TB, b []byte) *gosnmp.SnmpPacket {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	p, err := g.SnmpDecodePacket(b)
	if err != nil {
		t.Fatalf("gosnmp cannot decode our answer: %v", err)
	}
	return p
}

func TestAnswersDecodeWithGosnmp(t *testing.T) {
	h, w := offlineSim(t, 200)
	sw, _ := h.Resolve(Selector{Class: "NETWORK_SWITCH", CareArea: ICU})
	for _, tc := range []struct {
		name    string
		version gosnmp.SnmpVersion
		typ     gosnmp.PDUType
		oids    []string
		check   func(*gosnmp.SnmpPacket) string
	}{
		{"v2c get", gosnmp.Version2c, gosnmp.GetRequest, []string{".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.99.0", ".1.3.6.1.2.1.2.2.1.2.999"},
			func(p *gosnmp.SnmpPacket) string {
				if string(p.Variables[0].Value.([]byte)) != sw.Name || p.Variables[1].Type != gosnmp.NoSuchObject || p.Variables[2].Type != gosnmp.NoSuchInstance {
					return "wrong values or exceptions"
				}
				return ""
			}},
		{"v1 get missing", gosnmp.Version1, gosnmp.GetRequest, []string{".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.99.0"},
			func(p *gosnmp.SnmpPacket) string {
				if p.Error != gosnmp.NoSuchName || p.ErrorIndex != 2 {
					return "want noSuchName at 2"
				}
				return ""
			}},
		{"v2c getnext past the end", gosnmp.Version2c, gosnmp.GetNextRequest, []string{".1.3.6.1.9"},
			func(p *gosnmp.SnmpPacket) string {
				if p.Variables[0].Type != gosnmp.EndOfMibView {
					return "want endOfMibView"
				}
				return ""
			}},
		{"v2c getbulk", gosnmp.Version2c, gosnmp.GetBulkRequest, []string{".1.3.6.1.2.1.17.4.3.1.2"},
			func(p *gosnmp.SnmpPacket) string {
				if len(p.Variables) != 10 {
					return "want 10 repetitions"
				}
				for _, v := range p.Variables {
					if len(v.Name) < 24 || v.Name[:24] != ".1.3.6.1.2.1.17.4.3.1.2." {
						return "repetition left the FDB port column: " + v.Name
					}
				}
				return ""
			}},
		{"v2c set refused", gosnmp.Version2c, gosnmp.SetRequest, []string{".1.3.6.1.2.1.1.5.0"},
			func(p *gosnmp.SnmpPacket) string {
				if p.Error != gosnmp.NotWritable {
					return "want notWritable"
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := w.handle(sw, gosnmpRequest(t, tc.version, tc.typ, tc.oids...))
			if out == nil {
				t.Fatal("no answer")
			}
			p := decodeWithGosnmp(t, out)
			if p.RequestID != 4242 || p.PDUType != gosnmp.GetResponse {
				t.Fatalf("request id %d type %v", p.RequestID, p.PDUType)
			}
			if msg := tc.check(p); msg != "" {
				t.Fatalf("%s: %+v", msg, p.Variables)
			}
		})
	}
}

func TestBulkStopsAtTheMessageSize(t *testing.T) {
	h, w := offlineSim(t, 200)
	sw, _ := h.Resolve(Selector{Class: "NETWORK_SWITCH", CareArea: ICU})
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetBulkRequest, RequestID: 1,
		MaxRepetitions: 2000, Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1", Type: gosnmp.Null}}, Logger: gosnmp.NewLogger(nil)}
	req, _ := p.MarshalMsg()
	out := w.handle(sw, req)
	if len(out) > w.s.cfg.MaxMessageSize {
		t.Fatalf("answer of %d bytes exceeds the %d limit", len(out), w.s.cfg.MaxMessageSize)
	}
	if got := decodeWithGosnmp(t, out); len(got.Variables) < 50 {
		t.Fatalf("only %d varbinds in a full answer", len(got.Variables))
	}
}

// The BER primitives' own tests (lengths, integers, OIDs) are in internal/snmpber.

// FuzzHandle feeds arbitrary datagrams to an agent: nothing may panic, and anything
// it answers must be a well-formed SNMP message.
func FuzzHandle(f *testing.F) {
	f.Add(gosnmpRequest(f, gosnmp.Version2c, gosnmp.GetRequest, ".1.3.6.1.2.1.1.5.0"))
	f.Add(gosnmpRequest(f, gosnmp.Version1, gosnmp.GetNextRequest, ".1.3.6.1.2.1.2.2.1.6"))
	f.Add(gosnmpRequest(f, gosnmp.Version2c, gosnmp.GetBulkRequest, ".1.3.6.1.2.1.17", ".1.0.8802"))
	// A v3 engine discovery probe as net-snmp sends it.
	f.Add([]byte{0x30, 0x3a, 0x02, 0x01, 0x03, 0x30, 0x0f, 0x02, 0x03, 0x01, 0x00, 0x01, 0x02, 0x03, 0x00, 0xff, 0xe3,
		0x04, 0x01, 0x04, 0x02, 0x01, 0x03, 0x04, 0x10, 0x30, 0x0e, 0x04, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
		0x04, 0x00, 0x04, 0x00, 0x04, 0x00, 0x30, 0x12, 0x04, 0x00, 0x04, 0x00, 0xa0, 0x0c, 0x02, 0x02, 0x12, 0x34,
		0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00})
	h, w := offlineSim(f, 60)
	d := h.Devices[len(h.Devices)-1]
	f.Fuzz(func(t *testing.T, b []byte) {
		out := w.handle(d, b)
		if out == nil {
			return
		}
		var dec decoder
		var m message
		if _, _, _, err := snmpber.Read(out); err != nil {
			t.Fatalf("answer is not BER: %v", err)
		}
		if err := dec.decode(append([]byte(nil), out...), &m); err != nil && m.version != snmpber.Version3 {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}

// BenchmarkAnswerGet compares answering a five-OID v2c Get with this codec against
// decoding the request and encoding the answer with gosnmp, on the same request.
func BenchmarkAnswerGet(b *testing.B) {
	oids := []string{".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0"}
	h, w := offlineSim(b, 200)
	d := h.Devices[100]
	req := gosnmpRequest(b, gosnmp.Version2c, gosnmp.GetRequest, oids...)
	b.Run("devicesim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if w.handle(d, req) == nil {
				b.Fatal("no answer")
			}
		}
	})
	b.Run("gosnmp", func(b *testing.B) {
		b.ReportAllocs()
		g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
		for b.Loop() {
			p, err := g.SnmpDecodePacket(req)
			if err != nil {
				b.Fatal(err)
			}
			c := &mctx{d: d, now: 1, buf: make([]uint32, 0, 32)}
			v := w.s.views.of(d)
			resp := &gosnmp.SnmpPacket{Version: p.Version, Community: p.Community, PDUType: gosnmp.GetResponse,
				RequestID: p.RequestID, Logger: p.Logger}
			for _, vb := range p.Variables {
				o, _ := parseOIDString(vb.Name)
				val := v.get(c, o)
				pdu := gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.Asn1BER(val.Type)}
				switch val.Type {
				case snmpber.OctetString:
					pdu.Value = val.Str
				case snmpber.ObjectIdentifier:
					pdu.Value = "." + oidString(val.OID)
				default:
					pdu.Value = uint32(val.Int)
				}
				resp.Variables = append(resp.Variables, pdu)
			}
			if _, err := resp.MarshalMsg(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func parseOIDString(s string) ([]uint32, error) { return oid(s), nil }
