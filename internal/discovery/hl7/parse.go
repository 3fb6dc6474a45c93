// Package hl7 reads HL7 v2 messages (2.3 to 2.8), builds their acknowledgements and
// extracts what a device says about itself (IHE PCD): identity, class, location,
// technical alarms. It never keeps patient data: extraction reads only device
// fields, and errors name positions, never content.
package hl7

import (
	"bytes"
	"fmt"
)

// Delimiters are a message's separators, read from MSH-1 and MSH-2. A zero byte means
// the message declared no such separator.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent, Truncation byte
}

// DefaultDelimiters are |^~\& (what replies to unreadable messages use).
var DefaultDelimiters = Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}

// Encoding returns MSH-2 for these delimiters.
func (d Delimiters) Encoding() string {
	b := make([]byte, 0, 5)
	for _, c := range []byte{d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation} {
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// ParseError says where a message is malformed. It never quotes the message.
type ParseError struct {
	Segment int // 1-based segment number, 0 when not about one segment
	Reason  string
}

func (e *ParseError) Error() string {
	if e.Segment > 0 {
		return fmt.Sprintf("hl7: segment %d: %s", e.Segment, e.Reason)
	}
	return "hl7: " + e.Reason
}

type span struct{ start, end int32 }

type segment struct {
	name        [3]byte
	first, nfld int32 // fields[first : first+nfld], index 0 is the name
}

// Message is a parsed message. It refers to the bytes it was parsed from, which must
// not change while it is used. Values are decoded (escapes resolved) only when read.
type Message struct {
	D      Delimiters
	data   []byte
	segs   []segment
	fields []span
}

// Parse parses one message. Segments may end in \r, \n or \r\n.
func Parse(data []byte) (*Message, error) {
	m := &Message{}
	return m, m.Parse(data)
}

// Parse parses data into m, reusing m's storage.
func (m *Message) Parse(data []byte) error {
	m.data, m.segs, m.fields = data, m.segs[:0], m.fields[:0]
	i := 0
	// Tolerate leading line ends, blanks and a UTF-8 byte order mark.
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	for i < len(data) && (data[i] == '\r' || data[i] == '\n' || data[i] == ' ' || data[i] == '\t') {
		i++
	}
	if len(data)-i < 5 || string(data[i:i+3]) != "MSH" {
		return &ParseError{Reason: "message does not start with an MSH segment"}
	}
	fs := data[i+3]
	if !isDelimiter(fs) {
		return &ParseError{Segment: 1, Reason: "MSH-1 field separator is not a valid delimiter"}
	}
	enc := data[i+4:]
	if n := bytes.IndexAny(enc, "\r\n"); n >= 0 {
		enc = enc[:n]
	}
	n := bytes.IndexByte(enc, fs)
	if n < 0 {
		n = len(enc)
	}
	enc = enc[:n]
	if len(enc) < 1 || len(enc) > 5 {
		return &ParseError{Segment: 1, Reason: fmt.Sprintf("MSH-2 has %d encoding characters, want 1 to 5", len(enc))}
	}
	var seen [256]bool
	seen[fs] = true
	for _, c := range enc {
		if !isDelimiter(c) || seen[c] {
			return &ParseError{Segment: 1, Reason: "MSH-2 encoding characters are not distinct delimiters"}
		}
		seen[c] = true
	}
	d := Delimiters{Field: fs}
	for k, p := range []*byte{&d.Component, &d.Repetition, &d.Escape, &d.Subcomponent, &d.Truncation} {
		if k < len(enc) {
			*p = enc[k]
		}
	}
	m.D = d

	for segNo := 1; i < len(data); {
		end := i
		for end < len(data) && data[end] != '\r' && data[end] != '\n' {
			end++
		}
		if end > i {
			if err := m.addSegment(i, end, segNo); err != nil {
				return err
			}
			segNo++
		}
		i = end + 1
	}
	return nil
}

func isDelimiter(c byte) bool {
	return c > ' ' && c < 0x7f && !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z')
}

func (m *Message) addSegment(start, end, segNo int) error {
	line := m.data[start:end]
	if len(line) < 3 || !isSegName(line[:3]) || (len(line) > 3 && line[3] != m.D.Field) {
		return &ParseError{Segment: segNo, Reason: "segment does not start with a three-character name and a field separator"}
	}
	if segNo > 1 && string(line[:3]) == "MSH" {
		return &ParseError{Segment: segNo, Reason: "a second MSH segment (batches are not supported)"}
	}
	s := segment{first: int32(len(m.fields))}
	copy(s.name[:], line[:3])
	m.fields = append(m.fields, span{int32(start), int32(start + 3)})
	pos := start + 3
	if segNo == 1 {
		// MSH-1 is the field separator itself; MSH-2 the encoding characters.
		// The loop below then reads MSH-2 after that same separator.
		m.fields = append(m.fields, span{int32(pos), int32(pos + 1)})
	}
	for pos < end {
		// pos is at a field separator.
		fstart := pos + 1
		j := bytes.IndexByte(m.data[fstart:end], m.D.Field)
		fend := end
		if j >= 0 {
			fend = fstart + j
		}
		m.fields = append(m.fields, span{int32(fstart), int32(fend)})
		pos = fend
	}
	s.nfld = int32(len(m.fields)) - s.first
	m.segs = append(m.segs, s)
	return nil
}

func isSegName(b []byte) bool {
	for i, c := range b {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') || (i == 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Reset forgets the parsed bytes (so a pooled Message does not pin a buffer).
func (m *Message) Reset() { m.data, m.segs, m.fields = nil, m.segs[:0], m.fields[:0] }

// Len returns the number of segments.
func (m *Message) Len() int { return len(m.segs) }

// Segment returns segment i (0-based; 0 is MSH).
func (m *Message) Segment(i int) Segment { return Segment{m: m, i: i} }

// First returns the first segment named name, and whether there is one.
func (m *Message) First(name string) (Segment, bool) {
	for i := range m.segs {
		if string(m.segs[i].name[:]) == name {
			return Segment{m: m, i: i}, true
		}
	}
	return Segment{}, false
}

// Segment is one segment of a message.
type Segment struct {
	m *Message
	i int
}

// Name returns the segment name.
func (s Segment) Name() string { return string(s.m.segs[s.i].name[:]) }

// Is reports whether the segment is named name (without allocating).
func (s Segment) Is(name string) bool { return string(s.m.segs[s.i].name[:]) == name }

// Field returns field n in HL7 numbering (MSH-1 is the field separator, PID-3 is
// the third field after the name); an absent field is empty.
func (s Segment) Field(n int) Value {
	sg := s.m.segs[s.i]
	if n < 1 || int32(n) >= sg.nfld {
		return Value{d: &s.m.D}
	}
	sp := s.m.fields[sg.first+int32(n)]
	v := Value{raw: s.m.data[sp.start:sp.end], d: &s.m.D}
	if s.i == 0 && n <= 2 {
		v.level, v.literal = levelSub, true
	}
	return v
}

// Fields returns the number of fields (the highest field number present).
func (s Segment) Fields() int { return int(s.m.segs[s.i].nfld) - 1 }
