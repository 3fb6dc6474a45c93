// Package advisories keeps vendor and regulator advisories (security advisories, field
// safety notices) that concern a manufacturer, a model and a range of firmware
// versions, and says which assets they affect. Advisories are few: they are kept in
// memory and matched against the in-memory asset registry when asked, so an asset is
// marked from the moment it reports an affected firmware, and unmarked when it
// reports a fixed one.
package advisories

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/docstore"
)

// Sources of advisories.
const (
	SourceVendor    = "VENDOR"
	SourceRegulator = "REGULATOR"
)

// Sources lists the sources; Severities the severities, least severe first.
var (
	Sources    = []string{SourceVendor, SourceRegulator}
	Severities = []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("advisory not found")
	ErrInvalid  = errors.New("invalid advisory")
)

// Advisory is one notice about a make, model and firmware range.
type Advisory struct {
	ID        string `bson:"_id"`
	Source    string `bson:"source"`
	Publisher string `bson:"publisher,omitempty"` // "FDA", "BSI", the vendor's PSIRT
	Reference string `bson:"reference"`           // e.g. ICSMA-26-012-01
	Title     string `bson:"title"`
	URL       string `bson:"url,omitempty"`
	Severity  string `bson:"severity"`
	// Manufacturer and Model it concerns; Model "*" means every model of the maker.
	Manufacturer string `bson:"manufacturer"`
	Model        string `bson:"model"`
	// Firmware is the affected range (see Range); "" or "*" means every version.
	Firmware    string    `bson:"firmware"`
	Remediation string    `bson:"remediation,omitempty"`
	PublishedAt time.Time `bson:"publishedAt,omitempty"`
	CreatedBy   string    `bson:"createdBy"`
	CreatedAt   time.Time `bson:"createdAt"`

	rng Range
}

// Match is how an advisory relates to one asset.
type Match int

// Matches.
const (
	NotAffected Match = iota
	// Unverified: the make and model match but the firmware is unknown or unreadable.
	Unverified
	Affected
)

func norm(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// Concerns reports whether the advisory names the asset's make and model.
func (a *Advisory) Concerns(manufacturer, model string) bool {
	return norm(a.Manufacturer) == norm(manufacturer) && (a.Model == "*" || norm(a.Model) == norm(model))
}

// Check says whether the advisory affects the asset.
func (a *Advisory) Check(x *assets.Asset) Match {
	if x.Manufacturer == "" || !a.Concerns(x.Manufacturer, x.Model) {
		return NotAffected
	}
	if x.FirmwareVersion == "" {
		return Unverified
	}
	v, err := ParseVersion(x.FirmwareVersion)
	if err != nil {
		return Unverified
	}
	if a.rng.Contains(v) {
		return Affected
	}
	return NotAffected
}

// Validate checks and normalises an advisory before it is stored.
func (a *Advisory) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	a.Source, a.Severity = strings.ToUpper(strings.TrimSpace(a.Source)), strings.ToUpper(strings.TrimSpace(a.Severity))
	a.Manufacturer, a.Model, a.Reference = strings.TrimSpace(a.Manufacturer), strings.TrimSpace(a.Model), strings.TrimSpace(a.Reference)
	if !slices.Contains(Sources, a.Source) {
		bad("source: %q is not VENDOR or REGULATOR", a.Source)
	}
	if !slices.Contains(Severities, a.Severity) {
		bad("severity: %q is not one of %s", a.Severity, strings.Join(Severities, ", "))
	}
	for _, f := range []struct{ name, v string }{{"manufacturer", a.Manufacturer}, {"model", a.Model}, {"reference", a.Reference}, {"title", a.Title}} {
		if f.v == "" {
			bad("%s is required", f.name)
		}
	}
	for _, f := range []struct{ name, v string }{{"manufacturer", a.Manufacturer}, {"model", a.Model}, {"reference", a.Reference},
		{"title", a.Title}, {"publisher", a.Publisher}, {"url", a.URL}, {"remediation", a.Remediation}} {
		if len(f.v) > 2000 {
			bad("%s: longer than 2000 characters", f.name)
		}
	}
	if a.URL != "" {
		if err := assets.CheckWebURL(a.URL); err != nil {
			bad("url: %v", err)
		}
	}
	r, err := ParseRange(a.Firmware)
	if err != nil {
		errs = append(errs, err)
	}
	a.rng = r
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("advisory: %w: %w", ErrInvalid, err)
	}
	return nil
}

// Service keeps the advisories.
type Service struct {
	docs docstore.Collection[Advisory]
	log  *slog.Logger
	now  func() time.Time

	mu   sync.RWMutex
	list []*Advisory // oldest first; published values are never modified
}

// Open loads the advisories of a database.
func Open(ctx context.Context, db *mongo.Database, log *slog.Logger, now func() time.Time) (*Service, error) {
	return New(ctx, docstore.Mongo[Advisory](db.Collection("advisories")), log, now)
}

// New loads the advisories kept in docs (docstore.Mem in tests).
func New(ctx context.Context, docs docstore.Collection[Advisory], log *slog.Logger, now func() time.Time) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{docs: docs, log: log.With("component", "advisories"), now: now}
	stored, err := docs.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading advisories: %w", err)
	}
	list := make([]*Advisory, len(stored))
	for i := range stored {
		list[i] = &stored[i]
	}
	for _, a := range list {
		if a.rng, err = ParseRange(a.Firmware); err != nil {
			// Stored by a version that parsed more: keep it, matching every version
			// errs on the side of telling biomed.
			s.log.Warn("advisory firmware range unreadable, treated as every version", "advisory", a.ID, "err", err)
			a.rng, _ = ParseRange("*")
		}
	}
	slices.SortFunc(list, func(a, b *Advisory) int { return a.CreatedAt.Compare(b.CreatedAt) })
	s.list = list
	return s, nil
}

// List returns every advisory, oldest first.
func (s *Service) List() []*Advisory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.list)
}

// Get returns one advisory.
func (s *Service) Get(id string) (*Advisory, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.list {
		if a.ID == id {
			return a, true
		}
	}
	return nil, false
}

// Add validates and stores an advisory.
func (s *Service) Add(ctx context.Context, a Advisory, actor string) (*Advisory, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	a.ID = "adv" + hex.EncodeToString(b)
	a.CreatedBy, a.CreatedAt = actor, s.now().UTC()
	if err := s.docs.Insert(ctx, a.ID, a); err != nil {
		return nil, fmt.Errorf("storing advisory %s: %w", a.Reference, err)
	}
	s.mu.Lock()
	s.list = append(slices.Clone(s.list), &a)
	s.mu.Unlock()
	s.log.Info("advisory added", "advisory", a.ID, "reference", a.Reference, "manufacturer", a.Manufacturer, "model", a.Model, "firmware", a.Firmware, "by", actor)
	return &a, nil
}

// Remove deletes an advisory (withdrawn, or entered in error).
func (s *Service) Remove(ctx context.Context, id, actor string) error {
	if _, ok := s.Get(id); !ok {
		return fmt.Errorf("advisory %q: %w", id, ErrNotFound)
	}
	if _, err := s.docs.Delete(ctx, id); err != nil {
		return fmt.Errorf("removing advisory %s: %w", id, err)
	}
	s.mu.Lock()
	s.list = slices.DeleteFunc(slices.Clone(s.list), func(a *Advisory) bool { return a.ID == id })
	s.mu.Unlock()
	s.log.Info("advisory removed", "advisory", id, "by", actor)
	return nil
}

// For returns the advisories affecting an asset.
func (s *Service) For(x *assets.Asset) []*Advisory {
	if x.Manufacturer == "" {
		return nil
	}
	var out []*Advisory
	for _, a := range s.List() {
		if a.Check(x) == Affected {
			out = append(out, a)
		}
	}
	return out
}

// Registry is what the service reads of the asset registry.
type Registry interface {
	Each(func(*assets.Asset))
}

// Assets returns the assets an advisory affects and those whose firmware could not be
// checked, in registry order.
func (s *Service) Assets(reg Registry, a *Advisory) (affected, unverified []*assets.Asset) {
	reg.Each(func(x *assets.Asset) {
		if x.Status == assets.StatusRetired {
			return
		}
		switch a.Check(x) {
		case Affected:
			affected = append(affected, x)
		case Unverified:
			unverified = append(unverified, x)
		}
	})
	return affected, unverified
}

// Tally counts, per advisory, affected and unverified assets in one pass over the
// registry (metrics): versions are parsed once per distinct firmware string.
func (s *Service) Tally(reg Registry) map[string][2]int {
	list := s.List()
	byMaker := map[string][]*Advisory{}
	for _, a := range list {
		k := norm(a.Manufacturer)
		byMaker[k] = append(byMaker[k], a)
	}
	out := make(map[string][2]int, len(list))
	for _, a := range list {
		out[a.ID] = [2]int{}
	}
	parsed := map[string]*Version{}
	reg.Each(func(x *assets.Asset) {
		cands := byMaker[norm(x.Manufacturer)]
		if len(cands) == 0 || x.Status == assets.StatusRetired {
			return
		}
		v, ok := parsed[x.FirmwareVersion]
		if !ok {
			if pv, err := ParseVersion(x.FirmwareVersion); err == nil {
				v = &pv
			}
			parsed[x.FirmwareVersion] = v
		}
		for _, a := range cands {
			if !a.Concerns(x.Manufacturer, x.Model) {
				continue
			}
			c := out[a.ID]
			switch {
			case v == nil:
				c[1]++
			case a.rng.Contains(*v):
				c[0]++
			}
			out[a.ID] = c
		}
	})
	return out
}
