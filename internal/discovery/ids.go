package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// idSource makes observation ids unique across restarts: "<collector>-<boot>-<seq>",
// the collector name, a random boot id, then a counter from 1 in decimal. The cmdb
// applies a replayed observation once by its id alone: per asset channel it keeps,
// for each stream ("<collector>-<boot>-"), the seqs it applied (assets/applied.go).
// Seqs need not arrive in order; they must never repeat within a stream, and one
// device's observations should reach the cmdb roughly in seq order (the spool is a
// queue; a trap sender's datagrams are decoded in order), which keeps that record a
// few ranges long.
type idSource struct {
	prefix string
	seq    atomic.Uint64
}

func newIDSource(collector string) *idSource {
	b := make([]byte, 6)
	rand.Read(b)
	return &idSource{prefix: collector + "-" + hex.EncodeToString(b) + "-"}
}

func (s *idSource) next() string {
	return s.prefix + strconv.FormatUint(s.seq.Add(1), 10)
}
