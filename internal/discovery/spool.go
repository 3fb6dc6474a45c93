package discovery

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Spool is the collector's durable queue of observations: an append-only log of
// segment files in a directory, written in groups with one fsync per group, read from
// a head cursor that only moves once the cmdb has acknowledged a batch. A collector
// restart, a cmdb outage or a full disk never reorders observations; a crash loses at
// most the group not yet written (one flush interval).
//
// A spool is driven by one goroutine (the reporter's Run): Append, Peek and Commit are
// never concurrent with each other, so a compaction can never move records under a
// batch that is being sent. Len and Bytes may be read from anywhere.
//
// Record format: 4-byte big-endian length, 4-byte CRC-32 (IEEE) of the payload, then
// the JSON observation. A torn record at the tail (crash mid-write) is cut off on open.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64

	mu      sync.Mutex
	segs    []int64 // segment numbers on disk, oldest first
	head    cursor  // next record to send
	tail    *os.File
	tailSeg int64
	size    int64 // bytes on disk
	count   int   // records from head to tail
	dropped map[Kind]int
}

type cursor struct {
	Seg int64 `json:"seg"`
	Off int64 `json:"off"`
}

const (
	recordHeader     = 8
	maxRecord        = 1 << 20
	defaultSegment   = 8 << 20
	cursorFile       = "cursor.json"
	segmentPrefix    = "seg-"
	segmentExtension = ".log"
)

// ErrCorruptRecord marks a record whose length or checksum does not hold.
var ErrCorruptRecord = errors.New("corrupt spool record")

// OpenSpool opens (or creates) a spool in dir bounded to maxBytes on disk.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: defaultSegment, dropped: map[Kind]int{}}
	if maxBytes > 0 && maxBytes/4 < s.segBytes {
		s.segBytes = max(maxBytes/4, 4096)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentExtension) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentExtension), 10, 64)
		if err == nil {
			s.segs = append(s.segs, n)
		}
	}
	slices.Sort(s.segs)
	if b, err := os.ReadFile(filepath.Join(dir, cursorFile)); err == nil {
		if err := json.Unmarshal(b, &s.head); err != nil {
			return nil, fmt.Errorf("spool %s: cursor: %w", dir, err)
		}
	}
	// Segments wholly before the head were consumed; the head's segment may be gone.
	for len(s.segs) > 0 && s.segs[0] < s.head.Seg {
		_ = os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != s.head.Seg {
		s.head = cursor{Seg: s.firstSeg(), Off: 0}
	}
	if len(s.segs) == 0 {
		s.segs = []int64{s.head.Seg}
	}
	// Count what is pending and cut a torn tail.
	for i, seg := range s.segs {
		start := int64(0)
		if seg == s.head.Seg {
			start = s.head.Off
		}
		n, valid, size, err := scanSegment(s.segPath(seg), start)
		if err != nil {
			return nil, err
		}
		if i == len(s.segs)-1 && valid < size {
			if err := os.Truncate(s.segPath(seg), valid); err != nil {
				return nil, fmt.Errorf("spool: cutting torn tail of %s: %w", s.segPath(seg), err)
			}
			size = valid
		}
		s.count += n
		s.size += size
	}
	s.tailSeg = s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(s.tailSeg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.tail = f
	return s, nil
}

func (s *Spool) firstSeg() int64 {
	if len(s.segs) > 0 {
		return s.segs[0]
	}
	return 1
}

func (s *Spool) segPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%012d%s", segmentPrefix, n, segmentExtension))
}

// scanSegment counts valid records from offset start and returns the offset where
// valid data ends and the file size.
func scanSegment(path string, start int64) (n int, valid, size int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return 0, 0, 0, err
	}
	r := bufio.NewReader(f)
	valid = start
	for {
		payload, err := readRecord(r)
		if err != nil {
			return n, valid, fi.Size(), nil
		}
		n++
		valid += int64(recordHeader + len(payload))
	}
}

// readRecord reads one record; io.EOF at a clean end, ErrCorruptRecord otherwise.
func readRecord(r io.Reader) ([]byte, error) {
	var hdr [recordHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrCorruptRecord
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > maxRecord {
		return nil, ErrCorruptRecord
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, ErrCorruptRecord
	}
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, ErrCorruptRecord
	}
	return payload, nil
}

func encodeRecord(payload []byte) []byte {
	out := make([]byte, recordHeader+len(payload))
	binary.BigEndian.PutUint32(out[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[4:8], crc32.ChecksumIEEE(payload))
	copy(out[recordHeader:], payload)
	return out
}

// Append writes observations durably (one fsync for the group). When the spool would
// exceed its bound it first drops the oldest refreshes, then the oldest anything.
func (s *Spool) Append(obs []Observation) error {
	if len(obs) == 0 {
		return nil
	}
	var buf []byte
	for i := range obs {
		b, err := json.Marshal(&obs[i])
		if err != nil {
			return fmt.Errorf("spool: encoding %s: %w", obs[i].ID, err)
		}
		if len(b) > maxRecord {
			return fmt.Errorf("spool: observation %s is %d bytes, over %d", obs[i].ID, len(b), maxRecord)
		}
		buf = append(buf, encodeRecord(b)...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxBytes > 0 && s.size+int64(len(buf)) > s.maxBytes {
		if err := s.makeRoom(int64(len(buf))); err != nil {
			return err
		}
	}
	if fi, err := s.tail.Stat(); err == nil && fi.Size() > 0 && fi.Size()+int64(len(buf)) > s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if _, err := s.tail.Write(buf); err != nil {
		return fmt.Errorf("spool: writing: %w", err)
	}
	if err := s.tail.Sync(); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	s.size += int64(len(buf))
	s.count += len(obs)
	return nil
}

func (s *Spool) rotate() error {
	if err := s.tail.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.tailSeg++
	f, err := os.OpenFile(s.segPath(s.tailSeg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.tail = f
	s.segs = append(s.segs, s.tailSeg)
	return syncDir(s.dir)
}

// makeRoom frees at least need bytes (s.mu held): first by rewriting the oldest
// segments without their refreshes, then by dropping whole oldest segments.
func (s *Spool) makeRoom(need int64) error {
	for _, seg := range s.segs {
		if s.size+need <= s.maxBytes {
			return nil
		}
		if seg == s.tailSeg {
			break
		}
		if err := s.compact(seg, func(o *Observation) bool { return o.Kind == KindRefresh }); err != nil {
			return err
		}
	}
	for s.size+need > s.maxBytes && len(s.segs) > 1 {
		if err := s.compact(s.segs[0], func(*Observation) bool { return true }); err != nil {
			return err
		}
		if s.segs[0] != s.tailSeg {
			_ = os.Remove(s.segPath(s.segs[0]))
			s.segs = s.segs[1:]
			s.head = cursor{Seg: s.segs[0]}
		}
	}
	if s.size+need > s.maxBytes {
		return fmt.Errorf("spool: full (%d of %d bytes) and nothing left to drop", s.size, s.maxBytes)
	}
	return nil
}

// compact rewrites one unsent segment without the records drop selects (s.mu held).
func (s *Spool) compact(seg int64, drop func(*Observation) bool) error {
	start := int64(0)
	if seg == s.head.Seg {
		start = s.head.Off
	}
	f, err := os.Open(s.segPath(seg))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	fi, _ := f.Stat()
	oldSize := fi.Size()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	r := bufio.NewReader(f)
	var keep []byte
	kept, removed := 0, 0
	for {
		payload, err := readRecord(r)
		if err != nil {
			break
		}
		var o Observation
		if json.Unmarshal(payload, &o) == nil && drop(&o) {
			s.dropped[o.Kind]++
			removed++
			continue
		}
		keep = append(keep, encodeRecord(payload)...)
		kept++
	}
	f.Close()
	if removed == 0 {
		return nil
	}
	tmp := s.segPath(seg) + ".tmp"
	if err := os.WriteFile(tmp, keep, 0o600); err != nil {
		return fmt.Errorf("spool: compacting: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.segPath(seg)); err != nil {
		return fmt.Errorf("spool: compacting: %w", err)
	}
	if seg == s.head.Seg {
		s.head.Off = 0
		if err := s.saveCursor(); err != nil {
			return err
		}
	}
	s.size += int64(len(keep)) - oldSize
	s.count -= removed
	return syncDir(s.dir)
}

// Peek returns up to n records from the head and the cursor just after them.
func (s *Spool) Peek(n int) ([]Observation, cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Observation
	c := s.head
	for len(out) < n {
		f, err := os.Open(s.segPath(c.Seg))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, c, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Seek(c.Off, io.SeekStart); err != nil {
			f.Close()
			return nil, c, err
		}
		r := bufio.NewReader(f)
		for len(out) < n {
			payload, err := readRecord(r)
			if err != nil {
				break
			}
			c.Off += int64(recordHeader + len(payload))
			var o Observation
			if err := json.Unmarshal(payload, &o); err != nil {
				continue // a record we cannot decode is skipped, never resent forever
			}
			out = append(out, o)
		}
		f.Close()
		if len(out) >= n || c.Seg >= s.tailSeg {
			break
		}
		c = cursor{Seg: c.Seg + 1}
	}
	return out, c, nil
}

// Commit moves the head to c (after a batch was delivered), deleting consumed segments.
func (s *Spool) Commit(c cursor, delivered int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 1 && s.segs[0] < c.Seg {
		fi, err := os.Stat(s.segPath(s.segs[0]))
		if err == nil {
			s.size -= fi.Size()
		}
		_ = os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
	s.head = c
	s.count = max(0, s.count-delivered)
	if c.Seg == s.tailSeg && s.count == 0 {
		// Everything sent: start the tail segment afresh so the disk does not grow.
		if err := s.tail.Truncate(0); err == nil {
			s.size = 0
			s.head.Off = 0
		}
	}
	return s.saveCursor()
}

func (s *Spool) saveCursor() error {
	b, _ := json.Marshal(s.head)
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
}

// Len returns the number of records not yet delivered.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Bytes returns the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Dropped returns and resets the counts of records dropped for room, by kind.
func (s *Spool) Dropped() map[Kind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dropped
	s.dropped = map[Kind]int{}
	return d
}

// Close closes the tail segment.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tail.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
