package incidents

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// Policy is the clinical weighting and SLA policy (DESIGN §6), loaded from the cmdb's
// --config file over built-in defaults.
type Policy struct {
	// ClassCriticality is 1..5 per asset class; infrastructure classes inherit the
	// worst impact of what depends on them when that is known.
	ClassCriticality map[string]int `yaml:"class_criticality"`
	// CareAreaAcuity is 1..5 per care area; unknown areas get DefaultAcuity.
	CareAreaAcuity map[string]int `yaml:"care_area_acuity"`
	DefaultAcuity  int            `yaml:"default_acuity"`
	// ConditionSeverity is down, battery, degraded or info per condition code.
	ConditionSeverity map[string]string `yaml:"condition_severity"`
	// SLA targets per priority.
	SLA map[Priority]SLATarget `yaml:"sla"`
	// Reconcile is how often every asset's conditions are checked against open incidents.
	Reconcile time.Duration `yaml:"reconcile_interval"`
}

// SLATarget is the acknowledge and restore target of one priority.
type SLATarget struct {
	Acknowledge time.Duration `yaml:"acknowledge"`
	Restore     time.Duration `yaml:"restore"`
}

// Severity levels of conditions, most severe first.
const (
	SeverityDown     = "down"
	SeverityBattery  = "battery"
	SeverityDegraded = "degraded"
	SeverityInfo     = "info"
)

var severityRank = map[string]int{SeverityDown: 3, SeverityBattery: 2, SeverityDegraded: 2, SeverityInfo: 1}

// DefaultPolicy returns the built-in policy.
func DefaultPolicy() *Policy {
	return &Policy{
		ClassCriticality: map[string]int{
			"VENTILATOR": 5, "ANESTHESIA_MACHINE": 5, "INFUSION_PUMP": 5,
			"PATIENT_MONITOR": 4,
			"LAB_ANALYZER":    3, "IMAGING": 3,
			"NETWORK_SWITCH": 3, "ROUTER": 3, "WIRELESS_AP": 3, "UPS": 3, "HL7_GATEWAY": 3,
			"SERVER": 2, "WORKSTATION": 2, "PRINTER": 1, "OTHER": 2,
		},
		CareAreaAcuity: map[string]int{
			"ICU": 5, "NICU": 5, "PICU": 5, "ED": 5, "OR": 5,
			"STEP_DOWN": 4, "L&D": 4, "LD": 4, "PACU": 4,
			"WARD": 3, "MED_SURG": 3,
			"OUTPATIENT": 2, "LAB": 2, "IMAGING": 2, "PHARMACY": 2,
			"ADMIN": 1,
		},
		DefaultAcuity: 3,
		ConditionSeverity: map[string]string{
			"snmp.unreachable": SeverityDown, "hl7.heartbeat_lost": SeverityDown, "device.unreachable": SeverityDown,
			"collector.silent": SeverityDown,
			"ups.on_battery":   SeverityBattery, "ups.battery_low": SeverityDown,
			"interface.down": SeverityDegraded, "device.alarm.technical": SeverityDegraded,
			"device.self_test_failed": SeverityDegraded,
			"device.rebooted":         SeverityInfo, "snmp.trap": SeverityInfo,
		},
		SLA: map[Priority]SLATarget{
			P1: {5 * time.Minute, time.Hour},
			P2: {15 * time.Minute, 4 * time.Hour},
			P3: {time.Hour, 8 * time.Hour},
			P4: {4 * time.Hour, 72 * time.Hour},
			P5: {24 * time.Hour, 240 * time.Hour},
		},
		Reconcile: 10 * time.Second,
	}
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

func (p *Policy) decode(data []byte) error {
	if len(bytes.TrimSpace(data)) > 0 {
		// Decode into a fresh value, then overlay, so maps extend the defaults
		// instead of replacing them.
		var in Policy
		if err := yamlstrict.Decode(data, &in); err != nil {
			return err
		}
		for k, v := range in.ClassCriticality {
			p.ClassCriticality[strings.ToUpper(k)] = v
		}
		for k, v := range in.CareAreaAcuity {
			p.CareAreaAcuity[strings.ToUpper(k)] = v
		}
		for k, v := range in.ConditionSeverity {
			p.ConditionSeverity[k] = v
		}
		for k, v := range in.SLA {
			p.SLA[k] = v
		}
		if in.DefaultAcuity != 0 {
			p.DefaultAcuity = in.DefaultAcuity
		}
		if in.Reconcile != 0 {
			p.Reconcile = in.Reconcile
		}
	}
	return p.Validate()
}

// Validate checks ranges and names.
func (p *Policy) Validate() error {
	var errs []error
	for k, v := range p.ClassCriticality {
		if v < 1 || v > 5 {
			errs = append(errs, fmt.Errorf("class_criticality.%s: %d is outside 1..5", k, v))
		}
	}
	for k, v := range p.CareAreaAcuity {
		if v < 1 || v > 5 {
			errs = append(errs, fmt.Errorf("care_area_acuity.%s: %d is outside 1..5", k, v))
		}
	}
	if p.DefaultAcuity < 1 || p.DefaultAcuity > 5 {
		errs = append(errs, fmt.Errorf("default_acuity: %d is outside 1..5", p.DefaultAcuity))
	}
	for k, v := range p.ConditionSeverity {
		if _, ok := severityRank[v]; !ok {
			errs = append(errs, fmt.Errorf("condition_severity.%s: %q is not one of down, battery, degraded, info", k, v))
		}
	}
	for k, v := range p.SLA {
		valid := false
		for _, q := range Priorities {
			valid = valid || q == k
		}
		if !valid {
			errs = append(errs, fmt.Errorf("sla.%s: not a priority (P1..P5)", k))
		}
		if v.Acknowledge <= 0 || v.Restore <= 0 {
			errs = append(errs, fmt.Errorf("sla.%s: acknowledge and restore must be positive", k))
		}
	}
	if p.Reconcile < time.Second {
		errs = append(errs, fmt.Errorf("reconcile_interval: %s is below 1s", p.Reconcile))
	}
	return errors.Join(errs...)
}
