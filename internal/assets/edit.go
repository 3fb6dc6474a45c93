package assets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalid means an edit or import row is malformed; the message says which field.
var ErrInvalid = errors.New("invalid")

// ErrIdentityConflict means an edit would give an asset an identifier another asset
// holds (an EUI-64, manufacturer+serial, MAC or asset tag).
var ErrIdentityConflict = errors.New("identifier belongs to another asset")

// Edit is a change people make to an asset (updateAsset, a CSV import row). Nil
// fields stay as they are; an empty string or zero date clears the field.
type Edit struct {
	Name, Manufacturer, Model, SerialNumber, EUI64, FirmwareVersion, Site *string
	Class                                                                 *Class
	Building, Floor, Unit, CareArea, Room, Bed                            *string
	AssetTag, Owner, SupportGroup, Notes                                  *string
	InstallDate, WarrantyEnd, LastPM                                      *time.Time
	PMIntervalDays                                                        *int
	// MACs replaces the asset's MAC addresses.
	MACs *[]string
	// Status RETIRED or MAINTENANCE sets that status; any other status hands the
	// status back to discovery.
	Status *Status
	// Release hands fields back to discovery: their authority drops so the next
	// observation may set them again.
	Release []string
}

// Limits on what people may type.
const (
	maxFieldLen = 200
	maxNotesLen = 4000
	maxPMDays   = 3650
)

type fieldChange struct{ field, before, after string }

// editField is one string field of an Edit with its asset attribute name.
func (e *Edit) stringEdits() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{
		{"name", e.Name}, {"manufacturer", e.Manufacturer}, {"model", e.Model},
		{"serialNumber", e.SerialNumber}, {"eui64", e.EUI64}, {"firmwareVersion", e.FirmwareVersion},
		{"site", e.Site}, {"location.building", e.Building}, {"location.floor", e.Floor},
		{"location.unit", e.Unit}, {"location.careArea", e.CareArea}, {"location.room", e.Room},
		{"location.bed", e.Bed}, {"assetTag", e.AssetTag}, {"owner", e.Owner},
		{"supportGroup", e.SupportGroup}, {"notes", e.Notes},
	}
}

// Validate checks an edit without an asset, so a bad one is refused whole.
func (e *Edit) Validate() error {
	var errs []error
	for _, f := range e.stringEdits() {
		if f.v == nil {
			continue
		}
		limit := maxFieldLen
		if f.name == "notes" {
			limit = maxNotesLen
		}
		if len(*f.v) > limit {
			errs = append(errs, fmt.Errorf("%s: longer than %d characters", f.name, limit))
		}
		if strings.ContainsFunc(*f.v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
			errs = append(errs, fmt.Errorf("%s: control characters are not allowed", f.name))
		}
	}
	if e.EUI64 != nil && *e.EUI64 != "" && NormalizeEUI64(*e.EUI64) == "" {
		errs = append(errs, fmt.Errorf("eui64 %q: want 16 hex digits", *e.EUI64))
	}
	if e.Class != nil && !e.Class.Valid() {
		errs = append(errs, fmt.Errorf("class %q: want one of %v", *e.Class, Classes))
	}
	if e.Status != nil && !slices.Contains(Statuses, *e.Status) {
		errs = append(errs, fmt.Errorf("status %q: want one of %v", *e.Status, Statuses))
	}
	if e.PMIntervalDays != nil && (*e.PMIntervalDays < 0 || *e.PMIntervalDays > maxPMDays) {
		errs = append(errs, fmt.Errorf("pmIntervalDays %d: want 0..%d", *e.PMIntervalDays, maxPMDays))
	}
	for _, d := range []struct {
		name string
		v    *time.Time
	}{{"installDate", e.InstallDate}, {"warrantyEnd", e.WarrantyEnd}, {"lastPM", e.LastPM}} {
		if d.v != nil && !d.v.IsZero() && (d.v.Year() < 1950 || d.v.Year() > 2200) {
			errs = append(errs, fmt.Errorf("%s %s: out of range", d.name, formatDate(*d.v)))
		}
	}
	if e.MACs != nil {
		for _, m := range *e.MACs {
			if NormalizeMAC(m) == "" {
				errs = append(errs, fmt.Errorf("mac %q: not a MAC address", m))
			}
		}
	}
	for _, f := range e.Release {
		if !releasable(f) {
			errs = append(errs, fmt.Errorf("release %q: not a field discovery sets", f))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func releasable(f string) bool {
	if f == "class" {
		return true
	}
	return slices.ContainsFunc(stringFields(&Asset{}), func(n namedField) bool { return n.name == f })
}

// applyEdit applies a validated edit with authority auth; a field a stronger source
// set is left alone. It returns the changes made.
func applyEdit(a *Asset, e *Edit, auth Authority, now time.Time, rule statusRule) []fieldChange {
	var out []fieldChange
	set := func(name string, cur *string, val string) {
		k := authorityKey(name)
		if a.Authority[k] > auth {
			return
		}
		a.Authority[k] = auth
		if *cur != val {
			out = append(out, fieldChange{name, *cur, val})
			*cur = val
		}
	}
	for _, f := range e.stringEdits() {
		if f.v == nil {
			continue
		}
		v := strings.TrimSpace(*f.v)
		if f.name == "eui64" {
			v = NormalizeEUI64(v)
		}
		set(f.name, fieldOf(a, f.name), v)
	}
	if e.Class != nil {
		set("class", (*string)(&a.Class), string(*e.Class))
	}
	edits := []*time.Time{e.InstallDate, e.WarrantyEnd, e.LastPM}
	for i, f := range dateFields(a) {
		v := edits[i]
		if v == nil || a.Authority[f.name] > auth {
			continue
		}
		a.Authority[f.name] = auth
		if d := dateOnly(*v); !d.Equal(*f.p) {
			out = append(out, fieldChange{f.name, formatDate(*f.p), formatDate(d)})
			*f.p = d
		}
	}
	if e.PMIntervalDays != nil && a.Authority["pmIntervalDays"] <= auth && *e.PMIntervalDays != a.Biomed.PMIntervalDays {
		a.Authority["pmIntervalDays"] = auth
		out = append(out, fieldChange{"pmIntervalDays", itoa(a.Biomed.PMIntervalDays), itoa(*e.PMIntervalDays)})
		a.Biomed.PMIntervalDays = *e.PMIntervalDays
	}
	if e.MACs != nil && a.Authority["macAddresses"] <= auth {
		macs := []string{}
		for _, m := range *e.MACs {
			if n := NormalizeMAC(m); n != "" && !slices.Contains(macs, n) {
				macs = append(macs, n)
			}
		}
		slices.Sort(macs)
		if b, n := strings.Join(a.MACAddresses, ","), strings.Join(macs, ","); b != n {
			out = append(out, fieldChange{"macAddresses", b, n})
			a.MACAddresses = macs
		}
		a.Authority["macAddresses"] = auth
	}
	if e.Status != nil {
		out = append(out, setStatus(a, *e.Status, now, rule)...)
	}
	for _, f := range e.Release {
		delete(a.Authority, authorityKey(f))
	}
	if a.Name == "" || a.Authority["name"] <= AuthInferred {
		if n := displayName(a); n != a.Name {
			out = append(out, fieldChange{"name", a.Name, n})
			a.Name = n
		}
	}
	return out
}

// setStatus applies a status people chose: RETIRED and MAINTENANCE stick until
// changed by hand; any other value returns the status to what discovery says.
func setStatus(a *Asset, st Status, now time.Time, rule statusRule) []fieldChange {
	var out []fieldChange
	before := a.Status
	switch st {
	case StatusRetired:
		a.Status = StatusRetired
		if a.Biomed.RetiredAt.IsZero() {
			a.Biomed.RetiredAt = now
			out = append(out, fieldChange{"retiredAt", "", formatDate(now)})
		}
	case StatusMaintenance:
		a.Status = StatusMaintenance
	default:
		if !a.Biomed.RetiredAt.IsZero() {
			out = append(out, fieldChange{"retiredAt", formatDate(a.Biomed.RetiredAt), ""})
			a.Biomed.RetiredAt = time.Time{}
		}
		a.Status = StatusUnknown
		a.Status = computeStatus(a, now, rule)
	}
	if a.Status != before {
		out = append([]fieldChange{{"status", string(before), string(a.Status)}}, out...)
	}
	return out
}

func dateOnly(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// keyConflict returns an error naming another asset that holds one of the strong
// identifiers or the asset tag that a takes and before (its previous version, nil for
// a new asset) did not hold (ix must not hold a's own keys). Identifiers the asset
// already shared with another one are not its edit's doing: discovery found two
// devices that claim the same serial, say. They are shown (IdentityConflicts), and
// never block an edit of its notes.
func (s *Service) keyConflict(before, a *Asset) error {
	var had []key
	if before != nil {
		had = assetKeys(before)
	}
	for _, k := range assetKeys(a) {
		if (!k.rank.strong() && k.rank != RankAssetTag) || slices.Contains(had, k) {
			continue
		}
		if other, ok := s.ix.lookup(k); ok && other != a.ID {
			return fmt.Errorf("%s of asset %s: %w (%s)", k.value, a.ID, ErrIdentityConflict, other)
		}
	}
	return nil
}

// IdentityConflict is an identifier that another asset holds too.
type IdentityConflict struct {
	// Identifier is eui64, manufacturer+serial, mac or assetTag.
	Identifier string
	// Value is the asset's own value of it.
	Value string
	// Assets are the other assets that hold it.
	Assets []string
}

// IdentityConflicts lists a's strong identifiers and asset tag that other assets hold
// too: two records that may be one device (merge them) or two devices that claim one
// identity (fix one). It reads no store and takes no write lock.
func (s *Service) IdentityConflicts(a *Asset) []IdentityConflict {
	out := []IdentityConflict{}
	if a == nil || a.MergedInto != "" {
		return out
	}
	for _, k := range assetKeys(a) {
		var name, value string
		switch k.rank {
		case RankEUI64:
			name, value = "eui64", a.EUI64
		case RankSerial:
			name, value = "manufacturer+serial", a.Manufacturer+" "+a.SerialNumber
		case RankMAC:
			name, value = "mac", strings.TrimPrefix(k.value, "mac:")
		case RankAssetTag:
			name, value = "assetTag", a.Biomed.AssetTag
		default:
			continue
		}
		if others := s.ix.shared.others(k.value, a.ID); len(others) > 0 {
			slices.Sort(others)
			out = append(out, IdentityConflict{Identifier: name, Value: value, Assets: others})
		}
	}
	return out
}

// Update applies a person's edit to an asset, with manual authority: discovery never
// undoes it. Every change is in the history with actor.
func (s *Service) Update(ctx context.Context, id string, e Edit, actor, requestID string) (*Asset, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return s.edit(ctx, id, func(b *batch, a *Asset) error {
		for _, c := range applyEdit(a, &e, AuthManual, b.now, s.statusRule()) {
			b.record(a, Change{At: b.now, Source: "MANUAL", Actor: actor, RequestID: requestID, Field: c.field, Before: c.before, After: c.after})
		}
		return nil
	})
}

// edit runs fn on a working copy of one asset and persists the result, or nothing if
// fn or the identity check fails.
func (s *Service) edit(ctx context.Context, id string, fn func(*batch, *Asset) error) (*Asset, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.newBatch()
	a := b.get(s.survivor(id))
	if a == nil {
		return nil, fmt.Errorf("asset %q: %w", id, ErrNotFound)
	}
	pub, _ := s.getRaw(a.ID)
	s.ix.remove(pub)
	restore := func() { s.ix.remove(a); s.ix.add(pub) }
	if err := fn(b, a); err != nil {
		restore()
		return nil, err
	}
	if err := s.keyConflict(pub, a); err != nil {
		restore()
		return nil, err
	}
	s.ix.add(a)
	if err := s.persist(ctx, b); err != nil {
		s.rebuildIndex()
		return nil, err
	}
	s.publish(b)
	got, _ := s.getRaw(a.ID)
	return got, nil
}
