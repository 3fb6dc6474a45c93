package hl7

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t testing.TB, b []byte) *Message {
	t.Helper()
	m, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseFieldsComponentsRepetitions(t *testing.T) {
	m := mustParse(t, []byte("MSH|^~\\&|APP^0012A1FFFE001234^EUI-64|FAC|||20240101||ORU^R01^ORU_R01|42|P|2.5\r"+
		"PID|1||ID1^^^A~ID2^^^B||DOE^JOHN&J^Q\r"+
		"OBX|1|ST|code^name|1.0|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\r"))
	if m.Len() != 3 {
		t.Fatalf("%d segments, want 3", m.Len())
	}
	msh := m.Segment(0)
	checks := []struct {
		got, want string
	}{
		{msh.Field(1).String(), "|"},
		{msh.Field(2).String(), "^~\\&"},
		{msh.Field(3).Comp(1).String(), "APP"},
		{msh.Field(3).Comp(3).String(), "EUI-64"},
		{msh.Field(9).Comp(2).String(), "R01"},
		{msh.Field(10).String(), "42"},
		{msh.Field(40).String(), ""},
		{m.Segment(1).Field(3).Rep(2).Comp(1).String(), "ID2"},
		{m.Segment(1).Field(3).Rep(2).Comp(4).String(), "B"},
		{m.Segment(1).Field(3).Comp(1).String(), "ID1"},
		{m.Segment(1).Field(5).Comp(2).Sub(2).String(), "J"},
		{m.Segment(1).Field(5).Comp(2).Sub(1).String(), "JOHN"},
		{m.Segment(1).Field(5).Sub(1).String(), "DOE"},
		{m.Segment(2).Field(5).String(), "a|b^c&d~e\\f"},
		{m.Segment(2).Name(), "OBX"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	if n := m.Segment(1).Field(3).Reps(); n != 2 {
		t.Errorf("PID-3 repetitions = %d, want 2", n)
	}
}

func TestParseCustomDelimiters(t *testing.T) {
	// Field separator #, component !, repetition $, escape /, subcomponent %.
	m := mustParse(t, []byte("MSH#!$/%#APP!X#F#####ADT!A01#7#P#2.5\nPID#1##A!B%C$D##x/F/y/S/z\n"))
	if got := m.Segment(0).Field(9).Comp(2).String(); got != "A01" {
		t.Errorf("MSH-9.2 = %q", got)
	}
	pid := m.Segment(1)
	if got := pid.Field(3).Comp(2).Sub(2).String(); got != "C" {
		t.Errorf("PID-3.2.2 = %q, want C", got)
	}
	if got := pid.Field(3).Rep(2).String(); got != "D" {
		t.Errorf("PID-3 rep 2 = %q, want D", got)
	}
	if got := pid.Field(5).String(); got != "x#y!z" {
		t.Errorf("escaped PID-5 = %q, want x#y!z", got)
	}
	if m.D.Encoding() != "!$/%" {
		t.Errorf("encoding %q", m.D.Encoding())
	}
}

func TestParseSegmentTerminators(t *testing.T) {
	for name, sep := range map[string]string{"CR": "\r", "LF": "\n", "CRLF": "\r\n"} {
		t.Run(name, func(t *testing.T) {
			b := strings.Join([]string{"MSH|^~\\&|A||||||ADT^A01|1|P|2.5", "EVN|A01", "PID|1"}, sep) + sep + sep
			m := mustParse(t, []byte("\r\n"+b))
			if m.Len() != 3 || m.Segment(2).Name() != "PID" {
				t.Fatalf("%d segments", m.Len())
			}
		})
	}
}

func TestParseEscapes(t *testing.T) {
	d := DefaultDelimiters
	d.Truncation = '#'
	cases := map[string]string{
		`plain`:           "plain",
		`\F\\S\\T\\R\\E\`: "|^&~\\",
		`\X414243\`:       "ABC",
		`\H\bold\N\`:      "bold",
		`\P\`:             "#",
		`\Zcustom\`:       `\Zcustom\`,
		`\X4\`:            `\X4\`,
		`unterminated\F`:  `unterminated\F`,
		`""`:              "",
	}
	for in, want := range cases {
		v := Value{raw: []byte(in), d: &d, level: levelSub}
		if got := v.String(); got != want {
			t.Errorf("%q decodes to %q, want %q", in, got, want)
		}
	}
	if got := string(AppendEscaped(nil, "a|b^c&d~e\\f\rg", DefaultDelimiters)); got != `a\F\b\S\c\T\d\R\e\E\f g` {
		t.Errorf("AppendEscaped = %q", got)
	}
}

func TestParseErrorsNameNoContent(t *testing.T) {
	bad := map[string]string{
		"empty":              "",
		"not hl7":            "GET / HTTP/1.1\r\n",
		"no MSH":             "PID|1|" + phiMRN + "\r",
		"bad field sep":      "MSHA^~\\&|x\r",
		"duplicate encoding": "MSH|^^\\&|x\r",
		"too many encoding":  "MSH|^~\\&#!|x\r",
		"bad segment name":   "MSH|^~\\&|A\r" + phiName + "|1\r",
		"second MSH":         "MSH|^~\\&|A\rMSH|^~\\&|B\r",
		"lowercase name":     "MSH|^~\\&|A\rpid|" + phiMRN + "\r",
	}
	for name, in := range bad {
		_, err := Parse([]byte(in))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: error %v, want a ParseError", name, err)
			continue
		}
		for _, phi := range phiStrings {
			if strings.Contains(err.Error(), phi) {
				t.Errorf("%s: error %q quotes the message", name, err)
			}
		}
	}
}

func TestParseReuse(t *testing.T) {
	var m Message
	if err := m.Parse(pumpPCD01); err != nil {
		t.Fatal(err)
	}
	if err := m.Parse(nmdHeartbeat); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || !m.Segment(0).Field(9).Comp(1).Equal("NMD") {
		t.Fatalf("reused message: %d segments, type %q", m.Len(), m.Segment(0).Field(9).String())
	}
}

// FuzzParse checks that no input panics the parser or its accessors, that errors
// never quote the input, and that a parsed message can always be acknowledged.
func FuzzParse(f *testing.F) {
	for _, b := range [][]byte{pumpPCD01, gatewayPCD01, alarmPCD04("start", "ST"), nmdHeartbeat, adtA01,
		[]byte("MSH#!$/%#APP!X#F#####ADT!A01#7#P#2.5\nPID#1##A!B%C$D##x/F/y/S/z\n"), []byte(`MSH|^~\&|\X41\|`)} {
		f.Add(b)
	}
	files, _ := filepath.Glob("testdata/*.hl7")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Parse(in)
		if err != nil {
			if strings.Contains(err.Error(), "\r") {
				t.Fatalf("error %q carries message bytes", err)
			}
			return
		}
		for i := range m.Len() {
			s := m.Segment(i)
			for n := 0; n <= s.Fields()+1; n++ {
				v := s.Field(n)
				_ = v.String()
				reps := 0
				v.EachRep(func(r Value) bool {
					reps++
					c := r.Comp(2)
					_ = c.Sub(2).String()
					_ = c.Equal("x")
					return reps < 20
				})
				if reps < 20 && reps != v.Reps() {
					t.Fatalf("EachRep saw %d repetitions, Reps() says %d", reps, v.Reps())
				}
				_ = v.Rep(reps + 1).Comp(3)
			}
		}
		h, _ := ReadHeader(m)
		rep := Extract(m, h)
		ack := AppendAck(nil, m, AckOptions{Code: AE, Problem: &Problem{Code: ErrDataType, Segment: "OBX", Reason: "x"}, ControlID: "A1"})
		a, err := ReadAck(ack)
		if err != nil {
			t.Fatalf("our acknowledgement does not parse: %v\n%q", err, ack)
		}
		if a.Code != AE {
			t.Fatalf("ack code %q", a.Code)
		}
		if want := m.Segment(0).Field(10).String(); a.ControlID != want {
			t.Fatalf("MSA-2 %q, want MSH-10 %q", a.ControlID, want)
		}
		_ = rep
	})
}
