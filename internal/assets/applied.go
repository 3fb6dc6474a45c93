package assets

import (
	"encoding/binary"
	"slices"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Exactly-once application. A replayed observation must change nothing, and nothing
// else may be taken for a replay: observations of one device arrive out of order (traps
// decoded in parallel, a poll racing a trap), and an older one that was never applied
// is news, not a duplicate. So a channel remembers the ids it applied, not a time.
//
// A collector's ids are "<stream>-<seq>" (observation/ids.go): the stream names one run
// of one id source (collector name and a random boot id), seq counts up from 1. Per
// stream a channel keeps the seqs it applied as ranges, a few bytes each. Past
// maxRanges the two lowest ranges are joined, which declares the seqs between them
// applied too: the seqs of other devices (or ones the collector dropped), which never
// come to this channel unless a collector delivers one observation of a device after
// maxRanges newer ones of the same device, far beyond any reordering a collector
// does (its spool is in order; traps of one source are decoded in order). Ids of any
// other shape are kept as they are, the newest maxOtherIDs of them.
//
// The record lives in the asset document, so it is written with the change it guards
// (one document, atomic) and is shared by every replica that reads the document.

const (
	// maxStreams bounds the streams a channel remembers: its collector's current run
	// and the runs before it, whose spool is replayed first after a restart.
	maxStreams = 4
	// maxRanges bounds the ranges kept per stream.
	maxRanges = 32
	// maxOtherIDs bounds the ids of another shape kept per channel.
	maxOtherIDs = 32
)

// IDStream is the set of seqs of one id stream a channel applied, encoded (see
// encodeRanges) so that the asset document stays small.
type IDStream struct {
	Prefix string `bson:"p"`
	Seqs   []byte `bson:"s"`
}

// seqRange is an inclusive range of seqs.
type seqRange struct{ lo, hi uint64 }

// applied reports whether the channel applied the observation id before.
func (ch *Channel) applied(id string) bool {
	if ch.LastID == id || slices.Contains(ch.SameTime, id) || slices.Contains(ch.OtherIDs, id) {
		return true
	}
	prefix, seq, ok := observation.SplitID(id)
	if !ok {
		return false
	}
	if ch.legacy() {
		// Written before ids were kept: that version applied a stream in order, up to
		// LastID.
		lp, ls, ok := observation.SplitID(ch.LastID)
		return ok && lp == prefix && seq <= ls
	}
	for _, st := range ch.Streams {
		if st.Prefix == prefix {
			return encodedContains(st.Seqs, seq)
		}
	}
	return false
}

// encodedContains reports whether encoded ranges hold seq, reading them in place.
func encodedContains(b []byte, seq uint64) bool {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return false
	}
	b = b[k:]
	prev := uint64(0)
	for range n {
		gap, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return false
		}
		length, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 {
			return false
		}
		b = b[k1+k2:]
		lo := prev + gap
		switch {
		case seq < lo:
			return false
		case seq-lo <= length:
			return true
		}
		prev = lo + length
	}
	return false
}

// legacy reports whether the channel was last written by a version that kept only
// the last id and time.
func (ch *Channel) legacy() bool {
	return ch.LastID != "" && len(ch.Streams) == 0 && len(ch.OtherIDs) == 0
}

// markApplied records that the channel applied the observation id.
func (ch *Channel) markApplied(id string) {
	if ch.legacy() {
		last := ch.LastID
		for _, old := range ch.SameTime {
			ch.addID(old)
		}
		if p, s, ok := observation.SplitID(last); ok {
			ch.addRange(p, seqRange{0, s})
		} else {
			ch.addID(last)
		}
	}
	ch.SameTime = nil
	ch.addID(id)
	ch.LastID = id
}

func (ch *Channel) addID(id string) {
	if p, s, ok := observation.SplitID(id); ok {
		ch.addRange(p, seqRange{s, s})
		return
	}
	if !slices.Contains(ch.OtherIDs, id) {
		ch.OtherIDs = append(ch.OtherIDs, id)
		if n := len(ch.OtherIDs) - maxOtherIDs; n > 0 {
			ch.OtherIDs = slices.Delete(ch.OtherIDs, 0, n)
		}
	}
}

// addRange adds seqs to a stream's set and moves the stream to the end (most recently
// used); past maxStreams the least recently used stream is forgotten.
func (ch *Channel) addRange(prefix string, r seqRange) {
	i := slices.IndexFunc(ch.Streams, func(s IDStream) bool { return s.Prefix == prefix })
	var ranges []seqRange
	if i >= 0 {
		ranges = decodeRanges(ch.Streams[i].Seqs)
		ch.Streams = slices.Delete(ch.Streams, i, i+1)
	}
	ch.Streams = append(ch.Streams, IDStream{Prefix: prefix, Seqs: encodeRanges(insertRange(ranges, r))})
	if n := len(ch.Streams) - maxStreams; n > 0 {
		ch.Streams = slices.Delete(ch.Streams, 0, n)
	}
}

// absorbApplied adds every id another channel applied (a merge of two records).
func (ch *Channel) absorbApplied(from *Channel) {
	if from.legacy() {
		from = cloneChannel(from)
		from.markApplied(from.LastID)
	}
	if ch.legacy() {
		ch.markApplied(ch.LastID)
	}
	for _, st := range from.Streams {
		for _, r := range decodeRanges(st.Seqs) {
			ch.addRange(st.Prefix, r)
		}
	}
	for _, id := range from.OtherIDs {
		ch.addID(id)
	}
}

func containsSeq(rs []seqRange, seq uint64) bool {
	i, _ := slices.BinarySearchFunc(rs, seq, func(r seqRange, s uint64) int {
		switch {
		case r.hi < s:
			return -1
		case r.lo > s:
			return 1
		}
		return 0
	})
	return i < len(rs) && rs[i].lo <= seq && seq <= rs[i].hi
}

// insertRange adds r to sorted, disjoint, non-adjacent ranges and keeps at most
// maxRanges of them by joining the lowest ones.
func insertRange(rs []seqRange, r seqRange) []seqRange {
	i, _ := slices.BinarySearchFunc(rs, r.lo, func(x seqRange, lo uint64) int {
		if x.lo < lo {
			return -1
		}
		if x.lo > lo {
			return 1
		}
		return 0
	})
	rs = slices.Insert(rs, i, r)
	// Join with neighbours that overlap or touch.
	out := rs[:0]
	for _, x := range rs {
		if n := len(out); n > 0 && (x.lo <= out[n-1].hi || x.lo-out[n-1].hi == 1) {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	for len(out) > maxRanges {
		out[1].lo = out[0].lo
		out = out[1:]
	}
	return out
}

// encodeRanges writes ranges as uvarints: the count, then per range the gap from the
// previous range's end and the range's length.
func encodeRanges(rs []seqRange) []byte {
	b := binary.AppendUvarint(nil, uint64(len(rs)))
	prev := uint64(0)
	for _, r := range rs {
		b = binary.AppendUvarint(b, r.lo-prev)
		b = binary.AppendUvarint(b, r.hi-r.lo)
		prev = r.hi
	}
	return b
}

// decodeRanges reads what encodeRanges wrote; anything malformed reads as no range.
func decodeRanges(b []byte) []seqRange {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxRanges+1 {
		return nil
	}
	b = b[k:]
	rs := make([]seqRange, 0, n+1)
	prev := uint64(0)
	for range n {
		gap, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return nil
		}
		length, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 {
			return nil
		}
		b = b[k1+k2:]
		lo := prev + gap
		if lo < prev || lo+length < lo || len(rs) > 0 && gap < 2 {
			return nil // overflow, or ranges that touch: not what encodeRanges writes
		}
		rs = append(rs, seqRange{lo, lo + length})
		prev = lo + length
	}
	return rs
}

// verdict is what an observation may do to the channel it arrives on.
type verdict int

const (
	// verdictApply: news no older than the channel's state: applied in full.
	verdictApply verdict = iota
	// verdictLateEvent: an EVENT older than the channel's state: recorded in the
	// history at its own time (events are never dropped), without rolling any
	// attribute back.
	verdictLateEvent
	// verdictStale: a state observation older than the state the channel holds: it
	// must not roll the state back; it is counted, not applied.
	verdictStale
	// verdictDuplicate: its id was applied before (a replay): changes nothing.
	verdictDuplicate
)

// judge decides what an observation does to a channel (nil: one it opens). State is
// ordered by observation time; identity by id alone.
func judge(ch *Channel, o *observation.Observation) verdict {
	switch {
	case ch == nil:
		return verdictApply
	case ch.applied(o.ID):
		return verdictDuplicate
	case !o.ObservedAt.Before(ch.ObservedAt):
		return verdictApply
	case o.Kind == observation.KindEvent:
		return verdictLateEvent
	}
	return verdictStale
}

func cloneChannel(ch *Channel) *Channel {
	c := *ch
	c.Conditions = slices.Clone(ch.Conditions)
	c.SameTime = slices.Clone(ch.SameTime)
	c.OtherIDs = slices.Clone(ch.OtherIDs)
	c.Streams = make([]IDStream, len(ch.Streams))
	for i, s := range ch.Streams {
		c.Streams[i] = IDStream{Prefix: s.Prefix, Seqs: slices.Clone(s.Seqs)}
	}
	return &c
}

// appliedTo reports whether the asset's channel for the observation applied its id.
func appliedTo(a *Asset, o *observation.Observation) bool {
	ch := a.channel(o.Collector, o.Source.Channel())
	return ch != nil && ch.applied(o.ID)
}
