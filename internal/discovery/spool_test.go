package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

func spoolObs(i int, kind observation.Kind) observation.Observation {
	return observation.Observation{ID: fmt.Sprintf("c-b-%d", i), Collector: "c", ObservedAt: time.Unix(int64(1000+i), 0).UTC(),
		Source: observation.SourceSNMPPoll, Kind: kind, State: observation.StateUp, Address: &observation.Address{IP: "10.0.0.1"}, Conditions: []string{}}
}

func ids(obs []observation.Observation) string {
	var b bytes.Buffer
	for _, o := range obs {
		b.WriteString(o.ID + " ")
	}
	return b.String()
}

func TestSpoolKeepsOrderAcrossRestartsAndCommits(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var all []observation.Observation
	for i := range 10 {
		all = append(all, spoolObs(i, observation.KindChange))
	}
	if err := s.Append(all[:6]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(all[6:]); err != nil {
		t.Fatal(err)
	}
	batch, next, err := s.Peek(4)
	if err != nil || ids(batch) != ids(all[:4]) {
		t.Fatalf("peek: %v %q", err, ids(batch))
	}
	if err := s.Commit(next, len(batch)); err != nil {
		t.Fatal(err)
	}
	// A peeked but uncommitted batch is sent again after a restart.
	if batch, _, _ = s.Peek(3); ids(batch) != ids(all[4:7]) {
		t.Fatalf("second peek %q", ids(batch))
	}
	s.Close()

	s2, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Len() != 6 {
		t.Fatalf("after restart %d pending, want 6", s2.Len())
	}
	batch, next, _ = s2.Peek(100)
	if ids(batch) != ids(all[4:]) {
		t.Fatalf("after restart %q", ids(batch))
	}
	if err := s2.Commit(next, len(batch)); err != nil {
		t.Fatal(err)
	}
	if s2.Len() != 0 || s2.Bytes() != 0 {
		t.Fatalf("drained spool: len %d, %d bytes", s2.Len(), s2.Bytes())
	}
	// And it keeps working after draining.
	if err := s2.Append(all[:1]); err != nil {
		t.Fatal(err)
	}
	if batch, _, _ = s2.Peek(5); ids(batch) != ids(all[:1]) {
		t.Fatalf("after drain %q", ids(batch))
	}
}

func TestSpoolCutsATornTail(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenSpool(dir, 1<<20)
	if err := s.Append([]observation.Observation{spoolObs(1, observation.KindChange), spoolObs(2, observation.KindChange)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash in the middle of writing a third record.
	seg := filepath.Join(dir, "seg-000000000001.log")
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(encodeRecord([]byte(`{"id":"torn"`))[:11])
	f.Close()
	s2, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Len() != 2 {
		t.Fatalf("%d records after a torn write, want 2", s2.Len())
	}
	if err := s2.Append([]observation.Observation{spoolObs(3, observation.KindChange)}); err != nil {
		t.Fatal(err)
	}
	batch, _, _ := s2.Peek(10)
	if ids(batch) != "c-b-1 c-b-2 c-b-3 " {
		t.Fatalf("after repair %q", ids(batch))
	}
}

func TestSpoolFullDropsRefreshesFirst(t *testing.T) {
	dir := t.TempDir()
	rec := int64(len(encodeRecord(mustJSON(spoolObs(100, observation.KindRefresh)))))
	s, err := OpenSpool(dir, 40*rec) // room for about 40 records
	if err != nil {
		t.Fatal(err)
	}
	// Alternate refreshes and state changes, well past the bound.
	for i := range 60 {
		kind := observation.KindRefresh
		if i%3 == 0 {
			kind = observation.KindChange
		}
		if err := s.Append([]observation.Observation{spoolObs(100+i, kind)}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if s.Bytes() > 40*rec {
		t.Fatalf("spool holds %d bytes, bound %d", s.Bytes(), 40*rec)
	}
	dropped := s.Dropped()
	if dropped[observation.KindRefresh] == 0 || dropped[observation.KindChange] != 0 {
		t.Fatalf("dropped %v: want refreshes only", dropped)
	}
	batch, _, _ := s.Peek(1000)
	changes := 0
	for _, o := range batch {
		if o.Kind == observation.KindChange {
			changes++
		}
	}
	if changes != 20 {
		t.Fatalf("%d state changes kept, want all 20", changes)
	}
}

func mustJSON(o observation.Observation) []byte {
	b, _ := json.Marshal(&o)
	return b
}

func FuzzSpoolRecord(f *testing.F) {
	f.Add(encodeRecord([]byte(`{"id":"x"}`)))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		payload, err := readRecord(bytes.NewReader(data))
		if err == nil {
			// Whatever decodes must re-encode to the same bytes.
			if !bytes.Equal(encodeRecord(payload), data[:recordHeader+len(payload)]) {
				t.Fatalf("record does not round-trip")
			}
		}
	})
}
