package hl7

import (
	"strings"
	"testing"
	"time"
)

var ackTime = time.Date(2024, 1, 1, 12, 0, 1, 0, time.FixedZone("", 3600))

func TestReadHeaderProblems(t *testing.T) {
	tests := []struct {
		msh   string
		code  int
		field int
	}{
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.6`, 0, 0},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.3`, 0, 0},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.8.2`, 0, 0},
		{`MSH|^~\&|A|B|C|D|20240101|||1|P|2.6`, ErrRequiredField, 9},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01||P|2.6`, ErrRequiredField, 10},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1||2.6`, ErrRequiredField, 11},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P`, ErrRequiredField, 12},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.2`, ErrUnsupportedVersion, 12},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.9`, ErrUnsupportedVersion, 12},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|X|2.5`, ErrUnsupportedProcID, 11},
		{`MSH|^~\&|A|B|C|D|20240101||ORU^R01|1|P|2.5|||XX|NE`, ErrTableValue, 15},
	}
	for _, tc := range tests {
		m := mustParse(t, []byte(tc.msh+"\r"))
		_, p := ReadHeader(m)
		switch {
		case tc.code == 0 && p != nil:
			t.Errorf("%s: unexpected problem %v", tc.msh, p)
		case tc.code != 0 && (p == nil || p.Code != tc.code || p.Field != tc.field):
			t.Errorf("%s: problem %v, want code %d at MSH-%d", tc.msh, p, tc.code, tc.field)
		}
	}
}

func TestAppendAckOriginalMode(t *testing.T) {
	m := mustParse(t, pumpPCD01)
	ack := string(AppendAck(nil, m, AckOptions{Code: AA, ControlID: "K1", Now: ackTime}))
	segs := strings.Split(strings.TrimSuffix(ack, "\r"), "\r")
	want := []string{
		`MSH|^~\&|DOC|HOSP|PUMP01^0012A1FFFE001234^EUI-64|WARD3|20240101120001+0100||ACK^R01^ACK|K1|P|2.6`,
		`MSA|AA|MSG0001`,
	}
	if strings.Join(segs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ack:\n%s\nwant:\n%s", strings.Join(segs, "\n"), strings.Join(want, "\n"))
	}
}

func TestAppendAckErrorSegmentByVersion(t *testing.T) {
	p := &Problem{Code: ErrDataType, Segment: "OBX", Seq: 3, Field: 18, Reason: "OBX-18 is not an EUI-64"}
	// 2.5 and later: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text.
	m := mustParse(t, []byte("MSH|^~\\&|A|B|C|D|20240101||ORU^R01|77|P|2.5.1\r"))
	ack := string(AppendAck(nil, m, AckOptions{Code: AE, Problem: p, ControlID: "K2", Now: ackTime}))
	if !strings.Contains(ack, "\rMSA|AE|77\rERR||OBX^3^18|102^Data type error^HL70357|E||||OBX-18 is not an EUI-64\r") {
		t.Fatalf("2.5.1 ack:\n%q", ack)
	}
	// Before 2.5: MSA-3 text and ERR-1 as segment^sequence^field^code&text&table.
	m = mustParse(t, []byte("MSH|^~\\&|A|B|C|D|20240101||ORU^R01|78|P|2.3\r"))
	ack = string(AppendAck(nil, m, AckOptions{Code: AR, Problem: p, ControlID: "K3", Now: ackTime}))
	if !strings.Contains(ack, "||ACK^R01|K3|P|2.3\r") || !strings.Contains(ack, "\rMSA|AR|78|OBX-18 is not an EUI-64\rERR|OBX^3^18^102&Data type error&HL70357\r") {
		t.Fatalf("2.3 ack:\n%q", ack)
	}
	a, err := ReadAck([]byte(ack))
	if err != nil || a.Code != AR || a.ControlID != "78" || a.ErrorCode != ErrDataType || a.Type != "ACK^R01" {
		t.Fatalf("ReadAck = %+v, %v", a, err)
	}
}

func TestAppendAckEnhancedAndCustomDelimiters(t *testing.T) {
	m := mustParse(t, []byte("MSH#!$/%#APP!X#F#R#G#20240101##ORU!R01#7/F/8#P#2.6###AL#NE\r"))
	ack := string(AppendAck(nil, m, AckOptions{Code: CA, ControlID: "K|4", Now: ackTime}))
	want := "MSH#!$/%#R#G#APP!X#F#20240101120001+0100##ACK!R01!ACK#K|4#P#2.6###NE#NE\rMSA#CA#7/F/8\r"
	if ack != want {
		t.Fatalf("ack\n%q\nwant\n%q", ack, want)
	}
	a, err := ReadAck([]byte(ack))
	if err != nil || a.ControlID != "7#8" {
		t.Fatalf("ReadAck = %+v, %v", a, err)
	}
}

func TestAppendAckUnparseable(t *testing.T) {
	ack := AppendAck(nil, nil, AckOptions{Code: AR, ControlID: "K5", Now: ackTime,
		Problem: &Problem{Code: ErrSegmentSequence, Reason: "message does not start with an MSH segment"}})
	a, err := ReadAck(ack)
	if err != nil || a.Code != AR || a.ControlID != "" || a.ErrorCode != ErrSegmentSequence || a.Type != "ACK^" {
		t.Fatalf("ack %q read as %+v, %v", ack, a, err)
	}
}

func TestWanted(t *testing.T) {
	for _, c := range []struct {
		typ    string
		ok, be bool
	}{{"AL", true, true}, {"AL", false, true}, {"NE", true, false}, {"NE", false, false},
		{"ER", true, false}, {"ER", false, true}, {"SU", true, true}, {"SU", false, false}, {"", true, false}} {
		if got := Wanted(c.typ, c.ok); got != c.be {
			t.Errorf("Wanted(%q, %v) = %v", c.typ, c.ok, got)
		}
	}
}
