package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// ErrInvalidState is returned for a transition the incident's state does not allow.
var ErrInvalidState = errors.New("invalid incident state for this action")

// staleClaim is how long a dedup key may point at an incident that is not in the
// store before another replica takes it over: the claimer writes the incident right
// after claiming, so a missing incident is either in flight or lost.
const staleClaim = 30 * time.Second

func newIncidentID(now time.Time) string {
	b := make([]byte, 5)
	rand.Read(b)
	return "i" + strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b)
}

// save writes inc, whose stored predecessor is prev, and publishes it. A concurrent
// change by another replica reloads the stored incident so the next pass works on it.
func (e *Engine) save(ctx context.Context, inc, prev *Incident, now time.Time) (*Incident, error) {
	inc.Version = prev.Version + 1
	inc.UpdatedAt = now
	if err := e.store.Save(ctx, inc, prev.Version); err != nil {
		if errors.Is(err, ErrConflict) {
			if cur, lerr := e.store.Load(ctx, inc.ID); lerr == nil {
				e.publish(cur)
			}
		}
		return nil, err
	}
	e.publish(inc)
	return inc, nil
}

// openIncident creates the incident for (asset, condition), or adopts the one another
// replica created first (e.wmu held).
func (e *Engine) openIncident(ctx context.Context, a *assets.Asset, condition string, flapping bool, edges int, now time.Time) error {
	key := dedupKey(a.ID, condition)
	id := newIncidentID(now)
	for attempt := 0; ; attempt++ {
		owner, claimedAt, err := e.store.ClaimKey(ctx, key, id, now)
		if err != nil {
			return err
		}
		if owner == id {
			break
		}
		existing, err := e.store.Load(ctx, owner)
		if err == nil && existing.holdsKey() {
			e.publish(existing)
			if existing.Settling() {
				_, err = e.reopen(ctx, existing, now)
			}
			return err
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err != nil && now.Sub(claimedAt) < staleClaim {
			return nil // another replica is writing it; the next pass adopts it
		}
		if attempt > 0 {
			return fmt.Errorf("incident key %s held by %s", key, owner)
		}
		// A stale key (its incident resolved, or never written): free it and retry.
		if err := e.store.ReleaseKeyIf(ctx, key, owner); err != nil {
			return err
		}
	}
	n, err := e.store.NextNumber(ctx)
	if err != nil {
		_ = e.store.ReleaseKeyIf(ctx, key, id)
		return err
	}
	w := e.policy.Weigh(e.weighContext(a, condition))
	sla := e.policy.SLA[w.Priority]
	inc := &Incident{
		ID: id, Number: fmt.Sprintf("INC%07d", n), Title: title(a, condition),
		AssetID: a.ID, Condition: condition,
		Priority: w.Priority, Impact: w.Impact, Urgency: w.Urgency, PriorityReason: w.Reason,
		State: StateOpen, OpenedAt: now, NotifyAt: now,
		AckDueAt: now.Add(sla.Acknowledge), ResolveDueAt: now.Add(sla.Restore),
		Site: a.Site, CareArea: a.Location.CareArea, Class: string(a.Class),
		BlastWorst: w.Worst, Flapping: flapping,
		Version: 1, UpdatedAt: now,
	}
	inc.Dependents = len(e.dependents(a.ID))
	if len(a.Upstream) > 0 && !e.upstreamAlive(a, condition) {
		// Its upstream may fail too and be seen a little later: wait for it.
		inc.NotifyAt = now.Add(e.policy.Correlation.Wait)
	}
	inc.addEvent(Event{At: now, Kind: EventOpened, Actor: "rule:condition", Note: w.Reason})
	if flapping {
		inc.addEvent(Event{At: now, Kind: EventFlapping, Actor: "rule:flap", Note: flapNote(edges, e.policy.Flap.Window) + ": opened without waiting for the hold"})
	}
	if root, why := e.suppressor(a, condition, id); root != "" {
		inc.Suppressed, inc.SuppressedBy, inc.RootID = true, root, root
		inc.addEvent(Event{At: now, Kind: EventSuppressed, Actor: "rule:correlation", Note: why})
	}
	if w := e.inMaintenance(inc, now); w != nil {
		inc.PausedSince = &now
		inc.addEvent(Event{At: now, Kind: EventMaintenance, Actor: "rule:maintenance", Note: "opened during maintenance window " + w.ID + ": not notified, SLA clock paused"})
	} else if !inc.Suppressed && !inc.NotifyAt.After(now) && inc.Dependents == 0 {
		// A root is notified once its batch is through (notifyDue), so that it
		// carries what it took down in the same batch.
		if err := e.notify(ctx, inc, NotifyOpened, "", now); err != nil {
			_ = e.store.ReleaseKeyIf(ctx, key, id)
			return err
		}
	}
	if err := e.store.Save(ctx, inc, 0); err != nil {
		_ = e.store.ReleaseKeyIf(ctx, key, id)
		return err
	}
	e.publish(inc)
	e.log.Info("incident opened", "incident", inc.Number, "asset", a.ID, "name", a.Name, "condition", condition,
		"priority", inc.Priority, "suppressed", inc.Suppressed)
	// Its dependents, and the device's own other conditions, may hang on it.
	return e.recorrelate(ctx, a.ID, now)
}

// reopen brings a settling incident back: the condition returned within the reopen
// window, so the service desk's ticket simply stays open (e.wmu held).
func (e *Engine) reopen(ctx context.Context, cur *Incident, now time.Time) (*Incident, error) {
	inc := cur.Clone()
	inc.State = StateOpen
	if inc.AcknowledgedAt != nil {
		inc.State = StateAcknowledged
	}
	gap := now.Sub(*inc.ResolvedAt).Round(time.Second)
	inc.ResolvedAt, inc.SettleUntil = nil, nil
	inc.addEvent(Event{At: now, Kind: EventRecurred, Actor: "rule:condition", Note: fmt.Sprintf("condition returned %s after clearing: reopened", gap)})
	if a, ok := e.assets.Get(inc.AssetID); ok && !inc.Suppressed {
		if root, why := e.suppressor(a, inc.Condition, inc.ID); root != "" {
			inc.Suppressed, inc.SuppressedBy, inc.RootID = true, root, root
			inc.addEvent(Event{At: now, Kind: EventSuppressed, Actor: "rule:correlation", Note: why})
		}
	}
	out, err := e.save(ctx, inc, cur, now)
	if err != nil {
		return nil, err
	}
	return out, e.recorrelate(ctx, out.AssetID, now)
}

func flapNote(edges int, window time.Duration) string {
	return fmt.Sprintf("flapping: %d state changes within %s", edges, window)
}

// markFlapping records that the condition is flapping (e.wmu held).
func (e *Engine) markFlapping(ctx context.Context, cur *Incident, edges int, now time.Time) (*Incident, error) {
	inc := cur.Clone()
	inc.Flapping = true
	inc.addEvent(Event{At: now, Kind: EventFlapping, Actor: "rule:flap", Note: flapNote(edges, e.policy.Flap.Window)})
	e.log.Info("incident flapping", "incident", inc.Number)
	return e.save(ctx, inc, cur, now)
}

// autoResolve resolves an incident whose condition cleared. With a reopen window it
// settles first: the key stays claimed and the resolution is notified later (e.wmu held).
func (e *Engine) autoResolve(ctx context.Context, cur *Incident, now time.Time) error {
	inc := cur.Clone()
	inc.State = StateResolved
	inc.ResolvedAt = &now
	inc.addEvent(Event{At: now, Kind: EventAutoResolved, Actor: "rule:auto-resolve", Note: "condition cleared"})
	if e.policy.ReopenWindow > 0 {
		until := now.Add(e.policy.ReopenWindow)
		inc.SettleUntil = &until
		if _, err := e.save(ctx, inc, cur, now); err != nil {
			return err
		}
	} else if err := e.closeFinal(ctx, inc, cur, now); err != nil {
		return err
	}
	e.log.Info("incident auto-resolved", "incident", inc.Number)
	return e.recorrelate(ctx, inc.AssetID, now)
}

// finalize ends the settling of an auto-resolved incident (e.wmu held).
func (e *Engine) finalize(ctx context.Context, cur *Incident, now time.Time) error {
	inc := cur.Clone()
	inc.SettleUntil = nil
	return e.closeFinal(ctx, inc, cur, now)
}

// closeFinal notifies the resolution (when the opening was notified), saves and frees
// the dedup key (e.wmu held).
func (e *Engine) closeFinal(ctx context.Context, inc, cur *Incident, now time.Time) error {
	if inc.Notified {
		if err := e.notify(ctx, inc, NotifyResolved, "", now); err != nil {
			return err
		}
	}
	if _, err := e.save(ctx, inc, cur, now); err != nil {
		return err
	}
	if err := e.store.ReleaseKeyIf(ctx, inc.Key(), inc.ID); err != nil {
		// The next opening of this key frees it as stale; nothing is lost.
		e.log.Warn("releasing incident key", "incident", inc.Number, "err", err)
	}
	return nil
}

// Acknowledge marks an open incident acknowledged by actor.
func (e *Engine) Acknowledge(ctx context.Context, id, actor, note string) (*Incident, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur, err := e.get(id)
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
	inc.addEvent(Event{At: now, Kind: kind, Actor: actor, Note: note})
	return e.save(ctx, inc, cur, now)
}

// AddNote appends a note to an incident's timeline, whatever its state.
func (e *Engine) AddNote(ctx context.Context, id, actor, note string) (*Incident, error) {
	if note == "" {
		return nil, fmt.Errorf("empty note: %w", ErrInvalidState)
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur, err := e.get(id)
	if err != nil {
		return nil, err
	}
	now := e.now()
	inc := cur.Clone()
	inc.addEvent(Event{At: now, Kind: EventNote, Actor: actor, Note: note})
	return e.save(ctx, inc, cur, now)
}

// Resolve resolves an incident by hand, at once and for good. If its condition is
// still active it stays quiet until the condition clears, and the timeline says so.
func (e *Engine) Resolve(ctx context.Context, id, actor, note string) (*Incident, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if cur.State == StateResolved {
		return nil, fmt.Errorf("incident %s is already resolved: %w", cur.Number, ErrInvalidState)
	}
	now := e.now()
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
	inc := cur.Clone()
	inc.State = StateResolved
	inc.ResolvedAt = &now
	inc.ResolvedWhileActive = still
	inc.addEvent(Event{At: now, Kind: EventResolved, Actor: actor, Note: note})
	if err := e.closeFinal(ctx, inc, cur, now); err != nil {
		return nil, err
	}
	if still {
		e.mu.Lock()
		e.quiet[inc.Key()] = true
		e.mu.Unlock()
	}
	e.log.Info("incident resolved", "incident", inc.Number, "by", actor)
	out, _ := e.Get(inc.ID)
	return out, e.recorrelate(ctx, inc.AssetID, now)
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

func describeCondition(c string) string { return defaultConditions.Lookup(c).Label }
