package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Correlation (DESIGN §7): a device cut off by its upstream (switch, UPS, HL7 gateway,
// collector) gets its incident suppressed and linked to the root incident; the root
// counts what it took down. Only conditions of severity "down" are suppressed: a failed
// switch explains an unreachable monitor, not its technical alarm.
//
// Parents of one relation kind are alternatives (two uplinks, two power feeds): they
// explain a failure only when all of them are down. Kinds are in series: a device
// needs its network AND its power AND, for HL7, its gateway, so every parent of any
// one kind being down explains it. The HL7 gateway path explains HL7 conditions only:
// a dead gateway does not stop SNMP.

// explains reports whether parents of a relation kind can explain a condition.
func explains(kind assets.RelationKind, condition string) bool {
	return kind != assets.RelReportsThrough || defaultConditions.Lookup(condition).Channel == observation.ChannelHL7
}

// downIncident returns the open incident of severity down of an asset, if any. An
// asset whose down condition is active but whose incident is resolved by hand or
// still in its hold is down too, with no incident to link to.
func (e *Engine) downParent(id string) (down bool, inc *Incident) {
	e.mu.RLock()
	for _, iid := range e.byAsset[id] {
		i := e.all[iid]
		if i.Open() && e.policy.Severity(i.Condition) == observation.SeverityDown {
			e.mu.RUnlock()
			return true, i
		}
	}
	e.mu.RUnlock()
	a, ok := e.assets.Get(id)
	if !ok {
		return false, nil
	}
	for _, c := range a.ActiveConditions() {
		if e.policy.Severity(c) == observation.SeverityDown {
			return true, nil
		}
	}
	return false, nil
}

// suppressor returns the root incident that explains condition on asset a, when every
// upstream of some relation kind is down, and says why; "" otherwise. self is the
// incident being judged, so a cycle in the relations never makes an incident its own
// root.
func (e *Engine) suppressor(a *assets.Asset, condition, self string) (string, string) {
	if e.policy.Severity(condition) != observation.SeverityDown {
		return "", ""
	}
	if len(a.Upstream) == 0 {
		return e.sameDevice(a, condition, self)
	}
	var kinds []assets.RelationKind
	parents := map[assets.RelationKind][]string{}
	for _, r := range a.Upstream {
		if r.Target == a.ID || !explains(r.Kind, condition) || slices.Contains(parents[r.Kind], r.Target) {
			continue
		}
		if parents[r.Kind] == nil {
			kinds = append(kinds, r.Kind)
		}
		parents[r.Kind] = append(parents[r.Kind], r.Target)
	}
	for _, k := range kinds {
		if root, names := e.allDown(parents[k], self); root != "" {
			number := root
			if r, ok := e.Get(root); ok {
				number = r.Number
			}
			what := "upstream " + strings.Join(names, ", ") + " is down"
			if len(names) > 1 {
				what = "every upstream (" + strings.Join(names, ", ") + ") is down"
			}
			return root, fmt.Sprintf("%s: suppressed by %s", what, number)
		}
	}
	return e.sameDevice(a, condition, self)
}

// upstreamAlive reports whether the collector showed that condition on a cannot be
// explained by an upstream failure (e.wmu held): its switch answered after the device
// went silent, and the switch is the only kind of upstream that could explain the
// condition (a manual POWERED_BY or DEPENDS_ON relation still needs the wait).
func (e *Engine) upstreamAlive(a *assets.Asset, condition string) bool {
	tr := e.track[a.ID][condition]
	if tr == nil || !tr.upstreamAnswered {
		return false
	}
	found := false
	for _, r := range a.Upstream {
		if r.Target == a.ID || !explains(r.Kind, condition) {
			continue
		}
		if r.Kind != assets.RelConnectedTo {
			return false
		}
		found = true
	}
	return found
}

// sameDevice links a second "down" condition of one device (HL7 heartbeat lost while
// SNMP is unreachable) to the device's own notified incident for the first: one
// failure, one notification. The later condition is recorded, suppressed, never
// silent. An incident that is itself suppressed by an upstream is not a root for the
// device's other conditions: what explains one path (a dead HL7 gateway) need not
// explain the other (SNMP).
func (e *Engine) sameDevice(a *assets.Asset, condition, self string) (string, string) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, iid := range e.byAsset[a.ID] {
		i := e.all[iid]
		if iid == self || i.Condition == condition || !i.Open() || i.Suppressed || e.policy.Severity(i.Condition) != observation.SeverityDown {
			continue
		}
		return i.ID, fmt.Sprintf("the same device is already down (%s): suppressed by %s", describeCondition(i.Condition), i.Number)
	}
	return "", ""
}

// allDown returns the root incident of the first of parents with one, and the
// parents' names, when every parent is down; "" otherwise.
func (e *Engine) allDown(parents []string, self string) (string, []string) {
	root := ""
	var names []string
	for _, p := range parents {
		down, inc := e.downParent(p)
		if !down {
			return "", nil
		}
		name := p
		if pa, ok := e.assets.Get(p); ok && pa.Name != "" {
			name = pa.Name
		}
		names = append(names, name)
		if inc != nil && root == "" {
			r := inc.ID
			if inc.Suppressed && inc.SuppressedBy != "" {
				r = inc.SuppressedBy
			}
			if r != self {
				root = r
			}
		}
	}
	return root, names
}

// dependents returns the ids of every asset depending on id, transitively, bounded by
// the policy's depth.
func (e *Engine) dependents(id string) []string {
	seen := map[string]bool{id: true}
	var out []string
	frontier := []string{id}
	for depth := 0; depth < e.policy.Correlation.MaxDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, f := range frontier {
			for _, d := range e.assets.Dependents(f) {
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
					next = append(next, d)
				}
			}
		}
		frontier = next
	}
	return out
}

// recorrelate re-judges the suppression of every open incident of asset id (its other
// conditions may hang on the one that changed) and of every asset depending on it,
// after the incidents of id changed (e.wmu held).
func (e *Engine) recorrelate(ctx context.Context, id string, now time.Time) error {
	var errs []error
	for _, d := range append([]string{id}, e.dependents(id)...) {
		a, ok := e.assets.Get(d)
		if !ok {
			continue
		}
		e.mu.RLock()
		var incs []*Incident
		for _, iid := range e.byAsset[d] {
			if i := e.all[iid]; i.Open() {
				incs = append(incs, i)
			}
		}
		e.mu.RUnlock()
		for _, cur := range incs {
			root, why := e.suppressor(a, cur.Condition, cur.ID)
			if root == cur.SuppressedBy && (root != "") == cur.Suppressed {
				continue
			}
			inc := cur.Clone()
			switch {
			case root != "":
				inc.Suppressed, inc.SuppressedBy, inc.RootID = true, root, root
				if cur.Notified {
					why += " (the service desk already has this incident)"
				}
				inc.addEvent(Event{At: now, Kind: EventSuppressed, Actor: "rule:correlation", Note: why})
			default:
				// The upstream is back. Devices behind it come back as the collector
				// polls them again: judge this one after the wait, so that the
				// service desk only hears of those that stay down.
				if _, ok := e.recheck[cur.ID]; !ok {
					e.recheck[cur.ID] = now.Add(e.policy.Correlation.Wait)
				}
				continue
			}
			if _, err := e.save(ctx, inc, cur, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// rechecks un-suppresses the incidents whose upstream recovered a wait ago and that
// are still open; they are then notified (e.wmu held).
func (e *Engine) rechecks(ctx context.Context, now time.Time) error {
	var errs []error
	for id, at := range e.recheck {
		if at.After(now) {
			continue
		}
		delete(e.recheck, id)
		cur, ok := e.Get(id)
		if !ok || !cur.Open() || !cur.Suppressed {
			continue
		}
		a, ok := e.assets.Get(cur.AssetID)
		if !ok {
			continue
		}
		root, why := e.suppressor(a, cur.Condition, cur.ID)
		if root == cur.SuppressedBy {
			continue
		}
		inc := cur.Clone()
		if root != "" {
			inc.SuppressedBy, inc.RootID = root, root
			inc.addEvent(Event{At: now, Kind: EventSuppressed, Actor: "rule:correlation", Note: why})
		} else {
			inc.Suppressed, inc.SuppressedBy = false, ""
			note := "upstream recovered but this device did not"
			if !inc.Notified {
				inc.NotifyAt = now
				note += ": notifying"
			}
			inc.addEvent(Event{At: now, Kind: EventUnsuppressed, Actor: "rule:correlation", Note: note})
		}
		if _, err := e.save(ctx, inc, cur, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// scheduleRechecks finds suppressed incidents whose upstream is no longer all down
// (after a restart, or a missed change) and schedules their recheck (e.wmu held).
func (e *Engine) scheduleRechecks(now time.Time) {
	var list []*Incident
	e.mu.RLock()
	for _, id := range e.open {
		if i := e.all[id]; i.Open() && i.Suppressed {
			list = append(list, i)
		}
	}
	e.mu.RUnlock()
	for _, i := range list {
		if _, ok := e.recheck[i.ID]; ok {
			continue
		}
		if a, ok := e.assets.Get(i.AssetID); ok {
			if root, _ := e.suppressor(a, i.Condition, i.ID); root == "" {
				e.recheck[i.ID] = now.Add(e.policy.Correlation.Wait)
			}
		}
	}
}

// weighContext gathers what weighting needs about a failing asset: its spares and,
// for infrastructure, its blast radius.
func (e *Engine) weighContext(a *assets.Asset, condition string) Context {
	c := Context{
		Class: string(a.Class), CareArea: a.Location.CareArea, Condition: condition,
		Infrastructure: a.Class.Infrastructure(), PatientConnected: a.PatientConnected,
	}
	deps := e.dependents(a.ID)
	if len(deps) > 0 {
		for _, id := range deps {
			if d, ok := e.assets.Get(id); ok {
				c.Dependents = append(c.Dependents, Context{
					Class: string(d.Class), CareArea: d.Location.CareArea,
					Infrastructure: d.Class.Infrastructure(), PatientConnected: d.PatientConnected,
				})
			}
		}
	}
	if !c.Infrastructure {
		c.FreeSpares = e.freeSpares(a)
	}
	return c
}

// freeSpares counts devices of a's class in a's unit (or care area, without a unit)
// that are operational and not bound to a patient.
func (e *Engine) freeSpares(a *assets.Asset) int {
	n := 0
	sameUnit := func(b *assets.Asset) bool {
		if a.Location.Unit != "" {
			return strings.EqualFold(a.Location.Unit, b.Location.Unit)
		}
		return a.Location.CareArea != "" && strings.EqualFold(a.Location.CareArea, b.Location.CareArea)
	}
	e.assets.Each(func(b *assets.Asset) {
		if b.ID != a.ID && b.Class == a.Class && b.Site == a.Site && sameUnit(b) &&
			b.Status == assets.StatusOperational && !b.PatientConnected {
			n++
		}
	})
	return n
}

// RootStats is what a root incident took down.
type RootStats struct {
	// Suppressed counts open incidents suppressed by the root now.
	Suppressed int
	// Impacted counts every incident ever linked to the root (open or not).
	Impacted int
	// Worst names the most urgent linked incident, or the worst dependent at opening.
	Worst string
}

// RootStats returns the correlation figures of an incident.
func (e *Engine) RootStats(id string) RootStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var s RootStats
	root := e.all[id]
	worstRank := 99
	if root != nil && root.BlastWorst != "" {
		s.Worst = root.BlastWorst
		worstRank = PriorityRank(Priority(strings.SplitN(root.BlastWorst, ":", 2)[0]))
	}
	for _, cid := range e.linked[id] {
		c := e.all[cid]
		s.Impacted++
		if c.Suppressed && c.SuppressedBy == id && c.Open() {
			s.Suppressed++
		}
		if r := PriorityRank(c.Priority); r < worstRank {
			worstRank = r
			s.Worst = fmt.Sprintf("%s: %s in %s", c.Priority, c.Class, orNone(c.CareArea))
		}
	}
	return s
}

// Linked returns the incidents linked to a root, newest first, up to limit.
func (e *Engine) Linked(id string, limit int) []*Incident {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ids := e.linked[id]
	var out []*Incident
	for k := len(ids) - 1; k >= 0 && len(out) < limit; k-- {
		out = append(out, e.all[ids[k]])
	}
	return out
}
