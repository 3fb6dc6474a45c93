package hl7

import (
	"bytes"
	"encoding/hex"
)

// Levels of a Value: a whole field, one repetition, one component, one sub-component.
const (
	levelField = iota
	levelRep
	levelComp
	levelSub
)

// Value is a field, repetition, component or sub-component of a message, still
// encoded. Numbering is 1-based throughout, as in HL7 (PID-3.1).
type Value struct {
	raw     []byte
	d       *Delimiters
	level   int
	literal bool // MSH-1 and MSH-2: never split nor unescaped
}

// Raw returns the encoded bytes (escape sequences unresolved). They belong to the
// message.
func (v Value) Raw() []byte { return v.raw }

// IsEmpty reports whether the value is absent or the explicit HL7 null "".
func (v Value) IsEmpty() bool { return len(v.raw) == 0 || string(v.raw) == `""` }

// Rep returns repetition i of a field.
func (v Value) Rep(i int) Value {
	if v.literal || v.level > levelField {
		return v.only(i, levelRep)
	}
	return v.split(v.d.Repetition, i, levelRep)
}

// Reps returns the number of repetitions of a field (0 when empty).
func (v Value) Reps() int {
	if len(v.raw) == 0 {
		return 0
	}
	if v.literal || v.level > levelField || v.d.Repetition == 0 {
		return 1
	}
	return bytes.Count(v.raw, []byte{v.d.Repetition}) + 1
}

// EachRep calls f with every repetition of a field in order, until f returns false.
// Unlike Rep(i) in a loop it is linear in the field's length, whatever a sender puts
// in it.
func (v Value) EachRep(f func(Value) bool) {
	if len(v.raw) == 0 {
		return
	}
	if v.literal || v.level > levelField || v.d.Repetition == 0 {
		f(v.only(1, levelRep))
		return
	}
	raw := v.raw
	for {
		j := bytes.IndexByte(raw, v.d.Repetition)
		part := raw
		if j >= 0 {
			part = raw[:j]
		}
		if !f(Value{raw: part, d: v.d, level: levelRep}) || j < 0 {
			return
		}
		raw = raw[j+1:]
	}
}

// Comp returns component i (of the first repetition when v is a whole field).
func (v Value) Comp(i int) Value {
	if v.level == levelField && !v.literal {
		v = v.Rep(1)
	}
	if v.literal || v.level > levelRep {
		return v.only(i, levelComp)
	}
	return v.split(v.d.Component, i, levelComp)
}

// Sub returns sub-component i (of the first component when v is not one).
func (v Value) Sub(i int) Value {
	if v.level < levelComp && !v.literal {
		v = v.Comp(1)
	}
	if v.literal || v.level > levelComp {
		return v.only(i, levelSub)
	}
	return v.split(v.d.Subcomponent, i, levelSub)
}

// only treats v as having a single part at the next level.
func (v Value) only(i, level int) Value {
	if i != 1 {
		return Value{d: v.d, level: level}
	}
	v.level = max(v.level, level)
	return v
}

func (v Value) split(sep byte, i, level int) Value {
	out := Value{d: v.d, level: level}
	if i < 1 {
		return out
	}
	raw := v.raw
	if sep == 0 {
		if i == 1 {
			out.raw = raw
		}
		return out
	}
	for k := 1; ; k++ {
		j := bytes.IndexByte(raw, sep)
		if k == i {
			if j >= 0 {
				raw = raw[:j]
			}
			out.raw = raw
			return out
		}
		if j < 0 {
			return out
		}
		raw = raw[j+1:]
	}
}

// String returns the value with escape sequences resolved. An explicit null ("")
// reads as empty.
func (v Value) String() string {
	if v.IsEmpty() {
		return ""
	}
	if v.literal {
		return string(v.raw)
	}
	return unescape(v.raw, v.d)
}

// Equal reports whether the decoded value is s, without allocating in the common
// case of a value without escapes.
func (v Value) Equal(s string) bool {
	if v.d.Escape == 0 || bytes.IndexByte(v.raw, v.d.Escape) < 0 {
		return string(v.raw) == s
	}
	return v.String() == s
}

// unescape resolves \F\ \S\ \T\ \R\ \E\ \P\ and \Xhh..\; formatting escapes (\H\,
// \N\) are dropped and anything else is kept as written.
func unescape(raw []byte, d *Delimiters) string {
	esc := d.Escape
	if esc == 0 || bytes.IndexByte(raw, esc) < 0 {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != esc {
			out = append(out, c)
			i++
			continue
		}
		j := bytes.IndexByte(raw[i+1:], esc)
		if j < 0 {
			out = append(out, raw[i:]...)
			break
		}
		seq := raw[i+1 : i+1+j]
		whole := raw[i : i+j+2]
		i += j + 2
		if len(seq) == 1 {
			var r byte
			switch seq[0] {
			case 'F':
				r = d.Field
			case 'S':
				r = d.Component
			case 'T':
				r = d.Subcomponent
			case 'R':
				r = d.Repetition
			case 'E':
				r = d.Escape
			case 'P':
				r = d.Truncation
			case 'H', 'N':
				continue
			}
			if r != 0 {
				out = append(out, r)
				continue
			}
		}
		if len(seq) > 1 && seq[0] == 'X' && len(seq)%2 == 1 {
			if b, err := hex.DecodeString(string(seq[1:])); err == nil {
				out = append(out, b...)
				continue
			}
		}
		out = append(out, whole...)
	}
	return string(out)
}

// AppendEscaped appends s to dst with every delimiter of d escaped, so that text of
// our own can be placed in a field.
func AppendEscaped(dst []byte, s string, d Delimiters) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		var code byte
		switch {
		case c == 0:
		case c == d.Field:
			code = 'F'
		case c == d.Component:
			code = 'S'
		case c == d.Subcomponent:
			code = 'T'
		case c == d.Repetition:
			code = 'R'
		case c == d.Escape:
			code = 'E'
		case c == d.Truncation:
			code = 'P'
		case c == '\r' || c == '\n':
			dst = append(dst, ' ')
			continue
		}
		if code != 0 && d.Escape != 0 {
			dst = append(dst, d.Escape, code, d.Escape)
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
