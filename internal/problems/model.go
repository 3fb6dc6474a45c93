// Package problems turns recurring incidents into problem records (ITIL problem
// management): the same asset failing again and again, or one manufacturer and model
// failing across many assets, within the policy's windows. A problem links its
// incidents, counts them and says when they were first and last seen; people link
// and unlink incidents and close it with a root cause.
//
// Detection is level-triggered like the incident engine: every run looks at the
// incidents opened within the windows and brings the problems in step. Problems are
// few, so they are all kept in memory and written one document at a time by _id.
package problems

import (
	"slices"
	"strings"
	"time"
)

// Scope says what recurs.
type Scope string

// Scopes.
const (
	ScopeAsset Scope = "ASSET" // one asset
	ScopeModel Scope = "MODEL" // one manufacturer and model, across assets
)

// State is a problem's lifecycle state.
type State string

// States.
const (
	StateOpen   State = "OPEN"
	StateClosed State = "CLOSED"
)

// ConditionCount is how many linked incidents had one condition.
type ConditionCount struct {
	Condition string `bson:"condition" json:"condition"`
	Count     int    `bson:"count" json:"count"`
}

// Problem is one recurring failure and the incidents it stands for.
type Problem struct {
	ID     string `bson:"_id"`
	Number string `bson:"number"`
	// Key identifies what recurs: "asset:<id>" or "model:<manufacturer>|<model>"
	// (normalised); one open problem per key.
	Key          string `bson:"key"`
	Scope        Scope  `bson:"scope"`
	AssetID      string `bson:"assetId,omitempty"`
	Manufacturer string `bson:"manufacturer,omitempty"`
	Model        string `bson:"model,omitempty"`
	Title        string `bson:"title"`
	State        State  `bson:"state"`

	// IncidentIDs are the linked incidents, in opening order.
	IncidentIDs []string `bson:"incidentIds"`
	// Unlinked are incidents a person took out: never linked again automatically.
	Unlinked []string `bson:"unlinked,omitempty"`
	// Summary of the linked incidents, kept when old incidents are pruned.
	Count      int              `bson:"count"`
	Assets     int              `bson:"assets"`
	Conditions []ConditionCount `bson:"conditions"`
	FirstSeen  time.Time        `bson:"firstSeen"`
	LastSeen   time.Time        `bson:"lastSeen"`

	OpenedAt  time.Time  `bson:"openedAt"`
	OpenedBy  string     `bson:"openedBy"`
	ClosedAt  *time.Time `bson:"closedAt,omitempty"`
	ClosedBy  string     `bson:"closedBy,omitempty"`
	RootCause string     `bson:"rootCause,omitempty"`

	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// Open reports whether the problem is not closed.
func (p *Problem) Open() bool { return p.State == StateOpen }

// Clone returns a deep copy.
func (p *Problem) Clone() *Problem {
	c := *p
	c.IncidentIDs = slices.Clone(p.IncidentIDs)
	c.Unlinked = slices.Clone(p.Unlinked)
	c.Conditions = slices.Clone(p.Conditions)
	if p.ClosedAt != nil {
		t := *p.ClosedAt
		c.ClosedAt = &t
	}
	return &c
}

// Filter selects problems; empty fields match everything.
type Filter struct {
	State   State
	Scope   Scope
	AssetID string
}

func (f *Filter) match(p *Problem) bool {
	return (f.State == "" || p.State == f.State) && (f.Scope == "" || p.Scope == f.Scope) &&
		(f.AssetID == "" || p.AssetID == f.AssetID)
}

func norm(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

func assetKey(id string) string { return "asset:" + id }

func modelKey(manufacturer, model string) string {
	return "model:" + norm(manufacturer) + "|" + norm(model)
}
