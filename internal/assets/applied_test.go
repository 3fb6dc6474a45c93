package assets

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// The set of seqs a channel keeps never forgets a seq it was given, in any order, and
// holds nothing else while it has at most maxRanges ranges; past that it joins the
// oldest ranges only.
func TestSeqRangesKeepEveryAppliedSeq(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var rs []seqRange
		given := map[uint64]bool{}
		n := 1 + rng.IntN(300)
		// Interleaved streams of one collector: this device gets every k-th seq,
		// shuffled a little (parallel decoding), sometimes given twice (a replay).
		k := uint64(1 + rng.IntN(50))
		var seqs []uint64
		for i := range n {
			seqs = append(seqs, 1+uint64(i)*k+uint64(rng.IntN(int(k))))
		}
		for i := range seqs {
			j := min(len(seqs)-1, i+rng.IntN(4))
			seqs[i], seqs[j] = seqs[j], seqs[i]
		}
		for _, s := range seqs {
			rs = insertRange(rs, seqRange{s, s})
			given[s] = true
			if rng.IntN(10) == 0 {
				rs = insertRange(rs, seqRange{s, s})
			}
			rs = decodeRanges(encodeRanges(rs))
		}
		if len(rs) > maxRanges {
			t.Fatalf("round %d: %d ranges", round, len(rs))
		}
		for s := range given {
			if !containsSeq(rs, s) || !encodedContains(encodeRanges(rs), s) {
				t.Fatalf("round %d: seq %d forgotten: %v", round, s, rs)
			}
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].lo <= rs[i-1].hi+1 {
				t.Fatalf("round %d: ranges not disjoint and apart: %v", round, rs)
			}
		}
		// Only the first range, where the oldest were joined, may hold seqs never
		// given, and only once there were more than maxRanges to keep.
		exact := rs[1:]
		if len(given) <= maxRanges {
			exact = rs
		}
		for _, r := range exact {
			for s := r.lo; s <= r.hi; s++ {
				if !given[s] {
					t.Fatalf("round %d: seq %d never given but held in %v (ranges %v)", round, s, r, rs)
				}
			}
		}
	}
}

func TestDecodeRangesRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {0xff}, {5, 1}, {200, 1, 1}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if rs := decodeRanges(b); len(rs) != 0 {
			t.Errorf("decodeRanges(%x) = %v", b, rs)
		}
	}
}

// FuzzSeqRanges: stored bytes that are not what encodeRanges wrote (a damaged
// document) read as an empty set or a valid one, never a panic, and a valid one
// encodes back to itself.
func FuzzSeqRanges(f *testing.F) {
	f.Add(encodeRanges([]seqRange{{1, 1}, {5, 9}, {1 << 40, 1<<40 + 3}}))
	f.Add([]byte{2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs := decodeRanges(b)
		for i, r := range rs {
			if r.hi < r.lo || i > 0 && r.lo <= rs[i-1].hi+1 {
				t.Fatalf("decoded invalid ranges %v from %x", rs, b)
			}
		}
		if again := decodeRanges(encodeRanges(rs)); !slices.Equal(again, rs) {
			t.Fatalf("round trip %v -> %v", rs, again)
		}
		if len(rs) > 0 {
			for _, s := range []uint64{rs[0].lo, rs[0].hi + 1, rs[len(rs)-1].hi} {
				if containsSeq(rs, s) != encodedContains(b, s) {
					t.Fatalf("encodedContains(%x, %d) disagrees with %v", b, s, rs)
				}
			}
			_ = insertRange(rs, seqRange{rs[0].lo, rs[len(rs)-1].hi})
		}
	})
}

// The ordering rules, in memory: a duplicate is an id applied before and nothing else;
// state is ordered by observation time; events are never dropped.
func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ch := &Channel{Collector: "c1", Channel: "snmp"}
	for _, id := range []string{"c1-b-10", "c1-b-12", "foreign"} {
		ch.markApplied(id)
	}
	ch.ObservedAt = t0
	obs := func(id string, at time.Duration, kind observation.Kind) *observation.Observation {
		return &observation.Observation{ID: id, ObservedAt: t0.Add(at), Kind: kind}
	}
	for _, tc := range []struct {
		name string
		ch   *Channel
		o    *observation.Observation
		want verdict
	}{
		{"first on a new channel", nil, obs("c1-b-1", 0, observation.KindChange), verdictApply},
		{"newer state", ch, obs("c1-b-13", time.Second, observation.KindChange), verdictApply},
		{"same instant, another id", ch, obs("c1-b-13", 0, observation.KindChange), verdictApply},
		{"replayed id", ch, obs("c1-b-12", time.Second, observation.KindChange), verdictDuplicate},
		{"replayed id, older", ch, obs("c1-b-10", -time.Minute, observation.KindRefresh), verdictDuplicate},
		{"replayed event", ch, obs("c1-b-12", -time.Second, observation.KindEvent), verdictDuplicate},
		{"replayed id of another shape", ch, obs("foreign", time.Hour, observation.KindChange), verdictDuplicate},
		{"older state never applied: stale, not a duplicate", ch, obs("c1-b-11", -time.Millisecond, observation.KindChange), verdictStale},
		{"older refresh never applied", ch, obs("c1-b-9", -time.Second, observation.KindRefresh), verdictStale},
		{"older event never applied: recorded", ch, obs("c1-b-11", -time.Millisecond, observation.KindEvent), verdictLateEvent},
		{"newer event", ch, obs("c1-b-14", time.Millisecond, observation.KindEvent), verdictApply},
		{"same seq, another collector run", ch, obs("c1-c-12", time.Second, observation.KindChange), verdictApply},
	} {
		if got := judge(tc.ch, tc.o); got != tc.want {
			t.Errorf("%s: judge = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A channel written by the version that kept only the last id and time: its stream up
// to the last id counts as applied (that version applied in order), including the ids
// of the same instant, and the first write in the new form keeps that.
func TestLegacyChannelKeepsItsReplayGuard(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ch := &Channel{Collector: "c1", Channel: "snmp", ObservedAt: t0, LastID: "c1-b-40", SameTime: []string{"c1-b-39", "odd"}}
	check := func(when string) {
		t.Helper()
		for _, id := range []string{"c1-b-40", "c1-b-39", "c1-b-3", "odd"} {
			if !ch.applied(id) {
				t.Errorf("%s: %s not known as applied", when, id)
			}
		}
		for _, id := range []string{"c1-b-41", "c1-x-3", "other"} {
			if ch.applied(id) {
				t.Errorf("%s: %s taken as applied", when, id)
			}
		}
	}
	check("legacy")
	ch.markApplied("c1-b-45")
	check("after the first new write")
	if !ch.applied("c1-b-45") || ch.SameTime != nil || len(ch.Streams) != 1 {
		t.Errorf("after the first new write: %+v", ch)
	}
}

// A channel remembers at most maxStreams collector runs, most recently used last.
func TestChannelForgetsOldestStreams(t *testing.T) {
	ch := &Channel{}
	for run := range maxStreams + 2 {
		ch.markApplied("c1-run" + string(rune('a'+run)) + "-1")
	}
	ch.markApplied("c1-runc-2") // used again: kept
	ch.markApplied("c1-rung-1")
	if len(ch.Streams) != maxStreams {
		t.Fatalf("%d streams", len(ch.Streams))
	}
	for _, id := range []string{"c1-runc-1", "c1-runc-2", "c1-rung-1", "c1-runf-1"} {
		if !ch.applied(id) {
			t.Errorf("%s forgotten", id)
		}
	}
	if ch.applied("c1-runa-1") || ch.applied("c1-rund-1") {
		t.Errorf("oldest runs still held: %+v", ch.Streams)
	}
}

// BenchmarkJudgeAndMark is the cost of the exactly-once record per observation: a
// device's channel that has seen every 37th seq of its collector's stream (other
// devices' observations in between), its record at the maxRanges cap.
func BenchmarkJudgeAndMark(b *testing.B) {
	ch := &Channel{Collector: "c1", Channel: "snmp"}
	seq := 0
	next := func() string { seq += 37; return "site-north-1-3f2a9c01b2d4-" + strconv.Itoa(seq) }
	for range 2 * maxRanges {
		ch.markApplied(next())
	}
	o := &observation.Observation{Kind: observation.KindChange}
	b.ReportAllocs()
	for b.Loop() {
		o.ID = next()
		if judge(ch, o) != verdictApply {
			b.Fatal("not applied")
		}
		ch.markApplied(o.ID)
	}
	b.ReportMetric(float64(len(ch.Streams[0].Seqs)+len(ch.Streams[0].Prefix)), "record-bytes")
}
