// Package rogue finds devices that appear on a clinical network segment without being
// known: seen on a collector range marked clinical, matching no fingerprint profile
// (class OTHER) and no allow-list entry. Such a device carries the derived condition
// security.rogue_device, which the incident engine turns into a security incident
// like any other condition: a Detector decorates the asset source the engine reads.
//
// The condition is derived, not stored on the asset, so it follows the allow list and
// the asset's class: approving the device's OUI, or a biomed engineer setting its class,
// clears it and the incident resolves by itself.
package rogue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/docstore"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// ErrNotFound means no allow-list entry has that id.
var ErrNotFound = errors.New("allow-list entry not found")

// Entry is an allow-list entry managed over the API (policy entries have id "policy:N").
type Entry struct {
	ID                  string `bson:"_id" json:"id"`
	incidents.AllowRule `bson:",inline" json:",inline"`
	CreatedBy           string    `bson:"createdBy" json:"createdBy"`
	CreatedAt           time.Time `bson:"createdAt" json:"createdAt"`
}

// sighting is whether an asset was last seen on a clinical range.
type sighting struct {
	AssetID  string    `bson:"_id"`
	Clinical bool      `bson:"clinical"`
	Since    time.Time `bson:"since"`
}

// Detector keeps the allow list and which assets sit on clinical ranges.
type Detector struct {
	policy *incidents.Policy
	log    *slog.Logger
	now    func() time.Time
	store  *Store

	mu       sync.RWMutex
	entries  []*Entry            // API-managed, oldest first
	clinical map[string]sighting // by asset id
}

// Store is where a Detector keeps the API-managed allow list and the sightings.
type Store struct {
	allow     docstore.Collection[Entry]
	sightings docstore.Collection[sighting]
}

// MongoStore keeps them in a database.
func MongoStore(db *mongo.Database) *Store {
	return &Store{allow: docstore.Mongo[Entry](db.Collection("rogue_allow")),
		sightings: docstore.Mongo[sighting](db.Collection("rogue_sightings"))}
}

// MemStore keeps them in memory (replays, tests).
func MemStore() *Store {
	return &Store{allow: docstore.Mem[Entry]("rogue_allow"), sightings: docstore.Mem[sighting]("rogue_sightings")}
}

// Options are a Detector's collaborators.
type Options struct {
	Policy *incidents.Policy
	Logger *slog.Logger
	Now    func() time.Time
	// Store persists the allow list and sightings; nil: DB's, or memory when DB is nil.
	Store *Store
	// DB persists the allow list and sightings when Store is nil.
	DB *mongo.Database
	// Entries seeds the API-managed allow list when both are nil.
	Entries []*Entry
}

// Open loads the allow list and sightings.
func Open(ctx context.Context, o Options) (*Detector, error) {
	if o.Policy == nil {
		o.Policy = incidents.DefaultPolicy()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Store != nil:
	case o.DB != nil:
		o.Store = MongoStore(o.DB)
	default:
		o.Store = MemStore()
		for _, e := range o.Entries {
			if err := o.Store.allow.Insert(ctx, e.ID, *e); err != nil {
				return nil, fmt.Errorf("seeding the rogue allow list: %w", err)
			}
		}
	}
	d := &Detector{policy: o.Policy, log: o.Logger.With("component", "rogue"), now: o.Now, store: o.Store,
		clinical: map[string]sighting{}}
	var err error
	if d.entries, err = o.Store.loadEntries(ctx); err != nil {
		return nil, err
	}
	list, err := o.Store.sightings.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading rogue sightings: %w", err)
	}
	for _, s := range list {
		d.clinical[s.AssetID] = s
	}
	return d, nil
}

// LoadEntries reads the API-managed allow list of a database (read only).
func LoadEntries(ctx context.Context, db *mongo.Database) ([]*Entry, error) {
	return MongoStore(db).loadEntries(ctx)
}

func (s *Store) loadEntries(ctx context.Context) ([]*Entry, error) {
	list, err := s.allow.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the rogue allow list: %w", err)
	}
	out := make([]*Entry, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	slices.SortFunc(out, func(a, b *Entry) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Observe records, for each applied observation that says which range it came from,
// whether its asset now sits on a clinical range. Only changes are written.
func (d *Detector) Observe(ctx context.Context, outs []assets.Outcome) error {
	var errs []error
	for _, o := range outs {
		if o.Asset == nil || o.Observation == nil || o.Duplicate || !fromRange(o.Observation) {
			continue
		}
		id, clinical := o.Asset.ID, o.Observation.Clinical
		d.mu.RLock()
		cur, known := d.clinical[id]
		d.mu.RUnlock()
		if known && cur.Clinical == clinical || !known && !clinical {
			continue
		}
		s := sighting{AssetID: id, Clinical: clinical, Since: o.Observation.ObservedAt}
		if err := d.store.sightings.Put(ctx, id, s); err != nil {
			errs = append(errs, fmt.Errorf("recording rogue sighting of %s: %w", id, err))
			continue
		}
		d.mu.Lock()
		d.clinical[id] = s
		d.mu.Unlock()
		if clinical && d.Rogue(o.Asset) {
			d.log.Warn("unknown device on a clinical range", "asset", id, "ip", first(o.Asset.IPAddresses),
				"mac", first(o.Asset.MACAddresses), "sysObjectID", o.Asset.SysObjectID)
		}
	}
	return errors.Join(errs...)
}

// fromRange: polls and sweeps come from a range (or static target) whose clinical
// flag they carry; traps, HL7 and imports say nothing about ranges.
func fromRange(o *observation.Observation) bool {
	return (o.Source == observation.SourceSNMPPoll || o.Source == observation.SourceSNMPSweep) && o.Address != nil && o.Address.IP != ""
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Rogue reports whether the asset is a rogue device now.
func (d *Detector) Rogue(a *assets.Asset) bool {
	if !d.policy.Rogue.Enabled || a.Class != assets.ClassOther || a.Status == assets.StatusRetired {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.clinical[a.ID].Clinical {
		return false
	}
	return d.allowedLocked(a) == ""
}

// Allowed returns what approves the asset ("policy:2", an entry id), or "".
func (d *Detector) Allowed(a *assets.Asset) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.allowedLocked(a)
}

func (d *Detector) allowedLocked(a *assets.Asset) string {
	for i := range d.policy.Rogue.Allow {
		if d.policy.Rogue.Allow[i].Matches(a.MACAddresses, a.SysObjectID) {
			return fmt.Sprintf("policy:%d", i)
		}
	}
	for _, e := range d.entries {
		if e.Matches(a.MACAddresses, a.SysObjectID) {
			return e.ID
		}
	}
	return ""
}

// Entries returns the allow list: the policy's entries, then the API-managed ones.
func (d *Detector) Entries() []*Entry {
	var out []*Entry
	for i, r := range d.policy.Rogue.Allow {
		out = append(out, &Entry{ID: fmt.Sprintf("policy:%d", i), AllowRule: r, CreatedBy: "policy"})
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append(out, d.entries...)
}

// Add stores an allow-list entry.
func (d *Detector) Add(ctx context.Context, r incidents.AllowRule, actor string) (*Entry, error) {
	if err := r.Normalize(); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	e := &Entry{ID: "al" + hex.EncodeToString(b), AllowRule: r, CreatedBy: actor, CreatedAt: d.now().UTC()}
	if err := d.store.allow.Insert(ctx, e.ID, *e); err != nil {
		return nil, fmt.Errorf("storing allow-list entry: %w", err)
	}
	d.mu.Lock()
	d.entries = append(slices.Clone(d.entries), e)
	d.mu.Unlock()
	d.log.Info("allow-list entry added", "entry", e.ID, "mac", r.MAC, "oui", r.OUI, "sysObjectIDPrefix", r.SysObjectIDPrefix, "by", actor)
	return e, nil
}

// Remove deletes an API-managed allow-list entry.
func (d *Detector) Remove(ctx context.Context, id, actor string) error {
	d.mu.RLock()
	found := slices.ContainsFunc(d.entries, func(e *Entry) bool { return e.ID == id })
	d.mu.RUnlock()
	if !found {
		return fmt.Errorf("allow-list entry %q (policy entries are removed from the policy file): %w", id, ErrNotFound)
	}
	if _, err := d.store.allow.Delete(ctx, id); err != nil {
		return fmt.Errorf("removing allow-list entry %s: %w", id, err)
	}
	d.mu.Lock()
	d.entries = slices.DeleteFunc(slices.Clone(d.entries), func(e *Entry) bool { return e.ID == id })
	d.mu.Unlock()
	d.log.Info("allow-list entry removed", "entry", id, "by", actor)
	return nil
}

// Registry is what the detector reads of the asset registry.
type Registry interface {
	Get(id string) (*assets.Asset, bool)
}

// Rogues returns the assets that are rogue now, in no particular order.
func (d *Detector) Rogues(reg Registry) []*assets.Asset {
	d.mu.RLock()
	var ids []string
	for id, s := range d.clinical {
		if s.Clinical {
			ids = append(ids, id)
		}
	}
	d.mu.RUnlock()
	slices.Sort(ids)
	var out []*assets.Asset
	for _, id := range ids {
		if a, ok := reg.Get(id); ok && a.ID == id && d.Rogue(a) {
			out = append(out, a)
		}
	}
	return out
}

// Source wraps the asset source the incident engine reads, adding the rogue
// condition to rogue devices.
func (d *Detector) Source(inner incidents.AssetSource) incidents.AssetSource {
	return &source{d: d, inner: inner}
}

type source struct {
	d     *Detector
	inner incidents.AssetSource
}

func (s *source) Get(id string) (*assets.Asset, bool) {
	a, ok := s.inner.Get(id)
	if ok {
		a = s.d.decorate(a)
	}
	return a, ok
}

func (s *source) Each(fn func(*assets.Asset)) {
	s.inner.Each(func(a *assets.Asset) { fn(s.d.decorate(a)) })
}

func (s *source) Dependents(id string) []string { return s.inner.Dependents(id) }

// decorate returns a copy of a rogue asset with the rogue condition on a channel of
// its own; other assets are returned as they are (published assets are immutable).
func (d *Detector) decorate(a *assets.Asset) *assets.Asset {
	if !d.Rogue(a) {
		return a
	}
	c := a.Clone()
	c.Channels = append(c.Channels, &assets.Channel{Collector: "cmdb", Channel: "security",
		State: string(observation.StateDegraded), Conditions: []string{observation.CondRogueDevice}})
	return c
}
