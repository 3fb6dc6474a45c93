// Package mllp owns the Minimal Lower Layer Protocol: the 0x0B … 0x1C 0x0D framing HL7 v2
// travels in over TCP, a server for many persistent connections and a small client.
// It knows nothing about HL7 itself: frames are opaque bytes.
package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Framing bytes.
const (
	StartBlock     = 0x0B // VT
	EndBlock       = 0x1C // FS
	CarriageReturn = 0x0D // CR
)

// ErrFrameTooLarge is returned by ReadFrame for a frame longer than the limit. The
// returned bytes are then the frame's beginning only (enough to read an HL7 header
// and answer); the rest of the frame is skipped by the next call.
var ErrFrameTooLarge = errors.New("mllp: frame exceeds the maximum size")

// ErrOverBudget is returned by ReadFrame when the Reader's Allocator refused memory
// for the frame in progress. That frame is lost (the next call skips its rest); a
// server closes the connection so the sender retries later.
var ErrOverBudget = errors.New("mllp: no memory left for partial frames")

// Allocator grants the memory a Reader holds beyond its read buffer: a frame larger
// than the buffer is copied into memory granted here, a step at a time as its bytes
// arrive, so a sender that stops half-way holds only what it sent.
type Allocator interface {
	// Grow asks for n more bytes; false refuses them.
	Grow(n int) bool
	// Free gives back n bytes.
	Free(n int)
}

// headKeep is how much of an oversized frame is kept so that its header can be read.
const headKeep = 4096

// Reader reads MLLP frames from a stream. Bytes outside frames (junk, keep-alive
// noise, a partial frame interrupted by a new start block) are skipped and counted.
// A missing CR after the end block is tolerated.
type Reader struct {
	br  *bufio.Reader
	max int
	buf []byte

	skipping bool // inside an oversized frame: discard up to its end block
	wantCR   bool // an end block was just read: a following CR belongs to it
	inFrame  bool // a start block was read and its frame is not complete yet
	starts   uint64

	alloc Allocator // nil: unlimited
	held  int       // bytes granted by alloc: cap(buf)

	// Junk counts bytes skipped outside frames; Discarded counts bytes of oversized
	// frames that were dropped.
	Junk      int64
	Discarded int64
}

// NewReader returns a Reader of frames up to max bytes of content (max <= 0: 1 MiB).
// size is the read buffer size (<= 0: 4 KiB); frames that fit in it are returned
// without copying.
func NewReader(r io.Reader, max, size int) *Reader {
	if max <= 0 {
		max = 1 << 20
	}
	if size <= 0 {
		size = 4096
	}
	return &Reader{br: bufio.NewReaderSize(r, size), max: max}
}

// SetAllocator makes the Reader ask a for the memory of frames larger than its read
// buffer. Call it before the first ReadFrame.
func (r *Reader) SetAllocator(a Allocator) { r.alloc = a }

// InFrame reports whether the Reader is inside a frame: its start block was read and
// its end was not (a frame being skipped counts). A server uses it to tell a frame that
// is too slow from a connection that is merely idle.
func (r *Reader) InFrame() bool { return r.inFrame || r.skipping }

// Held returns the bytes the Reader holds beyond its read buffer.
func (r *Reader) Held() int { return cap(r.buf) }

// Release gives back the memory held beyond the read buffer. ReadFrame does it by
// itself before waiting for a frame; a server calls it when a connection ends.
func (r *Reader) Release() {
	if r.alloc != nil && r.held > 0 {
		r.alloc.Free(r.held)
	}
	r.buf, r.held = nil, 0
}

// grow makes room for n more bytes in buf. Capacity doubles (as append would) but never
// beyond the maximum frame size, and every new byte of capacity is asked of the
// allocator first.
func (r *Reader) grow(n int) error {
	need := len(r.buf) + n
	if need <= cap(r.buf) {
		return nil
	}
	c := max(need, min(max(2*cap(r.buf), 4096), r.max))
	if r.alloc != nil && !r.alloc.Grow(c-r.held) {
		return ErrOverBudget
	}
	nb := make([]byte, len(r.buf), c)
	copy(nb, r.buf)
	r.buf, r.held = nb, c
	return nil
}

// Buffered reports whether a complete or partial next frame is already buffered, so a
// caller answering pipelined requests can delay flushing its replies.
func (r *Reader) Buffered() bool {
	r.eatCR()
	return r.br.Buffered() > 0
}

// eatCR consumes the CR that follows an end block if it has arrived.
func (r *Reader) eatCR() {
	if !r.wantCR || r.br.Buffered() == 0 {
		return
	}
	r.wantCR = false
	if b, _ := r.br.Peek(1); len(b) == 1 && b[0] == CarriageReturn {
		r.br.Discard(1)
	}
}

// ReadFrame returns the content of the next frame. The slice is valid until the next
// call. io.EOF means the stream ended cleanly between frames; io.ErrUnexpectedEOF
// that it ended inside one.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.br.Buffered() == 0 {
		// Nothing of the next frame has arrived: hold no memory while waiting (here
		// for the CR after the last end block, below for the next start block).
		r.Release()
	}
	if r.wantCR {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err
		}
		r.wantCR = false
		if b[0] == CarriageReturn {
			r.br.Discard(1)
		}
	}
	if r.skipping {
		if err := r.skipOversized(); err != nil {
			return nil, err
		}
	}
	if r.br.Buffered() == 0 {
		r.Release()
	}
	// Find the start block.
	r.inFrame = false
	for {
		line, err := r.br.ReadSlice(StartBlock)
		if err == nil {
			r.Junk += int64(len(line) - 1)
			r.inFrame = true
			r.starts++
			break
		}
		r.Junk += int64(len(line))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return nil, err
	}
	// Read up to the end block. The common case is a frame wholly in the buffer:
	// return it in place. A large frame's buffer is not kept for the next one.
	if cap(r.buf) > 64<<10 {
		r.Release()
	}
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		done := err == nil
		if done {
			chunk = chunk[:len(chunk)-1]
		}
		// A start block inside a frame means the sender gave up on the previous
		// frame and began again: what came before is junk.
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			r.Junk += int64(len(r.buf) + i + 1)
			r.buf = r.buf[:0]
			chunk = chunk[i+1:]
		}
		if len(r.buf)+len(chunk) > r.max {
			keep := min(headKeep, r.max)
			var err error
			if len(r.buf) < keep {
				head := chunk[:min(len(chunk), keep-len(r.buf))]
				if err = r.grow(len(head)); err == nil {
					r.buf = append(r.buf, head...)
				}
			}
			r.Discarded += int64(len(chunk))
			r.inFrame = false
			if done {
				r.wantCR = true
			} else {
				r.skipping = true
			}
			if err != nil {
				r.Release()
				return nil, err
			}
			return r.buf[:min(len(r.buf), keep)], ErrFrameTooLarge
		}
		if done {
			r.wantCR = true
			r.inFrame = false
			if len(r.buf) == 0 {
				return chunk, nil
			}
		}
		if err := r.grow(len(chunk)); err != nil {
			// The frame is lost: skip its rest as if it were too large.
			r.Discarded += int64(len(r.buf) + len(chunk))
			r.Release()
			r.inFrame = false
			if !done {
				r.skipping = true
			}
			return nil, err
		}
		r.buf = append(r.buf, chunk...)
		if done {
			return r.buf, nil
		}
	}
}

// skipOversized discards the rest of an oversized frame, up to its end block. A new
// start block ends it early (the sender gave up on it) and is left for the next frame.
func (r *Reader) skipOversized() error {
	for {
		n := r.br.Buffered()
		if n == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return err
			}
			n = r.br.Buffered()
		}
		b, _ := r.br.Peek(n)
		i := bytes.IndexAny(b, "\x0b\x1c")
		switch {
		case i < 0:
			r.br.Discard(n)
			r.Discarded += int64(n)
			continue
		case b[i] == EndBlock:
			r.br.Discard(i + 1)
			r.wantCR = true
		default:
			r.br.Discard(i)
		}
		r.Discarded += int64(i)
		r.skipping = false
		return nil
	}
}

// AppendFrame appends msg framed for MLLP to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = append(dst, StartBlock)
	dst = append(dst, msg...)
	return append(dst, EndBlock, CarriageReturn)
}

// WriteFrame writes msg as one frame.
func WriteFrame(w io.Writer, msg []byte) error {
	if bytes.IndexByte(msg, EndBlock) >= 0 || bytes.IndexByte(msg, StartBlock) >= 0 {
		return fmt.Errorf("mllp: message contains a framing byte")
	}
	_, err := w.Write(AppendFrame(make([]byte, 0, len(msg)+3), msg))
	return err
}
