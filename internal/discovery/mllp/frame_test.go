package mllp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

func readAll(t *testing.T, r *Reader) (frames []string, tooLarge []string, err error) {
	t.Helper()
	for {
		f, err := r.ReadFrame()
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			tooLarge = append(tooLarge, string(f))
		case err != nil:
			return frames, tooLarge, err
		default:
			frames = append(frames, string(f))
		}
	}
}

func TestReaderFrames(t *testing.T) {
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name      string
		in        string
		max, size int
		want      []string
		tooLarge  int
		junk      int64
		end       error
	}{
		{name: "one", in: frame("MSH|a"), want: []string{"MSH|a"}, end: io.EOF},
		{name: "several", in: frame("a") + frame("b") + frame("c"), want: []string{"a", "b", "c"}, end: io.EOF},
		{name: "junk between frames", in: "xx\r\n" + frame("a") + "\r\n\x00junk" + frame("b") + "tail",
			want: []string{"a", "b"}, junk: 4 + 7 + 4, end: io.EOF},
		{name: "missing CR after end block", in: "\x0ba\x1c\x0bb\x1c", want: []string{"a", "b"}, end: io.EOF},
		{name: "restart inside frame", in: "\x0bpartial\x0bwhole\x1c\r", want: []string{"whole"}, junk: 8, end: io.EOF},
		{name: "empty frame", in: frame("") + frame("a"), want: []string{"", "a"}, end: io.EOF},
		{name: "ends inside frame", in: frame("a") + "\x0bcut", want: []string{"a"}, end: io.ErrUnexpectedEOF},
		{name: "larger than buffer", in: frame(big) + frame("b"), size: 16, want: []string{big, "b"}, end: io.EOF},
		{name: "too large then fine", in: frame(big) + frame("ok"), max: 100, size: 64,
			want: []string{"ok"}, tooLarge: 1, end: io.EOF},
		{name: "too large interrupted by a new frame", in: "\x0b" + big + frame("ok"), max: 100, size: 64,
			want: []string{"ok"}, tooLarge: 1, end: io.EOF},
		{name: "exactly max", in: frame("12345"), max: 5, want: []string{"12345"}, end: io.EOF},
		{name: "one over max", in: frame("123456"), max: 5, tooLarge: 1, end: io.EOF},
	}
	for _, tc := range tests {
		for _, split := range []bool{false, true} {
			name := tc.name
			var src io.Reader = strings.NewReader(tc.in)
			if split {
				name += "/one byte reads"
				src = iotest.OneByteReader(src)
			}
			t.Run(name, func(t *testing.T) {
				r := NewReader(src, tc.max, tc.size)
				got, tl, err := readAll(t, r)
				if !errors.Is(err, tc.end) {
					t.Fatalf("end error %v, want %v", err, tc.end)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
					t.Fatalf("frames %q, want %q", got, tc.want)
				}
				if len(tl) != tc.tooLarge {
					t.Fatalf("%d oversized frames, want %d", len(tl), tc.tooLarge)
				}
				for _, f := range tl {
					if len(f) == 0 || len(f) > tc.max || strings.Trim(f, "x123456") != "" {
						t.Fatalf("oversized frame head %q: want the frame's first bytes, at most max", f)
					}
				}
				if tc.junk != 0 && r.Junk != tc.junk {
					t.Fatalf("junk %d, want %d", r.Junk, tc.junk)
				}
			})
		}
	}
}

func TestReaderBuffered(t *testing.T) {
	r := NewReader(strings.NewReader(frame("a")+frame("b")), 0, 0)
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if !r.Buffered() {
		t.Fatal("second frame is buffered, Buffered() = false")
	}
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() {
		t.Fatal("only the trailing CR is left, Buffered() = true")
	}
}

// limitAlloc is an Allocator with a fixed limit that records its peak use.
type limitAlloc struct {
	mu                sync.Mutex
	limit, used, peak int
	refused           int
}

func (a *limitAlloc) usedNow() int { a.mu.Lock(); defer a.mu.Unlock(); return a.used }

func (a *limitAlloc) Grow(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used+n > a.limit {
		a.refused++
		return false
	}
	a.used += n
	a.peak = max(a.peak, a.used)
	return true
}

func (a *limitAlloc) Free(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used -= n
	if a.used < 0 {
		panic("freed more than granted")
	}
}

func TestReaderAllocator(t *testing.T) {
	big := strings.Repeat("x", 20000)
	a := &limitAlloc{limit: 64 << 10}
	// A frame over the budget is lost and skipped; the next frame is read as usual;
	// frames that fit in the read buffer need no memory at all.
	in := frame("small") + frame(big) + frame(strings.Repeat("y", 100000)) + frame("after") + frame(big)
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 1<<20, 4096)
	r.SetAllocator(a)
	var got []string
	overBudget := 0
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, ErrOverBudget) {
			overBudget++
			if f != nil || r.Held() != 0 || a.used != 0 {
				t.Fatalf("after ErrOverBudget: frame %d bytes, reader holds %d, allocator %d", len(f), r.Held(), a.used)
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, string(f))
		if r.Held() != a.used {
			t.Fatalf("reader holds %d, allocator granted %d", r.Held(), a.used)
		}
	}
	if len(got) != 4 || got[0] != "small" || got[1] != big || got[2] != "after" || got[3] != big {
		t.Fatalf("frames %d: want small, big, after, big", len(got))
	}
	if overBudget != 1 || a.peak > a.limit {
		t.Fatalf("%d frames over budget (want 1), peak %d of %d", overBudget, a.peak, a.limit)
	}
	// Memory is asked for as bytes arrive (doubling, never more than twice what came):
	// a 20,000-byte frame peaks at 32 KiB, not at the 1 MiB maximum.
	if a.peak > 64<<10 || a.peak < 20000 {
		t.Fatalf("peak %d for frames of 20,000 bytes", a.peak)
	}
	r.Release()
	if a.used != 0 {
		t.Fatalf("%d bytes still granted after Release", a.used)
	}
}

func TestReaderHoldsNothingBetweenFrames(t *testing.T) {
	pr, pw := io.Pipe()
	a := &limitAlloc{limit: 1 << 20}
	r := NewReader(pr, 0, 4096)
	r.SetAllocator(a)
	go pw.Write([]byte(frame(strings.Repeat("z", 50000))))
	if f, err := r.ReadFrame(); err != nil || len(f) != 50000 {
		t.Fatalf("frame %d bytes, %v", len(f), err)
	}
	if a.usedNow() == 0 {
		t.Fatal("a 50,000-byte frame was read with no memory granted")
	}
	// The next call waits for a frame that has not come: it must give the memory back
	// first, so an idle connection holds none of the budget.
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ReadFrame()
	}()
	for deadline := time.Now().Add(5 * time.Second); a.usedNow() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still held while waiting for the next frame", a.usedNow())
		}
		time.Sleep(time.Millisecond)
	}
	pw.Close()
	<-done
}

func TestWriteFrameRefusesFramingBytes(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, []byte("a\x1cb")); err == nil {
		t.Fatal("a message containing 0x1C was framed")
	}
	if err := WriteFrame(&b, []byte("MSH|x")); err != nil || b.String() != frame("MSH|x") {
		t.Fatalf("WriteFrame = %q, %v", b.String(), err)
	}
}

// FuzzReader feeds arbitrary streams to the framer: it must never panic, never return
// more than the maximum, and every frame it returns must be free of framing bytes.
func FuzzReader(f *testing.F) {
	f.Add([]byte(frame("MSH|^~\\&|A|B\rPID|1")+frame("x")), 64, 16)
	f.Add([]byte("junk\x0bpartial\x0bfull\x1c\rmore\x1c"), 8, 16)
	f.Add([]byte("\x0b"+strings.Repeat("y", 300)+"\x1c\r\x0bok\x1c"), 100, 32)
	f.Fuzz(func(t *testing.T, in []byte, max, size int) {
		max = 1 + abs(max)%512
		size = 16 + abs(size)%256
		for i, src := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), bytes.NewReader(in)} {
			r := NewReader(src, max, size)
			var a *limitAlloc
			if i == 2 { // a budget smaller than some frames
				a = &limitAlloc{limit: max / 2}
				r.SetAllocator(a)
			}
			for range len(in) + 2 {
				fr, err := r.ReadFrame()
				if a != nil && (a.used != r.Held() || a.peak > a.limit) {
					t.Fatalf("allocator: %d granted, reader holds %d, peak %d of %d", a.used, r.Held(), a.peak, a.limit)
				}
				if errors.Is(err, ErrOverBudget) {
					continue
				}
				if err != nil && !errors.Is(err, ErrFrameTooLarge) {
					break
				}
				if len(fr) > max {
					t.Fatalf("frame of %d bytes over max %d", len(fr), max)
				}
				if bytes.IndexByte(fr, StartBlock) >= 0 || bytes.IndexByte(fr, EndBlock) >= 0 {
					t.Fatalf("frame %q contains a framing byte", fr)
				}
			}
			if r.Release(); a != nil && a.used != 0 {
				t.Fatalf("%d bytes granted after Release", a.used)
			}
		}
	})
}

func abs(i int) int {
	if i < 0 {
		if i == -i { // math.MinInt
			return 0
		}
		return -i
	}
	return i
}
