package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// idSource makes observation ids unique across restarts: collector name, a random
// boot id, then a counter. The cmdb uses them to apply a replayed observation once.
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
