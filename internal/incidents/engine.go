package incidents

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// AssetSource is what the engine reads of the asset registry.
type AssetSource interface {
	Get(id string) (*assets.Asset, bool)
	Each(func(*assets.Asset))
	// Dependents returns the ids of assets with an upstream relation to id.
	Dependents(id string) []string
}

// Sink takes the notifications the engine writes and says to how many receivers; Write
// must be idempotent by Notification.ID (the engine writes the same notification again
// after a failure).
type Sink interface {
	Write(ctx context.Context, n *Notification) (int, error)
}

// Engine keeps incidents in step with the conditions active on assets. It is
// level-triggered: every pass compares what is active with what is open, so a missed
// edge, a crash between two writes or a restart converges on the next pass. Time-based
// transitions (holds, recovery, settling, notification waits) run in Tick.
type Engine struct {
	store   *Store
	assets  AssetSource
	policy  *Policy
	log     *slog.Logger
	now     func() time.Time
	sink    Sink
	maint   *Maintenance
	metrics *Metrics

	wmu   sync.Mutex                     // serialises writers
	track map[string]map[string]*tracker // asset id -> condition -> state (wmu)
	// recheck holds suppressed incidents whose upstream recovered, with when to
	// judge them again (wmu).
	recheck map[string]time.Time

	mu      sync.RWMutex
	all     map[string]*Incident // by id; published values are never modified
	order   []string             // ids in opening order
	open    map[string]string    // dedup key -> id of the incident holding it
	byAsset map[string][]string  // asset id -> ids of incidents holding a key
	linked  map[string][]string  // root incident id -> ids of incidents linked to it
	// quiet holds keys resolved by hand while still active: not reopened until the
	// condition clears.
	quiet map[string]bool

	feed feed // change feed from other replicas (feed.go)
}

// tracker is the engine's memory of one (asset, condition): when it became active or
// clear, and its recent state changes (for holds and flap detection). It is not
// persisted: after a restart holds start again, which errs towards waiting.
type tracker struct {
	active     bool
	since      time.Time // became active
	clearSince time.Time // became clear
	edges      []time.Time
	// upstreamAnswered: the observation that raised the condition says the device's
	// switch answered after the device went silent (observation.Observation.
	// UpstreamAnsweredAt), so no correlation wait is needed.
	upstreamAnswered bool
}

// EngineOptions are the engine's collaborators.
type EngineOptions struct {
	Policy *Policy
	Logger *slog.Logger
	Now    func() time.Time
	// Sink receives notifications (the outbox); nil records them on incidents only.
	Sink Sink
	// Maintenance holds the maintenance windows; nil means none.
	Maintenance *Maintenance
	// Metrics of SLA breaches and escalations; nil keeps them unregistered.
	Metrics *Metrics
}

// NewEngine loads incidents from the store.
func NewEngine(ctx context.Context, st *Store, src AssetSource, o EngineOptions) (*Engine, error) {
	if o.Policy == nil {
		o.Policy = DefaultPolicy()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	e := &Engine{
		store: st, assets: src, policy: o.Policy, log: o.Logger.With("component", "incidents"), now: o.Now,
		sink: o.Sink, maint: o.Maintenance, metrics: o.Metrics,
		track: map[string]map[string]*tracker{}, recheck: map[string]time.Time{},
		all: map[string]*Incident{}, open: map[string]string{}, byAsset: map[string][]string{},
		linked: map[string][]string{}, quiet: map[string]bool{},
	}
	e.feed.loadedAt, e.feed.overlap = o.Now(), 10*time.Second
	all, err := st.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *Incident) int { return a.OpenedAt.Compare(b.OpenedAt) })
	for _, i := range all {
		e.all[i.ID] = i
		e.order = append(e.order, i.ID)
		e.index(nil, i)
		if !i.holdsKey() && i.ResolvedWhileActive {
			e.quiet[i.Key()] = true
		}
	}
	e.log.Info("incidents loaded", "count", len(all), "open", len(e.open))
	return e, nil
}

// Policy returns the engine's policy.
func (e *Engine) Policy() *Policy { return e.policy }

// Maintenance returns the maintenance windows (nil if none were configured).
func (e *Engine) Maintenance() *Maintenance { return e.maint }

// index updates the indexes for a change from prev to cur (e.mu held).
func (e *Engine) index(prev, cur *Incident) {
	if prev != nil && prev.holdsKey() && !cur.holdsKey() {
		if e.open[prev.Key()] == prev.ID {
			delete(e.open, prev.Key())
		}
		ids := slices.DeleteFunc(slices.Clone(e.byAsset[prev.AssetID]), func(id string) bool { return id == prev.ID })
		if len(ids) == 0 {
			delete(e.byAsset, prev.AssetID)
		} else {
			e.byAsset[prev.AssetID] = ids
		}
	}
	if cur.holdsKey() {
		e.open[cur.Key()] = cur.ID
		if !slices.Contains(e.byAsset[cur.AssetID], cur.ID) {
			e.byAsset[cur.AssetID] = append(e.byAsset[cur.AssetID], cur.ID)
		}
	}
	if cur.RootID != "" && (prev == nil || prev.RootID != cur.RootID) {
		if prev != nil && prev.RootID != "" {
			e.linked[prev.RootID] = slices.DeleteFunc(slices.Clone(e.linked[prev.RootID]), func(id string) bool { return id == cur.ID })
		}
		e.linked[cur.RootID] = append(e.linked[cur.RootID], cur.ID)
	}
}

// publish swaps an incident into the cache and its indexes.
func (e *Engine) publish(i *Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, ok := e.all[i.ID]
	if !ok {
		e.order = append(e.order, i.ID)
	}
	e.all[i.ID] = i
	e.index(prev, i)
}

// keyHolder returns the incident holding the key (open or settling), or nil.
func (e *Engine) keyHolder(key string) *Incident {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if id, ok := e.open[key]; ok {
		return e.all[id]
	}
	return nil
}

// Handle reconciles the assets touched by applied observations.
func (e *Engine) Handle(ctx context.Context, outs []assets.Outcome) error {
	// One lock for the whole batch: a root is notified only once every consequence
	// in the same batch is linked to it.
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.now()
	var touched []*assets.Asset
	seen := map[string]bool{}
	var errs []error
	for _, o := range outs {
		if o.Duplicate || o.Asset == nil {
			continue
		}
		// The outcome's snapshot may be older than the registry's when a batch
		// touched the asset twice; the registry has the last word.
		a := o.Asset
		if cur, ok := e.assets.Get(a.ID); ok {
			a = cur
		}
		if !seen[a.ID] {
			seen[a.ID] = true
			touched = append(touched, a)
		}
		errs = append(errs, e.edges(ctx, a, o, now))
	}
	for _, a := range touched {
		if err := e.reconcile(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, e.notifyDue(ctx, e.now()))
	return errors.Join(errs...)
}

// edges steps the conditions one observation raised or cleared, at the time the
// collector observed them (e.wmu held). A batch can hold a whole failure: a collector
// replaying its spool after the cmdb was away sends "down" and "up" together, and
// reconciling only the final state would lose an incident that an uninterrupted cmdb
// opened. Event time keeps holds and flap windows as long as they really were.
func (e *Engine) edges(ctx context.Context, a *assets.Asset, o assets.Outcome, now time.Time) error {
	if len(o.Raised) == 0 && len(o.Cleared) == 0 {
		return nil
	}
	var errs []error
	for _, c := range o.Raised {
		at := e.edgeTime(a.ID, c, o, now)
		e.tracker(a.ID, c, true, at).upstreamAnswered = o.Observation != nil && o.Observation.UpstreamAnsweredAt != nil
		errs = append(errs, e.step(ctx, a, c, true, at))
	}
	for _, c := range o.Cleared {
		at := e.edgeTime(a.ID, c, o, now)
		if tr := e.track[a.ID][c]; tr != nil && tr.active {
			// A hold that ran out while the condition was still active opens its
			// incident before the condition clears, as Tick would have done.
			errs = append(errs, e.step(ctx, a, c, true, at))
		}
		errs = append(errs, e.step(ctx, a, c, false, at))
	}
	return errors.Join(errs...)
}

// edgeTime is when an observation changed a condition: its observedAt, never in the
// future and never before the condition's last recorded change (e.wmu held).
func (e *Engine) edgeTime(assetID, cond string, o assets.Outcome, now time.Time) time.Time {
	at := now
	if o.Observation != nil && !o.Observation.ObservedAt.IsZero() && o.Observation.ObservedAt.Before(now) {
		at = o.Observation.ObservedAt
	}
	if tr := e.track[assetID][cond]; tr != nil {
		last := tr.since
		if tr.clearSince.After(last) {
			last = tr.clearSince
		}
		if n := len(tr.edges); n > 0 && tr.edges[n-1].After(last) {
			last = tr.edges[n-1]
		}
		if at.Before(last) {
			at = last
		}
	}
	return at
}

// Run drives the time-based transitions every second and reconciles every asset on
// the policy's interval, until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	full := time.NewTicker(e.policy.Reconcile)
	defer full.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("incident timers", "err", err)
			}
		case <-full.C:
			if err := e.ReconcileAll(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("reconciling incidents", "err", err)
			}
		}
	}
}

// ReconcileAll compares every asset's active conditions with the open incidents.
func (e *Engine) ReconcileAll(ctx context.Context) error {
	var list []*assets.Asset
	e.assets.Each(func(a *assets.Asset) {
		e.mu.RLock()
		has := len(e.byAsset[a.ID]) > 0
		e.mu.RUnlock()
		if has || len(a.ActiveConditions()) > 0 {
			list = append(list, a)
		}
	})
	var errs []error
	for _, a := range list {
		if ctx.Err() != nil {
			break
		}
		if err := e.Reconcile(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	e.wmu.Lock()
	e.scheduleRechecks(e.now())
	e.wmu.Unlock()
	return errors.Join(errs...)
}

// Reconcile brings the incidents of one asset in step with its active conditions:
// holds start, incidents open, recover, reopen or are marked flapping.
func (e *Engine) Reconcile(ctx context.Context, a *assets.Asset) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.reconcile(ctx, a)
}

// reconcile is Reconcile with e.wmu held.
func (e *Engine) reconcile(ctx context.Context, a *assets.Asset) error {
	now := e.now()
	active := a.ActiveConditions()
	if a.Status == assets.StatusRetired {
		active = nil
	}
	conds := slices.Clone(active)
	e.mu.RLock()
	for _, id := range e.byAsset[a.ID] {
		if c := e.all[id].Condition; !slices.Contains(conds, c) {
			conds = append(conds, c)
		}
	}
	e.mu.RUnlock()
	for c := range e.track[a.ID] {
		if !slices.Contains(conds, c) {
			conds = append(conds, c)
		}
	}
	var errs []error
	for _, c := range conds {
		if err := e.step(ctx, a, c, slices.Contains(active, c), now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tracker returns the state of (asset, condition), recording a state change.
func (e *Engine) tracker(assetID, cond string, on bool, now time.Time) *tracker {
	m := e.track[assetID]
	if m == nil {
		m = map[string]*tracker{}
		e.track[assetID] = m
	}
	tr := m[cond]
	if tr == nil {
		tr = &tracker{active: on, since: now, clearSince: now}
		if on {
			tr.edges = []time.Time{now}
		}
		m[cond] = tr
	} else if tr.active != on {
		tr.active = on
		tr.edges = append(tr.edges, now)
		if on {
			tr.since = now
		} else {
			tr.clearSince = now
		}
	}
	cut := now.Add(-e.policy.Flap.Window)
	for len(tr.edges) > 0 && !tr.edges[0].After(cut) {
		tr.edges = tr.edges[1:]
	}
	return tr
}

// step applies the lifecycle to one (asset, condition) (e.wmu held).
func (e *Engine) step(ctx context.Context, a *assets.Asset, cond string, on bool, now time.Time) error {
	tr := e.tracker(a.ID, cond, on, now)
	key := dedupKey(a.ID, cond)
	inc := e.keyHolder(key)
	class := string(a.Class)
	f := stepFacts{on: on, now: now, since: tr.since, clearSince: tr.clearSince, edges: len(tr.edges),
		hold: e.policy.Hold.For(class), recoveryHold: e.policy.RecoveryHold.For(class),
		flapStable: e.policy.Flap.Stable, flapThreshold: e.policy.Flap.Threshold,
		consequence: func() bool { root, _ := e.suppressor(a, cond, ""); return root != "" }}
	if inc != nil {
		f.holder, f.settling, f.holderFlapping = true, inc.Settling(), inc.Flapping
	}
	if on && inc == nil {
		e.mu.RLock()
		f.quiet = e.quiet[key]
		e.mu.RUnlock()
	}
	if !on {
		e.mu.Lock()
		delete(e.quiet, key)
		e.mu.Unlock()
	}
	act := decide(f)
	var err error
	if act&actReopen != 0 {
		if inc, err = e.reopen(ctx, inc, now); err != nil {
			return err
		}
	}
	if act&actMarkFlapping != 0 && !inc.Flapping {
		if inc, err = e.markFlapping(ctx, inc, len(tr.edges), now); err != nil {
			return err
		}
	}
	if act&actOpen != 0 {
		return e.openIncident(ctx, a, cond, f.edges >= f.flapThreshold, len(tr.edges), now)
	}
	if act&actAutoResolve != 0 {
		return e.autoResolve(ctx, inc, now)
	}
	if act&actForget != 0 {
		delete(e.track[a.ID], cond)
		if len(e.track[a.ID]) == 0 {
			delete(e.track, a.ID)
		}
	}
	return nil
}

// Tick runs the time-based transitions that no observation triggers: holds and
// recovery holds that ran out, settled resolutions, notifications whose correlation
// wait or maintenance window is over.
func (e *Engine) Tick(ctx context.Context) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.now()
	var errs []error
	type due struct{ asset, cond string }
	var steps []due
	for id, m := range e.track {
		for c := range m {
			steps = append(steps, due{id, c})
		}
	}
	for _, d := range steps {
		tr := e.track[d.asset][d.cond]
		if tr == nil {
			continue
		}
		a, ok := e.assets.Get(d.asset)
		if !ok {
			delete(e.track, d.asset)
			continue
		}
		if err := e.step(ctx, a, d.cond, tr.active, now); err != nil {
			errs = append(errs, err)
		}
	}
	var settled []*Incident
	e.mu.RLock()
	for _, id := range e.open {
		if i := e.all[id]; i.Settling() && !i.SettleUntil.After(now) {
			settled = append(settled, i)
		}
	}
	e.mu.RUnlock()
	for _, i := range settled {
		if err := e.finalize(ctx, i, now); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, e.rechecks(ctx, now), e.notifyDue(ctx, now))
	return errors.Join(errs...)
}

// notifyDue notifies the open incidents nobody has been told of whose wait is over
// and that no maintenance window covers (e.wmu held).
func (e *Engine) notifyDue(ctx context.Context, now time.Time) error {
	var pending []*Incident
	e.mu.RLock()
	for _, id := range e.open {
		if i := e.all[id]; i.Open() && !i.Notified && !i.Suppressed && !i.NotifyAt.After(now) {
			pending = append(pending, i)
		}
	}
	e.mu.RUnlock()
	var errs []error
	slices.SortFunc(pending, func(a, b *Incident) int { return a.OpenedAt.Compare(b.OpenedAt) })
	for _, i := range pending {
		if e.inMaintenance(i, now) != nil {
			continue
		}
		inc := i.Clone()
		if err := e.notify(ctx, inc, NotifyOpened, "", now); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := e.save(ctx, inc, i, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Get returns an incident by id.
func (e *Engine) Get(id string) (*Incident, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	i, ok := e.all[id]
	return i, ok
}

func (e *Engine) get(id string) (*Incident, error) {
	if i, ok := e.Get(id); ok {
		return i, nil
	}
	return nil, errNotFound(id)
}
