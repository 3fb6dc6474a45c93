package mllp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
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
		for _, src := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			r := NewReader(src, max, size)
			for range len(in) + 2 {
				fr, err := r.ReadFrame()
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
