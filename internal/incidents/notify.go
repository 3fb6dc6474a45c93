package incidents

import (
	"context"
	"fmt"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// Notification events.
const (
	NotifyOpened    = "opened"
	NotifyEscalated = "escalated"
	NotifyResolved  = "resolved"
)

// Notification is what the service desk is told about one incident at one moment: a
// snapshot, so a retry days later sends what was true when it was written. It carries
// device identity and location only, never anything about a patient.
type Notification struct {
	// ID is "<incident id>.<seq>"; with the webhook name it is the idempotency key.
	ID    string    `bson:"id" json:"id"`
	Event string    `bson:"event" json:"event"`
	Seq   int       `bson:"seq" json:"sequence"`
	At    time.Time `bson:"at" json:"at"`
	Note  string    `bson:"note,omitempty" json:"note,omitempty"`

	Incident IncidentSnapshot `bson:"incident" json:"incident"`
	Asset    AssetSnapshot    `bson:"asset" json:"asset"`
	// Knowledge are the runbooks and instructions the policy links to this incident.
	Knowledge []Knowledge `bson:"knowledge,omitempty" json:"knowledge,omitempty"`
}

// IncidentSnapshot is the incident part of a notification.
type IncidentSnapshot struct {
	ID              string     `bson:"id" json:"id"`
	Number          string     `bson:"number" json:"number"`
	Title           string     `bson:"title" json:"title"`
	Condition       string     `bson:"condition" json:"condition"`
	Priority        Priority   `bson:"priority" json:"priority"`
	Impact          int        `bson:"impact" json:"impact"`
	Urgency         int        `bson:"urgency" json:"urgency"`
	PriorityReason  string     `bson:"priorityReason" json:"priorityReason"`
	State           State      `bson:"state" json:"state"`
	Flapping        bool       `bson:"flapping" json:"flapping"`
	OpenedAt        time.Time  `bson:"openedAt" json:"openedAt"`
	ResolvedAt      *time.Time `bson:"resolvedAt,omitempty" json:"resolvedAt,omitempty"`
	AckDueAt        time.Time  `bson:"ackDueAt" json:"ackDueAt"`
	ResolveDueAt    time.Time  `bson:"resolveDueAt" json:"resolveDueAt"`
	EscalationLevel int        `bson:"escalationLevel" json:"escalationLevel"`
	Escalation      string     `bson:"escalation,omitempty" json:"escalation,omitempty"`
	// Correlation: what this root took down. SuppressedCount and ImpactedCount count
	// incidents (a device may have several under one root: SNMP and HL7), the
	// *DeviceCount fields devices; Dependents is the blast radius at opening.
	SuppressedCount         int    `bson:"suppressedCount" json:"suppressedCount"`
	SuppressedIncidentCount int    `bson:"suppressedIncidentCount" json:"suppressedIncidentCount"`
	SuppressedDeviceCount   int    `bson:"suppressedDeviceCount" json:"suppressedDeviceCount"`
	ImpactedCount           int    `bson:"impactedCount" json:"impactedCount"`
	ImpactedDeviceCount     int    `bson:"impactedDeviceCount" json:"impactedDeviceCount"`
	Dependents              int    `bson:"dependents" json:"dependents"`
	WorstImpact             string `bson:"worstImpact,omitempty" json:"worstImpact,omitempty"`
	// WasSuppressed is set when the incident was held back by a root that recovered.
	WasSuppressed bool   `bson:"wasSuppressed,omitempty" json:"wasSuppressed,omitempty"`
	RootID        string `bson:"rootId,omitempty" json:"rootId,omitempty"`
}

// AssetSnapshot is the asset part of a notification.
type AssetSnapshot struct {
	ID           string          `bson:"id" json:"id"`
	Name         string          `bson:"name,omitempty" json:"name,omitempty"`
	Class        string          `bson:"class" json:"class"`
	Manufacturer string          `bson:"manufacturer,omitempty" json:"manufacturer,omitempty"`
	Model        string          `bson:"model,omitempty" json:"model,omitempty"`
	SerialNumber string          `bson:"serialNumber,omitempty" json:"serialNumber,omitempty"`
	IPAddresses  []string        `bson:"ipAddresses,omitempty" json:"ipAddresses,omitempty"`
	Site         string          `bson:"site,omitempty" json:"site,omitempty"`
	Location     assets.Location `bson:"location" json:"location"`
}

// notify writes a notification of inc to the sink and records it on inc, which the
// caller then saves: outbox first, so a crash between the two writes repeats the
// notification under the same id (deduplicated) instead of losing it (e.wmu held).
func (e *Engine) notify(ctx context.Context, inc *Incident, event, note string, now time.Time) error {
	seq := inc.NotifySeq + 1
	n := e.snapshot(inc, event, note, seq, now)
	sent := 0
	if e.sink != nil {
		var err error
		if sent, err = e.sink.Write(ctx, n); err != nil {
			return fmt.Errorf("notifying %s of incident %s: %w", event, inc.Number, err)
		}
	}
	inc.NotifySeq = seq
	if event == NotifyOpened {
		inc.Notified = true
	}
	if sent > 0 {
		inc.addEvent(Event{At: now, Kind: EventNotified, Actor: "rule:notify", Note: fmt.Sprintf("%s queued for %d webhook(s) as %s", event, sent, n.ID)})
	}
	return nil
}

func (e *Engine) snapshot(inc *Incident, event, note string, seq int, now time.Time) *Notification {
	st, im := e.RootStats(inc.ID), e.Impact(inc.ID)
	n := &Notification{
		ID: fmt.Sprintf("%s.%04d", inc.ID, seq), Event: event, Seq: seq, At: now, Note: note,
		Incident: IncidentSnapshot{
			ID: inc.ID, Number: inc.Number, Title: inc.Title, Condition: inc.Condition,
			Priority: inc.Priority, Impact: inc.Impact, Urgency: inc.Urgency, PriorityReason: inc.PriorityReason,
			State: inc.State, Flapping: inc.Flapping, OpenedAt: inc.OpenedAt, ResolvedAt: inc.ResolvedAt,
			AckDueAt: inc.AckDueAt, ResolveDueAt: inc.ResolveDueAt, EscalationLevel: inc.EscalationLevel,
			SuppressedCount: st.Suppressed, SuppressedIncidentCount: st.Suppressed, SuppressedDeviceCount: im.SuppressedDevices,
			ImpactedCount: st.Impacted, ImpactedDeviceCount: len(im.Devices), Dependents: inc.Dependents,
			WorstImpact: st.Worst, WasSuppressed: inc.RootID != "", RootID: inc.RootID,
		},
		Asset: AssetSnapshot{ID: inc.AssetID, Class: inc.Class, Site: inc.Site},
	}
	if event == NotifyEscalated && inc.EscalationLevel > 0 && inc.EscalationLevel <= len(e.policy.Escalation) {
		n.Incident.Escalation = e.policy.Escalation[inc.EscalationLevel-1].Name
	}
	if a, ok := e.assets.Get(inc.AssetID); ok {
		n.Asset = AssetSnapshot{
			ID: a.ID, Name: a.Name, Class: string(a.Class), Manufacturer: a.Manufacturer, Model: a.Model,
			SerialNumber: a.SerialNumber, IPAddresses: a.IPAddresses, Site: a.Site, Location: a.Location,
		}
	}
	n.Knowledge = e.policy.KnowledgeFor(n.Asset.Class, n.Asset.Manufacturer, n.Asset.Model, inc.Condition)
	return n
}
