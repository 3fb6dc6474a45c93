package observation

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
)

// IDs makes observation ids unique across restarts: "<collector>-<boot>-<seq>", the
// collector name, a random boot id, then a counter from 1 in decimal. The cmdb
// applies a replayed observation once by its id alone: per asset channel it keeps,
// for each stream ("<collector>-<boot>-"), the seqs it applied (internal/assets,
// applied.go). Seqs need not arrive in order; they must never repeat within a stream,
// and one device's observations should reach the cmdb roughly in seq order (the
// spool is a queue; a trap sender's datagrams are decoded in order), which keeps that
// record a few ranges long.
type IDs struct {
	prefix string
	seq    atomic.Uint64
}

// NewIDs returns the id source of one run of a collector.
func NewIDs(collector string) *IDs {
	b := make([]byte, 6)
	rand.Read(b)
	return &IDs{prefix: collector + "-" + hex.EncodeToString(b) + "-"}
}

// Next returns a new id.
func (s *IDs) Next() string {
	return s.prefix + strconv.FormatUint(s.seq.Add(1), 10)
}

// SplitID splits an id made by IDs into its stream and seq. Seqs are canonical
// decimals (no leading zero) so that two different ids never share a seq. ok is
// false for an id of any other shape (the cmdb then remembers it whole).
func SplitID(id string) (stream string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return "", 0, false
	}
	digits := id[i+1:]
	if len(digits) > 1 && digits[0] == '0' {
		return "", 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i+1], n, true
}
