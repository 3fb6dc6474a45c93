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
	// ResolvedWhileActive marks a manual resolve while the condition was still active:
	// it is not reopened until the condition clears and comes back.
	ResolvedWhileActive bool `bson:"resolvedWhileActive,omitempty"`

	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.State != StateResolved }

// Key is the dedup key: one open incident per (asset, condition).
func (i *Incident) Key() string { return dedupKey(i.AssetID, i.Condition) }

func dedupKey(assetID, condition string) string { return assetID + "|" + condition }

// SLABreached reports whether an acknowledge or restore target was missed by now.
func (i *Incident) SLABreached(now time.Time) bool {
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
	if i.ResolvedAt != nil {
		t := *i.ResolvedAt
		c.ResolvedAt = &t
	}
	return &c
}

func (i *Incident) addEvent(e Event) {
	i.Timeline = append(i.Timeline, e)
	if len(i.Timeline) > maxTimeline {
		// Keep the opening and the most recent events.
		i.Timeline = append(i.Timeline[:1], i.Timeline[len(i.Timeline)-maxTimeline+1:]...)
	}
}
