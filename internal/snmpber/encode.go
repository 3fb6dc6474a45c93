package snmpber

// AppendLength appends a definite length.
func AppendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// AppendTLV appends one element with its contents.
func AppendTLV(b []byte, tag byte, content []byte) []byte {
	b = append(b, tag)
	b = AppendLength(b, len(content))
	return append(b, content...)
}

// AppendInt appends a signed INTEGER-like element in minimal two's complement.
func AppendInt(b []byte, tag byte, v int64) []byte {
	k := 1
	for x := v; x > 127 || x < -128; x >>= 8 {
		k++
	}
	b = append(b, tag, byte(k))
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// AppendUint appends an unsigned value (Counter32, Gauge32, TimeTicks, Counter64),
// with a leading zero octet when the top bit would read as a sign.
func AppendUint(b []byte, tag byte, v uint64) []byte {
	k := 1
	for x := v >> 8; x > 0; x >>= 8 {
		k++
	}
	pad := v>>(8*k-1)&1 == 1
	n := k
	if pad {
		n++
	}
	b = append(b, tag, byte(n))
	if pad {
		b = append(b, 0)
	}
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// Encoder appends BER to a buffer the caller reuses (B). Constructed elements are
// opened with Begin and closed with End, which fixes the length in place, so a
// message is written front to back in one pass.
type Encoder struct {
	B []byte
}

// Reset empties the buffer, keeping its memory.
func (e *Encoder) Reset() { e.B = e.B[:0] }

// Begin opens a constructed element and returns the offset of its contents.
func (e *Encoder) Begin(tag byte) int {
	e.B = append(e.B, tag, 0)
	return len(e.B)
}

// End closes the element opened at start, moving its contents right when the length
// needs the long form.
func (e *Encoder) End(start int) {
	n := len(e.B) - start
	if n < 0x80 {
		e.B[start-1] = byte(n)
		return
	}
	k := 1
	for x := n >> 8; x > 0; x >>= 8 {
		k++
	}
	e.B = append(e.B, make([]byte, k)...)
	copy(e.B[start+k:], e.B[start:start+n])
	e.B[start-1] = 0x80 | byte(k)
	for i := k - 1; i >= 0; i-- {
		e.B[start+i] = byte(n)
		n >>= 8
	}
}

// Int appends a signed INTEGER-like element.
func (e *Encoder) Int(tag byte, v int64) { e.B = AppendInt(e.B, tag, v) }

// Uint appends an unsigned element (Counter32, Gauge32, TimeTicks, Counter64).
func (e *Encoder) Uint(tag byte, v uint64) { e.B = AppendUint(e.B, tag, v) }

// Bytes appends a primitive element with contents v.
func (e *Encoder) Bytes(tag byte, v []byte) { e.B = AppendTLV(e.B, tag, v) }

// String appends a primitive element with contents v.
func (e *Encoder) String(tag byte, v string) {
	e.B = append(e.B, tag)
	e.B = AppendLength(e.B, len(v))
	e.B = append(e.B, v...)
}

// Null appends an element without contents (NULL, or a v2c exception).
func (e *Encoder) Null(tag byte) { e.B = append(e.B, tag, 0) }

// OID appends an OBJECT IDENTIFIER made of the concatenation of parts.
func (e *Encoder) OID(parts ...[]uint32) {
	start := e.Begin(ObjectIdentifier)
	e.B = AppendOID(e.B, parts...)
	e.End(start)
}
