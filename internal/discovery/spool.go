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

	"github.com/medcmdb/medcmdb/internal/observation"
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
// A full or failing disk never leaves half a record behind: an Append that cannot be
// written and fsynced whole is cut back off the tail and returns the error, and the
// caller keeps those observations. A Commit always moves the head in memory (the cmdb
// has the batch); its error only says the move is not on disk yet, so a restart could
// send that batch again, which ids make harmless.
//
// Record format: 4-byte big-endian length, 4-byte CRC-32 (IEEE) of the payload, then
// the JSON observation. A torn record at the tail (crash mid-write) is cut off on open.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64

	mu      sync.Mutex
	segs    []int64     // segment numbers on disk, oldest first
	head    cursor      // next record to send
	tail    segmentFile // nil after a failed rotation: reopened by the next Append
	tailSeg int64
	size    int64 // bytes on disk
	count   int   // records from head to tail
	dropped map[observation.Kind]int

	// openFile opens a segment for appending; tests wrap it to inject disk faults.
	openFile func(path string) (segmentFile, error)
}

// segmentFile is what the spool does to its tail segment: *os.File, or in tests a
// wrapper that fails the way a full disk does.
type segmentFile interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

func openSegment(path string) (segmentFile, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
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

// ErrSpoolFull says an append does not fit the spool's bound even with every older
// record dropped.
var ErrSpoolFull = errors.New("spool full")

// OpenSpool opens (or creates) a spool in dir bounded to maxBytes on disk.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: defaultSegment, dropped: map[observation.Kind]int{}, openFile: openSegment}
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
			if s.head.Off > 0 && !recordBoundary(s.segPath(seg), s.head.Off) {
				// The head's segment was cut or rewritten after the cursor was saved
				// (a cursor save lost to a crash): start it over. Resending is
				// harmless; reading from the middle of a record would cut the rest off
				// as a torn tail.
				s.head.Off = 0
			}
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
	if err := s.openTail(); err != nil {
		return nil, err
	}
	return s, nil
}

// openTail opens (creating it if need be) the tail segment for appending (s.mu held
// or not yet shared).
func (s *Spool) openTail() error {
	f, err := s.openFile(s.segPath(s.tailSeg))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.tail = f
	if !slices.Contains(s.segs, s.tailSeg) {
		s.segs = append(s.segs, s.tailSeg)
	}
	return nil
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

// recordBoundary reports whether off is where a valid record of the segment starts
// (or where its valid records end).
func recordBoundary(path string, off int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r := bufio.NewReader(f)
	pos := int64(0)
	for pos < off {
		payload, err := readRecord(r)
		if err != nil {
			return false
		}
		pos += int64(recordHeader + len(payload))
	}
	return pos == off
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
func (s *Spool) Append(obs []observation.Observation) error {
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
	if s.tail == nil {
		if err := s.openTail(); err != nil {
			return err
		}
	}
	if s.maxBytes > 0 && s.size+int64(len(buf)) > s.maxBytes {
		if err := s.makeRoom(int64(len(buf))); err != nil {
			return err
		}
	}
	fi, err := s.tail.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if fi.Size() > 0 && fi.Size()+int64(len(buf)) > s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
		fi, err = s.tail.Stat()
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	if err := s.writeTail(buf, fi.Size()); err != nil {
		return err
	}
	s.size += int64(len(buf))
	s.count += len(obs)
	return nil
}

// writeTail appends buf to the tail segment, whose size is end, and fsyncs it; on any
// error it cuts the segment back to end, so that a full disk never leaves a torn
// record that later appends would follow (s.mu held).
func (s *Spool) writeTail(buf []byte, end int64) error {
	_, err := s.tail.Write(buf)
	if err == nil {
		if err = s.tail.Sync(); err != nil {
			err = fmt.Errorf("spool: fsync %s: %w", s.segPath(s.tailSeg), err)
		}
	} else {
		err = fmt.Errorf("spool: writing %s: %w", s.segPath(s.tailSeg), err)
	}
	if err == nil {
		return nil
	}
	if terr := s.tail.Truncate(end); terr != nil {
		// The tail may now hold a torn record: appending after it would hide every
		// later record from Peek. Start a new segment for the next Append instead.
		_ = s.tail.Close()
		s.tail = nil
		s.tailSeg++
		return errors.Join(err, fmt.Errorf("spool: cutting a failed write off %s: %w", s.segPath(s.tailSeg-1), terr))
	}
	return err
}

func (s *Spool) rotate() error {
	err := s.tail.Close()
	s.tail = nil
	s.tailSeg++
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.openTail(); err != nil {
		return err
	}
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
		if err := s.compact(seg, func(o *observation.Observation) bool { return o.Kind == observation.KindRefresh }); err != nil {
			return err
		}
	}
	for s.size+need > s.maxBytes && len(s.segs) > 1 {
		if err := s.compact(s.segs[0], func(*observation.Observation) bool { return true }); err != nil {
			return err
		}
		if s.segs[0] != s.tailSeg {
			_ = os.Remove(s.segPath(s.segs[0]))
			s.segs = s.segs[1:]
			s.head = cursor{Seg: s.segs[0]}
		}
	}
	if s.size+need > s.maxBytes {
		return fmt.Errorf("%w: %d of %d bytes and nothing left to drop", ErrSpoolFull, s.size, s.maxBytes)
	}
	return nil
}

// compact rewrites one unsent segment without the records drop selects (s.mu held).
func (s *Spool) compact(seg int64, drop func(*observation.Observation) bool) error {
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
	removed := 0
	dropped := map[observation.Kind]int{} // counted once the rewrite is in place
	for {
		payload, err := readRecord(r)
		if err != nil {
			break
		}
		var o observation.Observation
		if json.Unmarshal(payload, &o) == nil && drop(&o) {
			dropped[o.Kind]++
			removed++
			continue
		}
		keep = append(keep, encodeRecord(payload)...)
	}
	f.Close()
	if removed == 0 {
		return nil
	}
	tmp := s.segPath(seg) + ".tmp"
	if err := writeFileSync(tmp, keep); err != nil {
		return fmt.Errorf("spool: compacting: %w", err)
	}
	if seg == s.head.Seg {
		// The cursor moves first: a crash before the rename then resends what was
		// delivered (harmless), never reads the new file from an old offset.
		head := s.head
		s.head.Off = 0
		if err := s.saveCursor(); err != nil {
			s.head = head
			_ = os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, s.segPath(seg)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: compacting: %w", err)
	}
	if seg == s.tailSeg && s.tail != nil {
		// The tail's descriptor still points at the file the rename replaced.
		_ = s.tail.Close()
		s.tail = nil
		if err := s.openTail(); err != nil {
			return err
		}
	}
	s.size += int64(len(keep)) - oldSize
	s.count -= removed
	for k, n := range dropped {
		s.dropped[k] += n
	}
	return syncDir(s.dir)
}

// Peek returns up to n records from the head and the cursor just after them.
func (s *Spool) Peek(n int) ([]observation.Observation, cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []observation.Observation
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
			var o observation.Observation
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
// The head moves in memory whatever happens; an error says it could not be recorded on
// disk (see Spool).
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
		return s.restart(c)
	}
	return s.saveCursor()
}

// restart empties a drained spool so the disk does not grow (s.mu held). The cursor
// goes to the segment's start before the segment is cut (a crash in between resends
// what was delivered: harmless), so that a saved cursor never points past the end of
// what a later append writes. When the cursor cannot be saved (a full disk), the
// segment is removed and the next one started instead: a cursor too old to know it
// then names a removed segment, which OpenSpool resolves to the start of the next one,
// never to an offset inside it.
func (s *Spool) restart(end cursor) error {
	s.head = cursor{Seg: s.tailSeg}
	err := s.saveCursor()
	if err == nil && s.tail != nil {
		if terr := s.tail.Truncate(0); terr == nil {
			s.size = 0
			return nil
		}
		s.head = end // the records are still there: not to be read again now
		return nil
	}
	if s.tail != nil {
		_ = s.tail.Close()
		s.tail = nil
	}
	_ = os.Remove(s.segPath(s.tailSeg))
	s.segs = s.segs[:0]
	s.size = 0
	s.tailSeg++
	s.head = cursor{Seg: s.tailSeg}
	if err := s.openTail(); err != nil {
		return err // the next Append opens it
	}
	// The new segment's name must outlive a power cut with the records appended to it
	// (their fsync covers the file, not the directory).
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return s.saveCursor()
}

func (s *Spool) saveCursor() error {
	b, _ := json.Marshal(s.head)
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
}

// writeFileSync writes and fsyncs a new file, removing it again on failure so that a
// full disk is not left fuller.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
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
func (s *Spool) Dropped() map[observation.Kind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dropped
	s.dropped = map[observation.Kind]int{}
	return d
}

// Close closes the tail segment.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tail == nil {
		return nil
	}
	err := s.tail.Close()
	s.tail = nil
	return err
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
