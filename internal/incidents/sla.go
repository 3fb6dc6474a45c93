package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CheckSLA runs the SLA clocks: it pauses and resumes them with maintenance windows,
// records acknowledge and restore breaches, and fires escalation levels. It is the
// body of the "sla" cron job.
func (e *Engine) CheckSLA(ctx context.Context) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.now()
	var list []*Incident
	e.mu.RLock()
	for _, id := range e.open {
		if i := e.all[id]; i.Open() {
			list = append(list, i)
		}
	}
	e.mu.RUnlock()
	slices.SortFunc(list, func(a, b *Incident) int { return a.OpenedAt.Compare(b.OpenedAt) })
	var errs []error
	for _, cur := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		inc, changed, err := e.slaStep(ctx, cur, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			if _, err := e.save(ctx, inc, cur, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// slaStep computes the SLA changes of one incident on a clone (e.wmu held).
func (e *Engine) slaStep(ctx context.Context, cur *Incident, now time.Time) (*Incident, bool, error) {
	inc := cur.Clone()
	changed := false
	w := e.inMaintenance(cur, now)
	switch {
	case w != nil && cur.PausedSince == nil:
		inc.PausedSince = &now
		inc.addEvent(Event{At: now, Kind: EventSLAPaused, Actor: "rule:sla", Note: "maintenance window " + w.ID + ": " + w.Reason})
		return inc, true, nil
	case w == nil && cur.PausedSince != nil:
		// The clock stood still: push the targets still running by the pause.
		d := now.Sub(*cur.PausedSince)
		if inc.AcknowledgedAt == nil {
			inc.AckDueAt = inc.AckDueAt.Add(d)
		}
		inc.ResolveDueAt = inc.ResolveDueAt.Add(d)
		inc.PausedSince = nil
		inc.addEvent(Event{At: now, Kind: EventSLAResumed, Actor: "rule:sla", Note: fmt.Sprintf("maintenance over: SLA clock resumed after %s", d.Round(time.Second))})
		changed = true
	case w != nil:
		return inc, false, nil
	}
	if cur.Suppressed {
		// The root incident carries the SLA of an outage; its consequences do not.
		return inc, changed, nil
	}
	if inc.AcknowledgedAt == nil && now.After(inc.AckDueAt) && inc.AckBreachedAt == nil {
		inc.AckBreachedAt = &now
		inc.addEvent(Event{At: now, Kind: EventSLABreached, Actor: "rule:sla", Note: "acknowledge target missed (due " + inc.AckDueAt.UTC().Format(time.RFC3339) + ")"})
		e.metrics.breaches.WithLabelValues(TriggerAcknowledge, string(inc.Priority)).Inc()
		changed = true
	}
	if now.After(inc.ResolveDueAt) && inc.RestoreBreachedAt == nil {
		inc.RestoreBreachedAt = &now
		inc.addEvent(Event{At: now, Kind: EventSLABreached, Actor: "rule:sla", Note: "restore target missed (due " + inc.ResolveDueAt.UTC().Format(time.RFC3339) + ")"})
		e.metrics.breaches.WithLabelValues(TriggerRestore, string(inc.Priority)).Inc()
		changed = true
	}
	for inc.EscalationLevel < len(e.policy.Escalation) {
		l := e.policy.Escalation[inc.EscalationLevel]
		skip := (len(l.Priorities) > 0 && !slices.Contains(l.Priorities, inc.Priority)) ||
			(l.Trigger == TriggerAcknowledge && inc.AcknowledgedAt != nil)
		if skip {
			inc.EscalationLevel++
			changed = true
			continue
		}
		due := inc.AckDueAt
		if l.Trigger == TriggerRestore {
			due = inc.ResolveDueAt
		}
		if !now.After(due.Add(l.After)) {
			break
		}
		inc.EscalationLevel++
		changed = true
		inc.addEvent(Event{At: now, Kind: EventEscalated, Actor: "rule:escalation",
			Note: fmt.Sprintf("escalated to %s: %s target missed by %s", l.Name, l.Trigger, now.Sub(due).Round(time.Second))})
		e.metrics.escalations.WithLabelValues(l.Name).Inc()
		if inc.Notified {
			if err := e.notify(ctx, inc, NotifyEscalated, "escalated to "+l.Name, now); err != nil {
				return nil, false, err
			}
		}
	}
	return inc, changed, nil
}
