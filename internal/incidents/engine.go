package incidents

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
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// AssetSource is what the engine reads of the asset registry.
type AssetSource interface {
	Get(id string) (*assets.Asset, bool)
	Each(func(*assets.Asset))
}

// Engine keeps incidents in step with the conditions active on assets. It is
// level-triggered: every pass compares what is active with what is open, so a missed
// edge, a crash between two writes or a restart converges on the next pass.
type Engine struct {
	store  *Store
	assets AssetSource
	policy *Policy
	log    *slog.Logger
	now    func() time.Time

	wmu sync.Mutex // serialises writers

	mu      sync.RWMutex
	all     map[string]*Incident // by id; published values are never modified
	order   []string             // ids in opening order
	open    map[string]string    // dedup key -> open incident id
	byAsset map[string][]string  // asset id -> open incident ids
	// quiet holds keys resolved by hand while still active: not reopened until the
	// condition clears.
	quiet map[string]bool
}

// EngineOptions are the engine's collaborators.
type EngineOptions struct {
	Policy *Policy
	Logger *slog.Logger
	Now    func() time.Time
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
	e := &Engine{
		store: st, assets: src, policy: o.Policy, log: o.Logger.With("component", "incidents"), now: o.Now,
		all: map[string]*Incident{}, open: map[string]string{}, byAsset: map[string][]string{}, quiet: map[string]bool{},
	}
	all, err := st.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *Incident) int { return a.OpenedAt.Compare(b.OpenedAt) })
	for _, i := range all {
		e.all[i.ID] = i
		e.order = append(e.order, i.ID)
		if i.Open() {
			e.indexOpen(i)
		} else if i.ResolvedWhileActive {
			e.quiet[i.Key()] = true
		}
	}
	e.log.Info("incidents loaded", "count", len(all), "open", len(e.open))
	return e, nil
}

// Policy returns the engine's policy.
func (e *Engine) Policy() *Policy { return e.policy }

func (e *Engine) indexOpen(i *Incident) {
	e.open[i.Key()] = i.ID
	if !slices.Contains(e.byAsset[i.AssetID], i.ID) {
		e.byAsset[i.AssetID] = append(e.byAsset[i.AssetID], i.ID)
	}
}

func (e *Engine) unindexOpen(i *Incident) {
	if e.open[i.Key()] == i.ID {
		delete(e.open, i.Key())
	}
	ids := slices.DeleteFunc(slices.Clone(e.byAsset[i.AssetID]), func(id string) bool { return id == i.ID })
	if len(ids) == 0 {
		delete(e.byAsset, i.AssetID)
	} else {
		e.byAsset[i.AssetID] = ids
	}
}

// publish swaps an incident into the cache and its indexes.
func (e *Engine) publish(i *Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.all[i.ID]; !ok {
		e.order = append(e.order, i.ID)
	}
	e.all[i.ID] = i
	if i.Open() {
		e.indexOpen(i)
	} else {
		e.unindexOpen(i)
	}
}

// Handle reconciles the assets touched by applied observations.
func (e *Engine) Handle(ctx context.Context, outs []assets.Outcome) error {
	seen := map[string]bool{}
	var errs []error
	for _, o := range outs {
		if o.Duplicate || o.Asset == nil || seen[o.Asset.ID] {
			continue
		}
		seen[o.Asset.ID] = true
		if err := e.Reconcile(ctx, o.Asset); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run reconciles every asset on the policy's interval until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.policy.Reconcile)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
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
	return errors.Join(errs...)
}

// Reconcile opens an incident for every active condition of the asset that has none,
// and resolves open incidents whose condition is no longer active.
func (e *Engine) Reconcile(ctx context.Context, a *assets.Asset) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	active := a.ActiveConditions()
	if a.Status == assets.StatusRetired {
		active = nil
	}
	var errs []error
	e.mu.RLock()
	openIDs := slices.Clone(e.byAsset[a.ID])
	e.mu.RUnlock()
	for _, id := range openIDs {
		e.mu.RLock()
		inc := e.all[id]
		e.mu.RUnlock()
		if inc != nil && inc.Open() && !slices.Contains(active, inc.Condition) {
			if _, err := e.resolve(ctx, inc, "rule:auto-resolve", EventAutoResolved, "condition cleared", false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, c := range active {
		key := dedupKey(a.ID, c)
		e.mu.RLock()
		_, isOpen := e.open[key]
		quiet := e.quiet[key]
		e.mu.RUnlock()
		if isOpen || quiet {
			continue
		}
		if err := e.openIncident(ctx, a, c); err != nil {
			errs = append(errs, err)
		}
	}
	// A condition that cleared may be reported again later: it is news again.
	e.mu.Lock()
	for key := range e.quiet {
		if len(key) > len(a.ID) && key[:len(a.ID)+1] == a.ID+"|" && !slices.Contains(active, key[len(a.ID)+1:]) {
			delete(e.quiet, key)
		}
	}
	e.mu.Unlock()
	return errors.Join(errs...)
}

func newIncidentID(now time.Time) string {
	b := make([]byte, 5)
	rand.Read(b)
	return "i" + strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b)
}

// openIncident creates the incident for (asset, condition), or adopts the one another
// replica created first (e.wmu held).
func (e *Engine) openIncident(ctx context.Context, a *assets.Asset, condition string) error {
	now := e.now()
	key := dedupKey(a.ID, condition)
	id := newIncidentID(now)
	for attempt := 0; ; attempt++ {
		owner, err := e.store.ClaimKey(ctx, key, id)
		if err != nil {
			return err
		}
		if owner == id {
			break
		}
		existing, err := e.store.Load(ctx, owner)
		if err == nil && existing.Open() {
			e.publish(existing)
			return nil
		}
		if attempt > 0 || (err != nil && !errors.Is(err, ErrNotFound)) {
			return fmt.Errorf("incident key %s held by %s: %v", key, owner, err)
		}
		// A stale key (its incident resolved, or never written): free it and retry.
		if err := e.store.ReleaseKey(ctx, key); err != nil {
			return err
		}
	}
	n, err := e.store.NextNumber(ctx)
	if err != nil {
		_ = e.store.ReleaseKey(ctx, key)
		return err
	}
	w := e.policy.Weigh(Context{Class: string(a.Class), CareArea: a.Location.CareArea, Condition: condition, PatientConnected: a.PatientConnected})
	sla := e.policy.SLA[w.Priority]
	inc := &Incident{
		ID: id, Number: fmt.Sprintf("INC%07d", n), Title: title(a, condition),
		AssetID: a.ID, Condition: condition,
		Priority: w.Priority, Impact: w.Impact, Urgency: w.Urgency, PriorityReason: w.Reason,
		State: StateOpen, OpenedAt: now,
		AckDueAt: now.Add(sla.Acknowledge), ResolveDueAt: now.Add(sla.Restore),
		Site: a.Site, CareArea: a.Location.CareArea, Class: string(a.Class),
		Version: 1, UpdatedAt: now,
	}
	inc.addEvent(Event{At: now, Kind: EventOpened, Actor: "rule:condition", Note: w.Reason})
	if err := e.store.Save(ctx, inc, 0); err != nil {
		_ = e.store.ReleaseKey(ctx, key)
		return err
	}
	e.publish(inc)
	e.log.Info("incident opened", "incident", inc.Number, "asset", a.ID, "name", a.Name, "condition", condition, "priority", inc.Priority)
	return nil
}

// resolve closes an incident (e.wmu held).
func (e *Engine) resolve(ctx context.Context, cur *Incident, actor, kind, note string, stillActive bool) (*Incident, error) {
	now := e.now()
	inc := cur.Clone()
	inc.State = StateResolved
	inc.ResolvedAt = &now
	inc.ResolvedWhileActive = stillActive
	inc.Version++
	inc.UpdatedAt = now
	inc.addEvent(Event{At: now, Kind: kind, Actor: actor, Note: note})
	if err := e.store.Save(ctx, inc, cur.Version); err != nil {
		return nil, err
	}
	if err := e.store.ReleaseKey(ctx, inc.Key()); err != nil {
		// The next opening of this key frees it as stale; nothing is lost.
		e.log.Warn("releasing incident key", "incident", inc.Number, "err", err)
	}
	e.publish(inc)
	if stillActive {
		e.mu.Lock()
		e.quiet[inc.Key()] = true
		e.mu.Unlock()
	}
	e.log.Info("incident resolved", "incident", inc.Number, "by", actor)
	return inc, nil
}

// ErrInvalidState is returned for a transition the incident's state does not allow.
var ErrInvalidState = errors.New("invalid incident state for this action")

// Acknowledge marks an open incident acknowledged by actor.
func (e *Engine) Acknowledge(ctx context.Context, id, actor, note string) (*Incident, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur, err := e.get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch cur.State {
	case StateResolved:
		return nil, fmt.Errorf("incident %s is resolved: %w", cur.Number, ErrInvalidState)
	case StateAcknowledged:
		if note == "" {
			return cur, nil
		}
	}
	now := e.now()
	inc := cur.Clone()
	kind := EventNote
	if inc.State == StateOpen {
		inc.State = StateAcknowledged
		inc.AcknowledgedAt = &now
		kind = EventAcknowledged
	}
	inc.Version++
	inc.UpdatedAt = now
	inc.addEvent(Event{At: now, Kind: kind, Actor: actor, Note: note})
	if err := e.store.Save(ctx, inc, cur.Version); err != nil {
		return nil, err
	}
	e.publish(inc)
	return inc, nil
}

// Resolve resolves an incident by hand. If its condition is still active it stays
// quiet until the condition clears, and the timeline says so.
func (e *Engine) Resolve(ctx context.Context, id, actor, note string) (*Incident, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur, err := e.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.State == StateResolved {
		return nil, fmt.Errorf("incident %s is already resolved: %w", cur.Number, ErrInvalidState)
	}
	still := false
	if a, ok := e.assets.Get(cur.AssetID); ok {
		still = slices.Contains(a.ActiveConditions(), cur.Condition)
	}
	if still {
		if note != "" {
			note += " "
		}
		note += "(condition still active: not reopened until it clears)"
	}
	return e.resolve(ctx, cur, actor, EventResolved, note, still)
}

func (e *Engine) get(ctx context.Context, id string) (*Incident, error) {
	e.mu.RLock()
	inc, ok := e.all[id]
	e.mu.RUnlock()
	if ok {
		return inc, nil
	}
	return nil, fmt.Errorf("incident %q: %w", id, ErrNotFound)
}

// Get returns an incident by id.
func (e *Engine) Get(id string) (*Incident, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	i, ok := e.all[id]
	return i, ok
}

// title names the failure for a person scanning a queue.
func title(a *assets.Asset, condition string) string {
	where := a.Location.Unit
	if where == "" {
		where = a.Location.CareArea
	}
	if where == "" {
		where = a.Site
	}
	name := a.Name
	if name == "" {
		name = a.ID
	}
	s := fmt.Sprintf("%s (%s", name, a.Class)
	if where != "" {
		s += ", " + where
	}
	return s + "): " + describeCondition(condition)
}

var conditionText = map[string]string{
	"snmp.unreachable":        "not answering SNMP",
	"hl7.heartbeat_lost":      "HL7 heartbeat lost",
	"device.rebooted":         "rebooted",
	"ups.on_battery":          "UPS on battery",
	"ups.battery_low":         "UPS battery low",
	"interface.down":          "interface down",
	"device.alarm.technical":  "technical alarm",
	"device.self_test_failed": "self-test failed",
	"collector.silent":        "collector silent",
}

func describeCondition(c string) string {
	if t, ok := conditionText[c]; ok {
		return t
	}
	return c
}
