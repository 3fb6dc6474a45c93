// Package incidents owns the incident engine: clinical weighting, one open incident per
// (asset, condition), hold and auto-resolve, correlation, maintenance, SLA clocks,
// escalation and delivery to the service desk.
package incidents

import (
	"slices"
	"time"
)

// State is an incident's lifecycle state.
type State string

// Incident states.
const (
	StateOpen         State = "OPEN"
	StateAcknowledged State = "ACKNOWLEDGED"
	StateResolved     State = "RESOLVED"
)

// Priority is P1 (most urgent) .. P5.
type Priority string

// Priorities.
const (
	P1 Priority = "P1"
	P2 Priority = "P2"
	P3 Priority = "P3"
	P4 Priority = "P4"
	P5 Priority = "P5"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{P1, P2, P3, P4, P5}

// Event is one line of an incident's timeline.
type Event struct {
	At    time.Time `bson:"at" json:"at"`
	Kind  string    `bson:"kind" json:"kind"`
	Actor string    `bson:"actor" json:"actor"`
	Note  string    `bson:"note,omitempty" json:"note,omitempty"`
}

// Timeline event kinds.
const (
	EventOpened       = "opened"
	EventAcknowledged = "acknowledged"
	EventResolved     = "resolved"
	EventAutoResolved = "auto_resolved"
	EventNote         = "note"
	EventRecurred     = "recurred"
	EventFlapping     = "flapping"
	EventSuppressed   = "suppressed"
	EventUnsuppressed = "unsuppressed"
	EventNotified     = "notified"
	EventEscalated    = "escalated"
	EventSLABreached  = "sla_breached"
	EventSLAPaused    = "sla_paused"
	EventSLAResumed   = "sla_resumed"
	EventMaintenance  = "maintenance"
)

// maxTimeline bounds the timeline kept on the incident document; a flapping device
// must not grow one document without limit.
const maxTimeline = 500

// Incident is one failure of one asset, with why it got its priority.
type Incident struct {
	ID             string     `bson:"_id"`
	Number         string     `bson:"number"`
	Title          string     `bson:"title"`
	AssetID        string     `bson:"assetId"`
	Condition      string     `bson:"condition"`
	Priority       Priority   `bson:"priority"`
	Impact         int        `bson:"impact"`
	Urgency        int        `bson:"urgency"`
	PriorityReason string     `bson:"priorityReason"`
	State          State      `bson:"state"`
	Suppressed     bool       `bson:"suppressed"`
	SuppressedBy   string     `bson:"suppressedBy,omitempty"`
	OpenedAt       time.Time  `bson:"openedAt"`
	AcknowledgedAt *time.Time `bson:"acknowledgedAt,omitempty"`
	ResolvedAt     *time.Time `bson:"resolvedAt,omitempty"`
	AckDueAt       time.Time  `bson:"ackDueAt"`
	ResolveDueAt   time.Time  `bson:"resolveDueAt"`
	Timeline       []Event    `bson:"timeline"`

	// Denormalised from the asset at opening, for filters and metrics.
	Site     string `bson:"site,omitempty"`
	CareArea string `bson:"careArea,omitempty"`
	Class    string `bson:"class,omitempty"`
	// Flapping is set once the condition changed state Flap.Threshold times within
	// Flap.Window: one incident stands for the whole episode.
	Flapping bool `bson:"flapping,omitempty"`
	// SettleUntil is set on an auto-resolved incident while it may still reopen
	// (Policy.ReopenWindow); its dedup key stays claimed until then, and the
	// resolution is notified only when it settles.
	SettleUntil *time.Time `bson:"settleUntil,omitempty"`

	// RootID links an incident to the root cause it was (or is) suppressed by; it
	// stays when the suppression ends, so the root can count what it took down.
	RootID string `bson:"rootId,omitempty"`
	// Dependents is the blast radius at opening: how many devices depend on this one.
	Dependents int `bson:"dependents,omitempty"`
	// BlastWorst names the most critical dependent at opening ("P1: PATIENT_MONITOR in ICU").
	BlastWorst string `bson:"blastWorst,omitempty"`

	// Notified is set once the service desk was sent the incident.
	Notified bool `bson:"notified,omitempty"`
	// NotifyAt is when the opening may be notified (correlation wait).
	NotifyAt time.Time `bson:"notifyAt,omitempty"`
	// NotifySeq counts notifications written to the outbox: it orders them and
	// makes their ids, hence their idempotency keys, deterministic.
	NotifySeq int `bson:"notifySeq,omitempty"`

	// EscalationLevel is the number of escalation levels fired.
	EscalationLevel int `bson:"escalationLevel,omitempty"`
	// PausedSince is set while a maintenance window stops the SLA clock.
	PausedSince       *time.Time `bson:"pausedSince,omitempty"`
	AckBreachedAt     *time.Time `bson:"ackBreachedAt,omitempty"`
	RestoreBreachedAt *time.Time `bson:"restoreBreachedAt,omitempty"`

	// ResolvedWhileActive marks a manual resolve while the condition was still active:
	// it is not reopened until the condition clears and comes back.
	ResolvedWhileActive bool `bson:"resolvedWhileActive,omitempty"`

	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.State != StateResolved }

// Settling reports whether an auto-resolved incident may still reopen.
func (i *Incident) Settling() bool { return i.State == StateResolved && i.SettleUntil != nil }

// holdsKey reports whether the incident holds its dedup key (open or settling).
func (i *Incident) holdsKey() bool { return i.Open() || i.Settling() }

// Key is the dedup key: one open incident per (asset, condition).
func (i *Incident) Key() string { return dedupKey(i.AssetID, i.Condition) }

func dedupKey(assetID, condition string) string { return assetID + "|" + condition }

// SLABreached reports whether an acknowledge or restore target was missed by now.
func (i *Incident) SLABreached(now time.Time) bool {
	if i.PausedSince != nil && i.PausedSince.Before(now) {
		now = *i.PausedSince // the clock stands still during maintenance
	}
	ackAt := now
	if i.AcknowledgedAt != nil {
		ackAt = *i.AcknowledgedAt
	}
	resAt := now
	if i.ResolvedAt != nil {
		resAt = *i.ResolvedAt
	}
	if i.ResolvedAt != nil && i.AcknowledgedAt == nil && !resAt.After(i.AckDueAt) {
		return resAt.After(i.ResolveDueAt)
	}
	return ackAt.After(i.AckDueAt) || resAt.After(i.ResolveDueAt)
}

// Clone returns a deep copy.
func (i *Incident) Clone() *Incident {
	c := *i
	c.Timeline = slices.Clone(i.Timeline)
	if i.AcknowledgedAt != nil {
		t := *i.AcknowledgedAt
		c.AcknowledgedAt = &t
	}
	c.ResolvedAt = cloneTime(i.ResolvedAt)
	c.SettleUntil = cloneTime(i.SettleUntil)
	c.PausedSince = cloneTime(i.PausedSince)
	c.AckBreachedAt = cloneTime(i.AckBreachedAt)
	c.RestoreBreachedAt = cloneTime(i.RestoreBreachedAt)
	return &c
}

func (i *Incident) addEvent(e Event) {
	i.Timeline = append(i.Timeline, e)
	if len(i.Timeline) > maxTimeline {
		// Keep the opening and the most recent events.
		i.Timeline = append(i.Timeline[:1], i.Timeline[len(i.Timeline)-maxTimeline+1:]...)
	}
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}
