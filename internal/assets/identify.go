package assets

import (
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Rank orders identifiers, strongest first (DESIGN §4).
type Rank int

// Identifier ranks; a lower number is stronger.
const (
	RankEUI64 Rank = iota
	RankSerial
	RankMAC
	RankSysName
	RankHL7App
	RankIP
	// RankAssetTag is the tag people assign; only imports and edits look it up.
	RankAssetTag
	// RankCollector names the record of a collector; only the collector tracker
	// looks it up, observations never carry it.
	RankCollector
)

// strong reports whether a match on this rank proves identity (and can justify a
// merge), as opposed to a hint that can move between devices (names, IPs).
func (r Rank) strong() bool { return r <= RankMAC }

// tagKey is the index key of an asset tag.
func tagKey(tag string) string {
	if t := norm(tag); t != "" {
		return "tag:" + t
	}
	return ""
}

// key is one identifier of a device, in the form stored in the index.
type key struct {
	rank  Rank
	value string
}

func (k key) String() string { return k.value }

// NormalizeMAC returns a MAC as lower-case colon-separated hex, or "" if it is not one
// or is a placeholder (all zeros, broadcast) that would merge unrelated devices.
func NormalizeMAC(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	hw, err := net.ParseMAC(s)
	if err != nil {
		// Bare hex (e.g. 0012a1b2c3d4) as some agents print it.
		h := strings.ToLower(strings.NewReplacer(":", "", "-", "", ".", "", " ", "").Replace(s))
		if len(h) != 12 {
			return ""
		}
		hw, err = net.ParseMAC(h[0:2] + ":" + h[2:4] + ":" + h[4:6] + ":" + h[6:8] + ":" + h[8:10] + ":" + h[10:12])
		if err != nil {
			return ""
		}
	}
	if len(hw) != 6 {
		return ""
	}
	out := hw.String()
	if out == "00:00:00:00:00:00" || out == "ff:ff:ff:ff:ff:ff" {
		return ""
	}
	return out
}

// NormalizeEUI64 returns an EUI-64 as 16 upper-case hex digits, or "".
func NormalizeEUI64(s string) string {
	h := strings.ToUpper(strings.NewReplacer(":", "", "-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(h) != 16 {
		return ""
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789ABCDEF", r) {
			return ""
		}
	}
	if h == "0000000000000000" || h == "FFFFFFFFFFFFFFFF" {
		return ""
	}
	return h
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// serialKey needs the manufacturer: the same serial from two manufacturers is two devices.
func serialKey(manufacturer, serial string) string {
	m, s := norm(manufacturer), norm(serial)
	if s == "" || m == "" {
		return ""
	}
	return "serial:" + m + ":" + s
}

// observationKeys returns the identifiers an observation carries, strongest first.
func observationKeys(o *observation.Observation) []key {
	var keys []key
	id := o.Identity
	if e := NormalizeEUI64(id.EUI64); e != "" {
		keys = append(keys, key{RankEUI64, "eui64:" + e})
	}
	if k := serialKey(id.Manufacturer, id.Serial); k != "" {
		keys = append(keys, key{RankSerial, k})
	}
	for _, m := range id.MACs {
		if n := NormalizeMAC(m); n != "" {
			keys = append(keys, key{RankMAC, "mac:" + n})
		}
	}
	if id.SysName != "" {
		keys = append(keys, key{RankSysName, "sysname:" + norm(o.Site) + ":" + norm(id.SysName)})
	}
	if id.HL7App != "" {
		keys = append(keys, key{RankHL7App, "hl7app:" + norm(o.Site) + ":" + norm(id.HL7App)})
	}
	if o.Address != nil && o.Address.IP != "" {
		keys = append(keys, key{RankIP, "ip:" + norm(o.Site) + ":" + o.Address.IP})
	}
	return keys
}

// assetKeys returns the identifiers an asset currently holds.
func assetKeys(a *Asset) []key {
	var keys []key
	if a.EUI64 != "" {
		keys = append(keys, key{RankEUI64, "eui64:" + a.EUI64})
	}
	if k := serialKey(a.Manufacturer, a.SerialNumber); k != "" {
		keys = append(keys, key{RankSerial, k})
	}
	for _, m := range a.MACAddresses {
		keys = append(keys, key{RankMAC, "mac:" + m})
	}
	if a.SysName != "" {
		keys = append(keys, key{RankSysName, "sysname:" + norm(a.Site) + ":" + norm(a.SysName)})
	}
	if a.HL7App != "" {
		keys = append(keys, key{RankHL7App, "hl7app:" + norm(a.Site) + ":" + norm(a.HL7App)})
	}
	for _, ip := range a.IPAddresses {
		keys = append(keys, key{RankIP, "ip:" + norm(a.Site) + ":" + ip})
	}
	if k := tagKey(a.Biomed.AssetTag); k != "" {
		keys = append(keys, key{RankAssetTag, k})
	}
	if k := collectorKey(a.CollectorName); k != "" {
		keys = append(keys, key{RankCollector, k})
	}
	return keys
}

// conflicts reports whether the observation and the asset disagree on an identifier
// that a device cannot change: then they are two devices, whatever weaker hints say.
// A MAC is not in this list: NICs get swapped, and a device has several.
func conflicts(o *observation.Observation, a *Asset) bool {
	if e := NormalizeEUI64(o.Identity.EUI64); e != "" && a.EUI64 != "" && e != a.EUI64 {
		return true
	}
	if o.Identity.Serial != "" && a.SerialNumber != "" &&
		norm(o.Identity.Manufacturer) != "" && norm(a.Manufacturer) != "" {
		if serialKey(o.Identity.Manufacturer, o.Identity.Serial) != serialKey(a.Manufacturer, a.SerialNumber) {
			return true
		}
	}
	return false
}

// index maps identifier keys to asset ids. It is rebuilt from the assets at start and
// kept in step with every write; it is only touched under the service's write lock.
type index struct {
	byKey map[string]string
	// shared knows every holder of a strong identifier or asset tag that two assets
	// hold at once (byKey names only one): an identity conflict, shown on both.
	shared *sharedKeys
}

// sharedKeys is read without the service's write lock (by the API), hence its own.
type sharedKeys struct {
	mu sync.RWMutex
	// holders of each key that was held twice at some point, until none holds it:
	// once a key is here, every asset that takes it is added, so the list is whole.
	holders map[string][]string
}

func newIndex() *index {
	return &index{byKey: map[string]string{}, shared: &sharedKeys{holders: map[string][]string{}}}
}

// reset empties the index for a rebuild, keeping the shared-key table readers hold.
func (ix *index) reset() {
	ix.byKey = map[string]string{}
	ix.shared.mu.Lock()
	ix.shared.holders = map[string][]string{}
	ix.shared.mu.Unlock()
}

func (ix *index) add(a *Asset) {
	for _, k := range assetKeys(a) {
		cur, held := ix.byKey[k.value]
		if k.rank.strong() || k.rank == RankAssetTag {
			ix.shared.add(k.value, cur, held && cur != a.ID, a.ID)
		}
		ix.byKey[k.value] = a.ID
	}
}

func (ix *index) remove(a *Asset) {
	for _, k := range assetKeys(a) {
		if ix.byKey[k.value] == a.ID {
			delete(ix.byKey, k.value)
		}
		if k.rank.strong() || k.rank == RankAssetTag {
			ix.shared.remove(k.value, a.ID)
		}
	}
}

// add records id as a holder of key when another asset (cur, if other) holds it too,
// or when the key is already known to be shared.
func (sk *sharedKeys) add(key, cur string, other bool, id string) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	list, known := sk.holders[key]
	if !known && !other {
		return
	}
	if other && !slices.Contains(list, cur) {
		list = append(list, cur)
	}
	if !slices.Contains(list, id) {
		list = append(list, id)
	}
	sk.holders[key] = list
}

func (sk *sharedKeys) remove(key, id string) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	list, ok := sk.holders[key]
	if !ok {
		return
	}
	if list = slices.DeleteFunc(slices.Clone(list), func(h string) bool { return h == id }); len(list) == 0 {
		delete(sk.holders, key)
	} else {
		sk.holders[key] = list
	}
}

// others returns the assets other than id that hold key.
func (sk *sharedKeys) others(key, id string) []string {
	sk.mu.RLock()
	defer sk.mu.RUnlock()
	var out []string
	for _, h := range sk.holders[key] {
		if h != id {
			out = append(out, h)
		}
	}
	return out
}

func (ix *index) lookup(k key) (string, bool) {
	id, ok := ix.byKey[k.value]
	return id, ok
}
