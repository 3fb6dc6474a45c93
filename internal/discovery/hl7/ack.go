package hl7

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Acknowledgement codes (HL7 table 0008).
const (
	AA = "AA" // original mode: accepted
	AE = "AE" // original mode: error
	AR = "AR" // original mode: rejected
	CA = "CA" // enhanced mode: commit accept
	CE = "CE" // enhanced mode: commit error
	CR = "CR" // enhanced mode: commit reject
)

// HL7 error codes (table 0357) this package answers with.
const (
	ErrSegmentSequence    = 100
	ErrRequiredField      = 101
	ErrDataType           = 102
	ErrTableValue         = 103
	ErrUnsupportedType    = 200
	ErrUnsupportedProcID  = 202
	ErrUnsupportedVersion = 203
	ErrInternal           = 207
)

var errorText = map[int]string{
	ErrSegmentSequence: "Segment sequence error", ErrRequiredField: "Required field missing",
	ErrDataType: "Data type error", ErrTableValue: "Table value not found",
	ErrUnsupportedType: "Unsupported message type", ErrUnsupportedProcID: "Unsupported processing id",
	ErrUnsupportedVersion: "Unsupported version id", ErrInternal: "Application internal error",
}

// Problem is why a message is not plainly accepted: an HL7 error code, where, and a
// reason in our own words (never quoting the message).
type Problem struct {
	Code    int
	Segment string // e.g. "MSH"; empty when not about a segment
	Seq     int    // which occurrence of the segment, 1-based
	Field   int
	Reason  string
}

func (p *Problem) Error() string {
	loc := ""
	if p.Segment != "" {
		loc = fmt.Sprintf(" at %s(%d)", p.Segment, max(p.Seq, 1))
		if p.Field > 0 {
			loc += fmt.Sprintf("-%d", p.Field)
		}
	}
	return fmt.Sprintf("HL7 error %d%s: %s", p.Code, loc, p.Reason)
}

// Header is what an acknowledgement needs from MSH, decoded.
type Header struct {
	Type, Trigger string // MSH-9.1, MSH-9.2
	ControlID     string // MSH-10
	ProcessingID  string // MSH-11.1
	Version       string // MSH-12.1
	AcceptAck     string // MSH-15
	AppAck        string // MSH-16
}

// MessageType returns "TYPE^TRIGGER".
func (h *Header) MessageType() string { return h.Type + "^" + h.Trigger }

// Enhanced reports whether the sender asked for enhanced-mode acknowledgements.
func (h *Header) Enhanced() bool { return h.AcceptAck != "" || h.AppAck != "" }

// SupportedVersions are the MSH-12 values this package accepts.
var SupportedVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}

// ReadHeader reads and checks MSH. The header is returned even with a problem, as far
// as it could be read, so the rejection can still be addressed.
func ReadHeader(m *Message) (Header, *Problem) {
	msh := m.Segment(0)
	h := Header{
		Type:         msh.Field(9).Comp(1).String(),
		Trigger:      msh.Field(9).Comp(2).String(),
		ControlID:    msh.Field(10).String(),
		ProcessingID: msh.Field(11).Comp(1).String(),
		Version:      msh.Field(12).Comp(1).String(),
		AcceptAck:    msh.Field(15).String(),
		AppAck:       msh.Field(16).String(),
	}
	req := func(field int, what string) *Problem {
		return &Problem{Code: ErrRequiredField, Segment: "MSH", Seq: 1, Field: field, Reason: "MSH-" + strconv.Itoa(field) + " " + what + " is required"}
	}
	switch {
	case h.Type == "":
		return h, req(9, "message type")
	case h.ControlID == "":
		return h, req(10, "message control id")
	case h.ProcessingID == "":
		return h, req(11, "processing id")
	case h.Version == "":
		return h, req(12, "version id")
	}
	if !isSupportedVersion(h.Version) {
		return h, &Problem{Code: ErrUnsupportedVersion, Segment: "MSH", Seq: 1, Field: 12,
			Reason: "version must be one of " + strings.Join(SupportedVersions, ", ")}
	}
	switch h.ProcessingID {
	case "P", "D", "T":
	default:
		return h, &Problem{Code: ErrUnsupportedProcID, Segment: "MSH", Seq: 1, Field: 11, Reason: "processing id must be P, D or T"}
	}
	for _, f := range []struct {
		n int
		v string
	}{{15, h.AcceptAck}, {16, h.AppAck}} {
		switch f.v {
		case "", "AL", "NE", "ER", "SU":
		default:
			return h, &Problem{Code: ErrTableValue, Segment: "MSH", Seq: 1, Field: f.n, Reason: "acknowledgement type must be AL, NE, ER or SU"}
		}
	}
	return h, nil
}

func isSupportedVersion(v string) bool {
	for _, s := range SupportedVersions {
		if v == s {
			return true
		}
	}
	return false
}

// versionAtLeast compares two supported versions by their place in
// SupportedVersions, which is in ascending order.
func versionAtLeast(v, min string) bool {
	return slices.Index(SupportedVersions, v) >= slices.Index(SupportedVersions, min)
}

// Wanted says whether an acknowledgement of type ackType (MSH-15 or MSH-16 value) is
// to be sent for a result: AL always, NE never, ER on error or reject, SU on success.
func Wanted(ackType string, ok bool) bool {
	switch ackType {
	case "AL":
		return true
	case "ER":
		return !ok
	case "SU":
		return ok
	default:
		return false
	}
}

// AckOptions describe one acknowledgement to build.
type AckOptions struct {
	Code      string    // AA, AE, AR, CA, CE or CR
	Problem   *Problem  // the ERR segment, for anything but AA/CA
	ControlID string    // this acknowledgement's own MSH-10
	Now       time.Time // MSH-7
}

// AppendAck appends an acknowledgement of m to dst: sender and receiver swapped, the
// same delimiters, processing id and version, MSH-9 ACK^<trigger>, MSA-2 = MSH-10.
// m may be nil for a frame that could not be parsed: the answer is then generic.
func AppendAck(dst []byte, m *Message, o AckOptions) []byte {
	d := DefaultDelimiters
	var msh Segment
	version, trigger := "2.5", ""
	if m != nil && m.Len() > 0 {
		d, msh = m.D, m.Segment(0)
		if v := msh.Field(12).Comp(1).String(); isSupportedVersion(v) {
			version = v
		}
		trigger = msh.Field(9).Comp(2).String()
	}
	raw := func(n int) []byte {
		if msh.m == nil {
			return nil
		}
		return msh.Field(n).Raw()
	}
	fs, cs := d.Field, d.Component
	dst = append(dst, "MSH"...)
	dst = append(dst, fs)
	dst = append(dst, d.Encoding()...)
	for _, n := range []int{5, 6, 3, 4} {
		dst = append(dst, fs)
		dst = append(dst, raw(n)...)
	}
	dst = append(dst, fs)
	dst = o.Now.AppendFormat(dst, "20060102150405-0700")
	dst = append(dst, fs, fs)
	dst = append(dst, "ACK"...)
	if trigger != "" {
		dst = append(dst, cs)
		dst = AppendEscaped(dst, trigger, d)
		if versionAtLeast(version, "2.3.1") {
			dst = append(dst, cs)
			dst = append(dst, "ACK"...)
		}
	}
	dst = append(dst, fs)
	dst = AppendEscaped(dst, o.ControlID, d)
	dst = append(dst, fs)
	if p := raw(11); len(p) > 0 && m != nil {
		dst = append(dst, p...)
	} else {
		dst = append(dst, 'P')
	}
	dst = append(dst, fs)
	if p := raw(12); len(p) > 0 && m != nil {
		dst = append(dst, p...)
	} else {
		dst = append(dst, version...)
	}
	if len(o.Code) == 2 && o.Code[0] == 'C' {
		// An enhanced-mode acknowledgement asks for none in return.
		dst = append(dst, fs, fs, fs)
		dst = append(dst, "NE"...)
		dst = append(dst, fs)
		dst = append(dst, "NE"...)
	}
	dst = append(dst, '\r')

	dst = append(dst, "MSA"...)
	dst = append(dst, fs)
	dst = append(dst, o.Code...)
	dst = append(dst, fs)
	dst = append(dst, raw(10)...)
	p := o.Problem
	old := !versionAtLeast(version, "2.5")
	if p != nil && old {
		dst = append(dst, fs)
		dst = AppendEscaped(dst, p.Reason, d)
	}
	dst = append(dst, '\r')
	if p == nil {
		return dst
	}
	text := errorText[p.Code]
	dst = append(dst, "ERR"...)
	dst = append(dst, fs)
	if old {
		// ERR-1 (ELD): segment^sequence^field^code&text&HL70357
		dst = appendLocation(dst, p, d)
		dst = append(dst, cs)
		dst = strconv.AppendInt(dst, int64(p.Code), 10)
		dst = append(dst, d.Subcomponent)
		dst = AppendEscaped(dst, text, d)
		dst = append(dst, d.Subcomponent)
		dst = append(dst, "HL70357"...)
		return append(dst, '\r')
	}
	// ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message.
	dst = append(dst, fs)
	if p.Segment != "" {
		dst = appendLocation(dst, p, d)
	}
	dst = append(dst, fs)
	dst = strconv.AppendInt(dst, int64(p.Code), 10)
	dst = append(dst, cs)
	dst = AppendEscaped(dst, text, d)
	dst = append(dst, cs)
	dst = append(dst, "HL70357"...)
	dst = append(dst, fs, 'E', fs, fs, fs, fs)
	dst = AppendEscaped(dst, p.Reason, d)
	return append(dst, '\r')
}

func appendLocation(dst []byte, p *Problem, d Delimiters) []byte {
	if p.Segment == "" {
		return append(dst, d.Component, d.Component)
	}
	dst = append(dst, p.Segment...)
	dst = append(dst, d.Component)
	dst = strconv.AppendInt(dst, int64(max(p.Seq, 1)), 10)
	dst = append(dst, d.Component)
	if p.Field > 0 {
		dst = strconv.AppendInt(dst, int64(p.Field), 10)
	}
	return dst
}

// Ack is an acknowledgement as a client reads it.
type Ack struct {
	Code      string // MSA-1
	ControlID string // MSA-2: the acknowledged message's MSH-10
	Type      string // MSH-9 as TYPE^TRIGGER
	ErrorCode int    // ERR-3.1 (2.5+) or ERR-1.4.1 (older), 0 when absent
	Reason    string // ERR-8 or MSA-3
}

// ReadAck parses an acknowledgement (for senders: the simulator and tests).
func ReadAck(b []byte) (Ack, error) {
	m, err := Parse(b)
	if err != nil {
		return Ack{}, err
	}
	msa, ok := m.First("MSA")
	if !ok {
		return Ack{}, &ParseError{Reason: "acknowledgement has no MSA segment"}
	}
	msh := m.Segment(0)
	a := Ack{
		Code: msa.Field(1).String(), ControlID: msa.Field(2).String(),
		Type:   msh.Field(9).Comp(1).String() + "^" + msh.Field(9).Comp(2).String(),
		Reason: msa.Field(3).String(),
	}
	if e, ok := m.First("ERR"); ok {
		if c := e.Field(3).Comp(1).String(); c != "" {
			a.ErrorCode, _ = strconv.Atoi(c)
		} else {
			a.ErrorCode, _ = strconv.Atoi(e.Field(1).Comp(4).Sub(1).String())
		}
		if r := e.Field(8).String(); r != "" {
			a.Reason = r
		}
	}
	return a, nil
}
