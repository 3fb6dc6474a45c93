package incidents

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// Policy is the clinical weighting, lifecycle, SLA and delivery policy (DESIGN §6–7),
// loaded from the cmdb's --config file over built-in defaults.
type Policy struct {
	// ClassCriticality is 1..5 per asset class; infrastructure classes also inherit
	// the worst impact of what depends on them.
	ClassCriticality map[string]int `yaml:"class_criticality"`
	// CareAreaAcuity is 1..5 per care area; unknown areas get DefaultAcuity.
	CareAreaAcuity map[string]int `yaml:"care_area_acuity"`
	DefaultAcuity  int            `yaml:"default_acuity"`
	// ConditionSeverity re-rates conditions: down, battery, degraded or info per
	// condition code. The built-in severities are defined with the conditions
	// (observation.DefaultConditions); this holds only what the policy changes.
	ConditionSeverity map[string]observation.Severity `yaml:"condition_severity"`
	// PatientConnected raises urgency when HL7 shows the device bound to a patient.
	PatientConnected Adjustment `yaml:"patient_connected"`
	// Redundancy lowers urgency when spares of the class are free in the same unit.
	Redundancy Redundancy `yaml:"redundancy"`
	// Matrix maps impact level, then urgency level (high, medium, low), to a priority.
	Matrix map[string]map[string]Priority `yaml:"matrix"`
	// SLA targets per priority.
	SLA map[Priority]SLATarget `yaml:"sla"`

	// Hold is how long a condition must stay active before an incident opens.
	Hold PerClass `yaml:"hold"`
	// RecoveryHold is how long a condition must stay clear before its incident
	// auto-resolves.
	RecoveryHold PerClass `yaml:"recovery_hold"`
	// ReopenWindow: an auto-resolved incident whose condition returns within this
	// window is reopened (the same ticket), and its resolution is only sent to the
	// service desk once the window has passed. 0 makes every resolution final at once.
	ReopenWindow time.Duration `yaml:"reopen_window"`
	Flap         Flap          `yaml:"flap"`
	Correlation  Correlation   `yaml:"correlation"`

	// Escalation levels, in order; each fires once per incident.
	Escalation []EscalationLevel `yaml:"escalation"`
	// SLACheck is the robfig/cron schedule of the SLA and escalation job.
	SLACheck string `yaml:"sla_check_schedule"`

	Webhooks []Webhook `yaml:"webhooks"`
	Delivery Delivery  `yaml:"delivery"`

	// Reconcile is how often every asset's conditions are checked against open incidents.
	Reconcile time.Duration `yaml:"reconcile_interval"`

	// Retention says how long records are kept; 0 keeps them for ever. Of asset
	// history only event entries are ever removed (asset_events).
	Retention Retention `yaml:"retention"`
	// LeaseTTL is how long the replica running scheduled jobs keeps the lease without
	// renewing it: after its death another replica takes over within this time.
	LeaseTTL time.Duration `yaml:"lease_ttl"`

	// Problems, Knowledge and Rogue: see policy_beyond.go.
	Problems  ProblemPolicy   `yaml:"problems"`
	Knowledge []KnowledgeRule `yaml:"knowledge"`
	Rogue     RoguePolicy     `yaml:"rogue_devices"`
}

// Retention of records removed by the hourly retention job.
type Retention struct {
	// ResolvedIncidents: resolved incidents older than this are removed.
	ResolvedIncidents time.Duration `yaml:"resolved_incidents"`
	// Audit: audit log entries older than this are removed.
	Audit time.Duration `yaml:"audit"`
	// JobRuns: records of which replica ran which scheduled job tick.
	JobRuns time.Duration `yaml:"job_runs"`
	// Observations: the applied-observation log that policy replay reads;
	// ObservationsMaxMB bounds its size as well (oldest days go first; 0: no bound).
	Observations      time.Duration `yaml:"observations"`
	ObservationsMaxMB int           `yaml:"observations_max_mb"`
	// AssetEvents: event entries of asset history (traps, reboots, alarms, late
	// observations); creation records and every other change are kept for ever.
	AssetEvents time.Duration `yaml:"asset_events"`
	// Schedule is when the retention job runs (robfig/cron syntax).
	Schedule string `yaml:"schedule"`
}

// SLATarget is the acknowledge and restore target of one priority.
type SLATarget struct {
	Acknowledge time.Duration `yaml:"acknowledge"`
	Restore     time.Duration `yaml:"restore"`
}

// Adjustment moves urgency by Levels (0 disables it).
type Adjustment struct {
	Levels int `yaml:"urgency_levels"`
}

// Redundancy lowers urgency by Levels when at least MinFreeSpares devices of the same
// class are operational and not bound to a patient in the same unit.
type Redundancy struct {
	MinFreeSpares int `yaml:"min_free_spares"`
	Levels        int `yaml:"urgency_levels"`
}

// PerClass is a duration with per-class overrides.
type PerClass struct {
	Default time.Duration            `yaml:"default"`
	Classes map[string]time.Duration `yaml:"classes"`
}

// For returns the duration for a class.
func (p PerClass) For(class string) time.Duration {
	if d, ok := p.Classes[class]; ok {
		return d
	}
	return p.Default
}

// Flap says when a condition is flapping: Threshold state changes within Window.
type Flap struct {
	Window    time.Duration `yaml:"window"`
	Threshold int           `yaml:"threshold"`
	// Stable is how long a flapping incident's condition must stay clear before it
	// auto-resolves (at least the recovery hold).
	Stable time.Duration `yaml:"stable"`
}

// Correlation tunes root-cause correlation.
type Correlation struct {
	// Wait delays the notification of an incident that may turn out to be caused by
	// (or to cause) another: a device with upstream relations, or infrastructure
	// with dependents. Devices behind a failed switch are often seen down before
	// the switch itself; the wait lets the root claim them first. It delays the
	// notification only, never the record.
	Wait time.Duration `yaml:"wait"`
	// MaxDepth bounds how far up and down relations are followed.
	MaxDepth int `yaml:"max_depth"`
}

// EscalationLevel fires when an incident misses its Trigger target by After.
type EscalationLevel struct {
	Name string `yaml:"name"`
	// Trigger is "acknowledge" (not acknowledged by its due time) or "restore" (not
	// resolved by its due time).
	Trigger string        `yaml:"trigger"`
	After   time.Duration `yaml:"after"`
	// Priorities limits the level to these priorities; empty means all.
	Priorities []Priority `yaml:"priorities"`
}

// Escalation triggers.
const (
	TriggerAcknowledge = "acknowledge"
	TriggerRestore     = "restore"
)

// Level names of impact and urgency.
var levelNames = []string{"low", "medium", "high"}

// DefaultPolicy returns the built-in policy.
func DefaultPolicy() *Policy {
	p := &Policy{
		ClassCriticality: map[string]int{
			"VENTILATOR": 5, "ANESTHESIA_MACHINE": 5, "INFUSION_PUMP": 5,
			"PATIENT_MONITOR": 4,
			"LAB_ANALYZER":    3, "IMAGING": 3,
			"NETWORK_SWITCH": 3, "ROUTER": 3, "WIRELESS_AP": 3, "UPS": 3, "HL7_GATEWAY": 3,
			"SERVER": 2, "WORKSTATION": 2, "PRINTER": 1, "OTHER": 2,
			// A silent collector blinds the monitoring of a whole site or range.
			"COLLECTOR": 4,
		},
		CareAreaAcuity: map[string]int{
			"ICU": 5, "NICU": 5, "PICU": 5, "ED": 5, "OR": 5,
			"STEP_DOWN": 4, "L&D": 4, "LD": 4, "PACU": 4,
			"WARD": 3, "MED_SURG": 3,
			"OUTPATIENT": 2, "LAB": 2, "IMAGING": 2, "PHARMACY": 2,
			"ADMIN": 1,
		},
		DefaultAcuity:     3,
		ConditionSeverity: map[string]observation.Severity{},
		PatientConnected:  Adjustment{Levels: 1},
		Redundancy:        Redundancy{MinFreeSpares: 1, Levels: 1},
		Matrix: map[string]map[string]Priority{
			"high":   {"high": P1, "medium": P2, "low": P3},
			"medium": {"high": P2, "medium": P3, "low": P4},
			"low":    {"high": P3, "medium": P4, "low": P5},
		},
		SLA: map[Priority]SLATarget{
			P1: {5 * time.Minute, time.Hour},
			P2: {15 * time.Minute, 4 * time.Hour},
			P3: {time.Hour, 8 * time.Hour},
			P4: {4 * time.Hour, 72 * time.Hour},
			P5: {24 * time.Hour, 240 * time.Hour},
		},
		// Life support and monitoring open at once; the collector's down_after has
		// already debounced the failure. Office equipment waits out short blips.
		Hold: PerClass{Default: 0, Classes: map[string]time.Duration{
			"PRINTER": 2 * time.Minute, "WORKSTATION": 2 * time.Minute,
		}},
		RecoveryHold: PerClass{Default: 0, Classes: map[string]time.Duration{}},
		ReopenWindow: 2 * time.Minute,
		Flap:         Flap{Window: 10 * time.Minute, Threshold: 6, Stable: 2 * time.Minute},
		Correlation:  Correlation{Wait: 5 * time.Second, MaxDepth: 8},
		Escalation: []EscalationLevel{
			{Name: "duty-engineer", Trigger: TriggerAcknowledge},
			{Name: "biomed-lead", Trigger: TriggerRestore},
			{Name: "clinical-director", Trigger: TriggerRestore, After: time.Hour, Priorities: []Priority{P1, P2}},
		},
		SLACheck: "@every 15s",
		// Thirteen months covers a year of reporting with a month to spare.
		Retention: Retention{ResolvedIncidents: 396 * 24 * time.Hour, Audit: 396 * 24 * time.Hour, JobRuns: 7 * 24 * time.Hour, Schedule: "@every 1h"},
		LeaseTTL:  15 * time.Second,
		Delivery:  Delivery{InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute, Timeout: 10 * time.Second, Workers: 4},
		Reconcile: 10 * time.Second,
	}
	defaultBeyond(p)
	return p
}

// LoadPolicy reads a policy file over the defaults; an empty path gives the defaults.
// Unknown keys and out-of-range values are errors.
func LoadPolicy(path string) (*Policy, error) {
	p := DefaultPolicy()
	if path == "" {
		return p, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	if err := p.decode(data); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes policy bytes over the defaults.
func ParsePolicy(data []byte) (*Policy, error) {
	p := DefaultPolicy()
	if err := p.decode(data); err != nil {
		return nil, err
	}
	return p, nil
}

// decode decodes onto the defaults: maps gain or override keys, structs keep the
// fields the file does not mention, lists (escalation, webhooks) are replaced, and an
// explicit zero (hold 0s) is kept.
func (p *Policy) decode(data []byte) error {
	if len(bytes.TrimSpace(data)) > 0 {
		// DecodeEnv's errors quote the file as written, never a secret from it or
		// from the environment.
		missing, err := yamlstrict.DecodeEnv(data, p)
		if len(missing) > 0 {
			return fmt.Errorf("environment variable(s) not set: %s", strings.Join(missing, ", "))
		}
		if err != nil {
			return err
		}
		upperKeys(p.ClassCriticality)
		upperKeys(p.CareAreaAcuity)
		upperKeys(p.Hold.Classes)
		upperKeys(p.RecoveryHold.Classes)
	}
	return p.Validate()
}

// upperKeys makes class and care-area names case-insensitive; a key the file wrote in
// lower case overrides the default of the same name.
func upperKeys[V any](m map[string]V) {
	for k, v := range m {
		if u := strings.ToUpper(k); u != k {
			m[u] = v
			delete(m, k)
		}
	}
}

// Validate checks ranges, names and cross-field rules.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for k, v := range p.ClassCriticality {
		if v < 1 || v > 5 {
			bad("class_criticality.%s: %d is outside 1..5", k, v)
		}
	}
	for k, v := range p.CareAreaAcuity {
		if v < 1 || v > 5 {
			bad("care_area_acuity.%s: %d is outside 1..5", k, v)
		}
	}
	if p.DefaultAcuity < 1 || p.DefaultAcuity > 5 {
		bad("default_acuity: %d is outside 1..5", p.DefaultAcuity)
	}
	for k, v := range p.ConditionSeverity {
		if !v.Valid() {
			bad("condition_severity.%s: %q is not one of down, battery, degraded, info", k, v)
		}
	}
	if p.PatientConnected.Levels < 0 || p.PatientConnected.Levels > 2 {
		bad("patient_connected.urgency_levels: %d is outside 0..2", p.PatientConnected.Levels)
	}
	if p.Redundancy.Levels < 0 || p.Redundancy.Levels > 2 {
		bad("redundancy.urgency_levels: %d is outside 0..2", p.Redundancy.Levels)
	}
	if p.Redundancy.MinFreeSpares < 1 {
		bad("redundancy.min_free_spares: %d is below 1", p.Redundancy.MinFreeSpares)
	}
	for imp, row := range p.Matrix {
		if !slices.Contains(levelNames, imp) {
			bad("matrix.%s: impact must be high, medium or low", imp)
			continue
		}
		for _, urg := range levelNames {
			if pr, ok := row[urg]; !ok {
				bad("matrix.%s.%s: missing (a row needs high, medium and low)", imp, urg)
			} else if !validPriority(pr) {
				bad("matrix.%s.%s: %q is not a priority (P1..P5)", imp, urg, pr)
			}
		}
		for urg := range row {
			if !slices.Contains(levelNames, urg) {
				bad("matrix.%s.%s: urgency must be high, medium or low", imp, urg)
			}
		}
	}
	for _, imp := range levelNames {
		if _, ok := p.Matrix[imp]; !ok {
			bad("matrix.%s: missing", imp)
		}
	}
	for k, v := range p.SLA {
		if !validPriority(k) {
			bad("sla.%s: not a priority (P1..P5)", k)
		}
		if v.Acknowledge <= 0 || v.Restore <= 0 {
			bad("sla.%s: acknowledge and restore must be positive", k)
		}
	}
	for _, pr := range Priorities {
		if _, ok := p.SLA[pr]; !ok {
			bad("sla.%s: missing", pr)
		}
	}
	checkPerClass := func(name string, pc PerClass) {
		if pc.Default < 0 || pc.Default > 24*time.Hour {
			bad("%s.default: %s is outside 0..24h", name, pc.Default)
		}
		for k, v := range pc.Classes {
			if v < 0 || v > 24*time.Hour {
				bad("%s.classes.%s: %s is outside 0..24h", name, k, v)
			}
		}
	}
	checkPerClass("hold", p.Hold)
	checkPerClass("recovery_hold", p.RecoveryHold)
	if p.ReopenWindow < 0 || p.ReopenWindow > 24*time.Hour {
		bad("reopen_window: %s is outside 0..24h", p.ReopenWindow)
	}
	if p.Flap.Window <= 0 {
		bad("flap.window: must be positive")
	}
	if p.Flap.Stable < 0 || p.Flap.Stable > 24*time.Hour {
		bad("flap.stable: %s is outside 0..24h", p.Flap.Stable)
	}
	if p.Flap.Threshold < 2 || p.Flap.Threshold > 1000 {
		bad("flap.threshold: %d is outside 2..1000 state changes", p.Flap.Threshold)
	}
	if p.Correlation.Wait < 0 || p.Correlation.Wait > 10*time.Minute {
		bad("correlation.wait: %s is outside 0..10m", p.Correlation.Wait)
	}
	if p.Correlation.MaxDepth < 1 || p.Correlation.MaxDepth > 32 {
		bad("correlation.max_depth: %d is outside 1..32", p.Correlation.MaxDepth)
	}
	names := map[string]bool{}
	for i, l := range p.Escalation {
		switch {
		case l.Name == "":
			bad("escalation[%d].name: is required", i)
		case names[l.Name]:
			bad("escalation[%d].name: %q is used twice", i, l.Name)
		}
		names[l.Name] = true
		if l.Trigger != TriggerAcknowledge && l.Trigger != TriggerRestore {
			bad("escalation[%d].trigger: %q is not acknowledge or restore", i, l.Trigger)
		}
		if l.After < 0 {
			bad("escalation[%d].after: must not be negative", i)
		}
		for _, pr := range l.Priorities {
			if !validPriority(pr) {
				bad("escalation[%d].priorities: %q is not a priority (P1..P5)", i, pr)
			}
		}
	}
	if _, err := cron.ParseStandard(p.SLACheck); err != nil {
		bad("sla_check_schedule: %q: %v", p.SLACheck, err)
	}
	if _, err := cron.ParseStandard(p.Retention.Schedule); err != nil {
		bad("retention.schedule: %q: %v", p.Retention.Schedule, err)
	}
	for name, d := range map[string]time.Duration{"resolved_incidents": p.Retention.ResolvedIncidents, "audit": p.Retention.Audit, "job_runs": p.Retention.JobRuns,
		"asset_events": p.Retention.AssetEvents} {
		if d < 0 || (d > 0 && d < time.Hour) {
			bad("retention.%s: %s must be 0 (keep for ever) or at least 1h", name, d)
		}
	}
	if p.LeaseTTL < time.Second {
		bad("lease_ttl: %s is below 1s", p.LeaseTTL)
	}
	errs = append(errs, p.validateDelivery()...)
	errs = append(errs, p.validateBeyond()...)
	if p.Reconcile < time.Second {
		bad("reconcile_interval: %s is below 1s", p.Reconcile)
	}
	return errors.Join(errs...)
}

func validPriority(p Priority) bool { return slices.Contains(Priorities, p) }

// Scale multiplies the policy's waiting times (holds, reopen window, flap window) by
// factor: the demo compresses time, and its printers should not wait two real minutes.
func (p *Policy) Scale(factor float64) {
	if factor <= 0 || factor == 1 {
		return
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * factor) }
	p.Hold.Default = sc(p.Hold.Default)
	for k, v := range p.Hold.Classes {
		p.Hold.Classes[k] = sc(v)
	}
	p.RecoveryHold.Default = sc(p.RecoveryHold.Default)
	for k, v := range p.RecoveryHold.Classes {
		p.RecoveryHold.Classes[k] = sc(v)
	}
	p.ReopenWindow = sc(p.ReopenWindow)
	p.Flap.Window = sc(p.Flap.Window)
	p.Flap.Stable = sc(p.Flap.Stable)
}
