package assets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Outcome is what applying one observation did to one asset.
type Outcome struct {
	Observation *observation.Observation
	// Asset is the asset after the change (a published, read-only snapshot).
	Asset *Asset
	// Created is true when the observation created the asset.
	Created bool
	// Duplicate is true when the observation was already applied (its id was: a
	// replay) and changed nothing.
	Duplicate bool
	// Stale is true when the observation is a state observation older than the state
	// its channel holds (it arrived late): it is not applied, so that state never
	// goes back in time, but it is not a duplicate either.
	Stale        bool
	StatusBefore Status
	// Raised and Cleared are conditions that became active or inactive on the asset.
	Raised  []string
	Cleared []string
	// Event is the condition of an EVENT observation (e.g. device.rebooted).
	Event string
}

// Options tune the service.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// SeenResolution is how far lastSeenAt may drift before a refresh is written.
	SeenResolution time.Duration
	// RestartGrace is how long devices loaded at start stay known without a refresh;
	// validity is only kept in memory between state changes.
	RestartGrace time.Duration
	// DefaultTTL applies to observations without validUntil.
	DefaultTTL time.Duration
	// Conditions defines what each condition code means for an asset's status (the
	// incident policy's, so status and priority agree); nil: the built-in ones.
	Conditions *observation.Registry
	// FeedOverlap is how far back of its last poll the change feed reads again
	// (default 10s): the clock skew between replicas plus the longest write.
	FeedOverlap time.Duration
}

// Service is the asset registry: an in-memory working set over the store. Published
// *Asset values are never modified; a change clones, persists, then swaps.
type Service struct {
	store Repository
	log   *slog.Logger
	opts  Options
	conds *observation.Registry

	// Background work (deleting replaced versions) stops with Close.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	compactN atomic.Bool // a compaction is running

	wmu sync.Mutex // serialises writers; guards ix
	ix  *index

	mu         sync.RWMutex // guards the published maps below
	assets     map[string]*Asset
	order      []string            // ids in creation order (stable pagination)
	dependents map[string][]string // upstream id -> ids of assets related to it
	pending    map[string]bool     // ids of assets with unresolved neighbours
	recalls    []*Recall           // by manufacturer+model, shown on every match
	counter    IncidentCounter     // incident history for risk, may be nil

	feedMu sync.Mutex // serialises Refresh; guards feedState
	feedState

	ownsMu sync.RWMutex
	owns   func(collector string) bool // nil: this replica judges every channel

	imports importJobs // CSV imports running outside the request that started them
}

// NewService loads every asset from the store.
func NewService(ctx context.Context, st Repository, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SeenResolution <= 0 {
		o.SeenResolution = 15 * time.Minute
	}
	if o.RestartGrace <= 0 {
		o.RestartGrace = 5 * time.Minute
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = 10 * time.Minute
	}
	if o.FeedOverlap <= 0 {
		o.FeedOverlap = 10 * time.Second
	}
	if o.Conditions == nil {
		o.Conditions = observation.DefaultConditions()
	}
	s := &Service{store: st, log: o.Logger.With("component", "assets"), opts: o, conds: o.Conditions, ix: newIndex(), assets: map[string]*Asset{}, dependents: map[string][]string{}, pending: map[string]bool{}}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.loadedAt = o.Now()
	all, err := st.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *Asset) int { return a.FirstSeenAt.Compare(b.FirstSeenAt) })
	grace := o.Now().Add(o.RestartGrace)
	for _, a := range all {
		for _, ch := range a.Channels {
			if !ch.Expired && ch.ValidUntil.Before(grace) {
				ch.ValidUntil = grace
			}
		}
		s.assets[a.ID] = a
		s.order = append(s.order, a.ID)
		s.indexRelations(nil, a)
		if a.MergedInto == "" {
			s.ix.add(a)
		}
	}
	if s.recalls, err = st.LoadRecalls(ctx); err != nil {
		return nil, err
	}
	s.log.Info("assets loaded", "count", len(all), "recalls", len(s.recalls))
	if s.store.StaleVersions() > 0 {
		s.startCompact()
	}
	return s, nil
}

// Close stops background work and waits for it; call it before closing the store.
func (s *Service) Close() {
	s.bgCancel()
	s.bg.Wait()
}

// startCompact deletes replaced versions in the background, one run at a time.
func (s *Service) startCompact() {
	if s.bgCtx.Err() != nil || !s.compactN.CompareAndSwap(false, true) {
		return
	}
	s.bg.Go(func() {
		defer s.compactN.Store(false)
		s.compact(s.bgCtx)
	})
}

// newID returns a time-ordered random asset id.
func newID(now time.Time) string {
	b := make([]byte, 5)
	rand.Read(b)
	return "a" + strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b)
}

// batch is the working state of one Apply call: clones of every asset touched.
type batch struct {
	s       *Service
	now     time.Time
	work    map[string]*Asset
	prev    map[string]int64 // stored version before this batch (0: new)
	changes map[string][]Change
	persist map[string]bool
	order   []string // touched ids, first-touch order
	created []string
}

func (s *Service) newBatch() *batch {
	return &batch{
		s: s, now: s.opts.Now(),
		work: map[string]*Asset{}, prev: map[string]int64{},
		changes: map[string][]Change{}, persist: map[string]bool{},
	}
}

func (b *batch) get(id string) *Asset {
	if a, ok := b.work[id]; ok {
		return a
	}
	b.s.mu.RLock()
	cur := b.s.assets[id]
	b.s.mu.RUnlock()
	if cur == nil {
		return nil
	}
	a := cur.Clone()
	b.work[id] = a
	b.prev[id] = cur.Version
	b.order = append(b.order, id)
	return a
}

func (b *batch) record(a *Asset, c Change) {
	c.AssetID = a.ID
	b.changes[a.ID] = append(b.changes[a.ID], c)
	b.persist[a.ID] = true
}

// Apply applies a batch of observations in order, persists every asset it changed,
// and only then publishes them. On error nothing is published and the caller may
// retry the whole batch.
func (s *Service) Apply(ctx context.Context, obs []observation.Observation, requestID string) ([]Outcome, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.newBatch()
	outs := make([]Outcome, 0, len(obs))
	for i := range obs {
		out, err := s.applyOne(ctx, b, &obs[i], requestID)
		if err != nil {
			s.rebuildIndex()
			return nil, err
		}
		outs = append(outs, out)
	}
	if len(b.created) > 0 {
		s.resolvePending(b)
	}
	if err := s.persist(ctx, b); err != nil {
		s.rebuildIndex()
		return nil, err
	}
	s.publish(b)
	for i := range outs {
		if outs[i].Asset != nil {
			outs[i].Asset = s.assets[outs[i].Asset.ID]
		}
	}
	return outs, nil
}

// rebuildIndex restores the writer index from the published assets after a failed
// batch left it pointing at unpublished changes (wmu held).
func (s *Service) rebuildIndex() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.ix.reset()
	for _, id := range s.order {
		if a := s.assets[id]; a.MergedInto == "" {
			s.ix.add(a)
		}
	}
}

func (s *Service) applyOne(ctx context.Context, b *batch, o *observation.Observation, requestID string) (Outcome, error) {
	out := Outcome{Observation: o}
	m := s.match(b, o)
	id, keys := m.id, m.keys
	var a *Asset
	if id == "" {
		if len(keys) == 0 {
			return out, fmt.Errorf("observation %s: no identifier", o.ID)
		}
		newID := newID(b.now)
		owner, err := s.store.Claim(ctx, keys[0].value, newID)
		if err != nil {
			return out, err
		}
		var loaded *Asset
		if owner != newID {
			// Another replica created this device first: load it and apply to it.
			loaded, err = s.store.Load(ctx, owner)
			if errors.Is(err, ErrNotFound) {
				// The claim outlived a failed creation: take it over.
				if err := s.store.Reclaim(ctx, keys[0].value, newID); err != nil {
					return out, err
				}
				owner = newID
			} else if err != nil {
				return out, err
			}
		}
		if owner != newID {
			s.mu.Lock()
			if _, ok := s.assets[owner]; !ok {
				s.order = append(s.order, owner)
			}
			s.indexRelations(s.assets[owner], loaded)
			s.assets[owner] = loaded
			s.mu.Unlock()
			if loaded.MergedInto == "" {
				s.ix.add(loaded)
			}
			a = b.get(s.survivor(owner))
		} else {
			a = &Asset{
				ID: newID, Class: ClassOther, Status: StatusUnknown,
				IPAddresses: []string{}, MACAddresses: []string{}, Sources: []string{},
				FirstSeenAt: o.ObservedAt, Site: o.Site,
				Authority: map[string]Authority{},
			}
			b.work[a.ID] = a
			b.prev[a.ID] = 0
			b.order = append(b.order, a.ID)
			b.created = append(b.created, a.ID)
			b.record(a, Change{At: o.ObservedAt, Source: string(o.Source), Actor: o.Collector, RequestID: requestID, Field: "created", After: describe(o)})
			out.Created = true
		}
	} else {
		a = b.get(id)
		for _, c := range m.same {
			if appliedTo(b.get(c), o) {
				out.Duplicate = true
			}
		}
	}
	if out.Duplicate || appliedTo(a, o) {
		out.Duplicate = true
		out.Asset = a
		return out, nil
	}
	if len(m.same) > 0 {
		var err error
		if a, err = s.mergeAll(ctx, b, a, m.same, o, requestID); err != nil {
			return out, err
		}
	}
	out.StatusBefore = a.Status
	if out.Created {
		out.StatusBefore = ""
	}
	before := a.ActiveConditions()
	chg := func(field, before, after string) {
		b.record(a, Change{At: o.ObservedAt, Source: string(o.Source), Actor: o.Collector, RequestID: requestID, Field: field, Before: before, After: after})
	}

	ch := a.channel(o.Collector, o.Source.Channel())
	v := judge(ch, o)
	if ch == nil {
		ch = &Channel{Collector: o.Collector, Channel: o.Source.Channel(), State: string(observation.StateUp)}
		a.Channels = append(a.Channels, ch)
		b.persist[a.ID] = true
	}
	ch.markApplied(o.ID)
	if v == verdictStale {
		// Older than the state this channel holds: applying it would roll the state
		// back. What it reported stays in the history.
		out.Stale = true
		if o.Condition != "" {
			chg(FieldLate, "", string(o.State)+" "+o.Condition)
		}
		out.Asset = a
		return out, nil
	}
	state := o.Kind != observation.KindEvent
	valid := o.ValidUntil
	if valid.IsZero() {
		valid = o.ObservedAt.Add(s.opts.DefaultTTL)
	}
	if state {
		ch.ObservedAt, ch.ValidUntil = o.ObservedAt, valid
	} else if valid.After(ch.ValidUntil) {
		// An event proves the device alive; it does not order state.
		ch.ValidUntil = valid
	}
	if ch.Expired {
		ch.Expired = false
		b.persist[a.ID] = true
	}
	if v == verdictApply {
		s.applyIdentity(b, a, o, chg)
		if len(o.Neighbors) > 0 {
			s.applyNeighbors(b, a, o, chg)
		}
	}
	if state {
		applyConditions(ch, o, s.conds)
	} else {
		out.Event = o.Condition
		chg(FieldEvent, "", o.Condition)
	}
	if v == verdictApply && o.PatientConnected != nil && a.PatientConnected != *o.PatientConnected {
		a.PatientConnected = *o.PatientConnected
		b.persist[a.ID] = true
	}
	if o.ObservedAt.After(a.LastSeenAt) {
		a.LastSeenAt = o.ObservedAt
		if a.LastSeenAt.Sub(a.persistedSeen) >= s.opts.SeenResolution {
			b.persist[a.ID] = true
		}
	}
	after := a.ActiveConditions()
	out.Raised, out.Cleared = diff(before, after)
	if len(out.Raised) > 0 || len(out.Cleared) > 0 {
		b.persist[a.ID] = true
	}
	if st := computeStatus(a, b.now, s.statusRule()); st != a.Status {
		chg("status", string(a.Status), string(st))
		a.Status = st
	}
	out.Asset = a
	return out, nil
}

// describe summarises how a device was first seen, for its creation record.
func describe(o *observation.Observation) string {
	s := string(o.Source)
	if o.Address != nil && o.Address.IP != "" {
		s += " at " + o.Address.IP
	}
	if o.Identity.SysName != "" {
		s += " as " + o.Identity.SysName
	}
	return s
}

// computeStatus derives the asset status from its channels: the worst state among the
// channels still valid, UNKNOWN when none is. Manual statuses stay. The validity of
// a channel whose collector the rule does not own (another replica hears that
// collector) is not this replica's to judge: it counts until its owner marks it
// expired. A channel's state is what its active conditions mean by the rule's
// definition of conditions, so re-rating a condition re-rates the assets it is on.
func computeStatus(a *Asset, now time.Time, rule statusRule) Status {
	owns := rule.owns
	if a.Status == StatusRetired || a.Status == StatusMaintenance {
		return a.Status
	}
	valid := false
	worst := observation.StateUp
	for _, ch := range a.Channels {
		if ch.Expired || ch.ValidUntil.Before(now) && (owns == nil || owns(ch.Collector)) {
			continue
		}
		valid = true
		if st := channelState(ch, rule.conds); worse(worst, st) {
			worst = st
		}
	}
	switch {
	case !valid:
		return StatusUnknown
	case worst == observation.StateDown:
		return StatusDown
	case worst == observation.StateDegraded:
		return StatusDegraded
	}
	return StatusOperational
}

func diff(before, after []string) (raised, cleared []string) {
	for _, c := range after {
		if !slices.Contains(before, c) {
			raised = append(raised, c)
		}
	}
	for _, c := range before {
		if !slices.Contains(after, c) {
			cleared = append(cleared, c)
		}
	}
	return raised, cleared
}

// persist writes every asset the batch changed. History that filled a bucket is
// sealed first (inserts); then new assets are inserted in bulk and changed ones
// replaced, one write per asset whatever the number of changes it got.
func (s *Service) persist(ctx context.Context, b *batch) error {
	var seals []bucketDoc
	var inserts []*Asset
	var updates []string
	for _, id := range b.order {
		if !b.persist[id] {
			continue
		}
		a := b.work[id]
		a.Version = b.prev[id] + 1
		// The time of the write, not of the batch: the change feed of other
		// replicas reads by it.
		a.UpdatedAt = s.opts.Now()
		seals = append(seals, appendHistory(a, b.changes[id])...)
		a.RiskScore = RiskScore(a)
		if b.prev[id] == 0 {
			inserts = append(inserts, a)
		} else {
			updates = append(updates, id)
		}
	}
	if len(seals) > 0 {
		if err := s.store.SealBuckets(ctx, seals); err != nil {
			return err
		}
	}
	if len(inserts) > 0 {
		if err := s.store.InsertMany(ctx, inserts); err != nil {
			return err
		}
	}
	var errs []error
	for _, id := range updates {
		a := b.work[id]
		if err := s.store.Save(ctx, a, b.prev[id]); err != nil {
			if errors.Is(err, ErrConflict) {
				s.reload(ctx, id)
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, id := range b.order {
		if b.persist[id] {
			b.work[id].persistedSeen = b.work[id].LastSeenAt
		}
	}
	// Deleting versions scans every partition it touches, so it waits until about
	// half the table is stale: each version then costs a few row reads to delete.
	s.mu.RLock()
	live := len(s.assets)
	s.mu.RUnlock()
	if s.store.StaleVersions() >= max(compactAfter, live) {
		s.startCompact()
	}
	return nil
}

// reload replaces a cached asset by the stored one after a concurrent write.
func (s *Service) reload(ctx context.Context, id string) {
	a, err := s.store.Load(ctx, id)
	if err != nil {
		s.log.Warn("reloading asset after conflict", "asset", id, "err", err)
		return
	}
	s.mu.Lock()
	s.indexRelations(s.assets[id], a)
	s.assets[id] = a
	s.mu.Unlock()
}

// publish swaps the batch's assets into the cache (wmu held).
func (s *Service) publish(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range b.order {
		a := b.work[id]
		prev, ok := s.assets[id]
		if !ok {
			s.order = append(s.order, id)
		}
		s.indexRelations(prev, a)
		s.assets[id] = a
	}
}
