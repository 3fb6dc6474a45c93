package observation

import (
	"fmt"
	"slices"
	"strings"
)

// Well-known condition codes. What each one means to the cmdb — its channel, default
// severity, whether the device is down while it is active, and its label — is defined
// once, in the registry below.
const (
	CondSNMPUnreachable   = "snmp.unreachable"
	CondHL7HeartbeatLost  = "hl7.heartbeat_lost"
	CondDeviceRebooted    = "device.rebooted"
	CondUPSOnBattery      = "ups.on_battery"
	CondUPSBatteryLow     = "ups.battery_low"
	CondInterfaceDown     = "interface.down"
	CondTechnicalAlarm    = "device.alarm.technical"
	CondSelfTestFailed    = "device.self_test_failed"
	CondBatteryLow        = "device.battery_low"
	CondCollectorSilent   = "collector.silent"
	CondUnknownTrap       = "snmp.trap"
	CondDeviceUnreachable = "device.unreachable"
	CondRogueDevice       = "security.rogue_device"
)

// Channels a condition can be raised on. A channel is one path by which the cmdb
// hears of a device (Source.Channel): a dead HL7 gateway explains the conditions of
// the hl7 channel, not those of snmp.
const (
	ChannelSNMP      = "snmp"
	ChannelHL7       = "hl7"
	ChannelCollector = "collector"
	// ChannelCMDB: raised by the cmdb itself (the rogue device detector).
	ChannelCMDB = "cmdb"
)

// Severity is how much a condition weighs in an incident's priority, most severe
// first: down, battery, degraded, info.
type Severity string

// Severity levels.
const (
	SeverityDown     Severity = "down"
	SeverityBattery  Severity = "battery"
	SeverityDegraded Severity = "degraded"
	SeverityInfo     Severity = "info"
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool {
	return s == SeverityDown || s == SeverityBattery || s == SeverityDegraded || s == SeverityInfo
}

// Condition is what the cmdb knows of one condition code.
type Condition struct {
	Code string
	// Channel is the path the condition is raised on (ChannelSNMP, ...).
	Channel string
	// Severity weighs the condition's incidents (a policy may re-rate it).
	Severity Severity
	// Down: while the condition is active the device is unusable, so the asset is
	// DOWN; any other active condition makes it DEGRADED. Only a condition of
	// severity down can be Down: re-rating one lower makes it degrade the asset.
	Down bool
	// Label is the condition in words, for incident titles.
	Label string
}

// defaultConditions is the built-in definition of every known condition.
var defaultConditions = []Condition{
	{CondSNMPUnreachable, ChannelSNMP, SeverityDown, true, "not answering SNMP"},
	{CondHL7HeartbeatLost, ChannelHL7, SeverityDown, true, "HL7 heartbeat lost"},
	{CondDeviceUnreachable, ChannelHL7, SeverityDown, true, "unreachable"},
	{CondCollectorSilent, ChannelCollector, SeverityDown, true, "collector silent"},
	{CondUPSBatteryLow, ChannelSNMP, SeverityDown, false, "UPS battery low"},
	{CondUPSOnBattery, ChannelSNMP, SeverityBattery, false, "UPS on battery"},
	{CondInterfaceDown, ChannelSNMP, SeverityDegraded, false, "interface down"},
	{CondTechnicalAlarm, ChannelHL7, SeverityDegraded, false, "technical alarm"},
	{CondSelfTestFailed, ChannelHL7, SeverityDegraded, false, "self-test failed"},
	{CondBatteryLow, ChannelHL7, SeverityDegraded, false, "battery low"},
	{CondRogueDevice, ChannelCMDB, SeverityDegraded, false, "unknown device on a clinical network"},
	{CondDeviceRebooted, ChannelSNMP, SeverityInfo, false, "rebooted"},
	{CondUnknownTrap, ChannelSNMP, SeverityInfo, false, "trap"},
}

// Registry is the definition of conditions in force: the built-in ones, with the
// severities a policy re-rated. The asset registry (status) and the incident engine
// (priority, correlation) read the same Registry. A Registry is immutable.
type Registry struct {
	byCode map[string]Condition
}

// DefaultConditions returns the built-in definitions.
func DefaultConditions() *Registry {
	r := &Registry{byCode: make(map[string]Condition, len(defaultConditions))}
	for _, c := range defaultConditions {
		r.byCode[c.Code] = c
	}
	return r
}

// WithSeverities returns a copy of r with the severities of some conditions changed
// (a policy's condition_severity). A condition re-rated below down stops making its
// device DOWN; an unknown code gets a definition of its own.
func (r *Registry) WithSeverities(sev map[string]Severity) (*Registry, error) {
	out := &Registry{byCode: make(map[string]Condition, len(r.byCode)+len(sev))}
	for k, v := range r.byCode {
		out.byCode[k] = v
	}
	codes := make([]string, 0, len(sev))
	for code := range sev {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		s := sev[code]
		if !s.Valid() {
			return nil, fmt.Errorf("condition %s: severity %q is not one of down, battery, degraded, info", code, s)
		}
		c := r.Lookup(code)
		c.Severity = s
		if s != SeverityDown {
			c.Down = false
		}
		out.byCode[code] = c
	}
	return out, nil
}

// Lookup returns the definition of a condition. An unknown code (a collector may
// send codes this cmdb does not know yet) degrades its device at severity degraded,
// on the channel its code names by convention ("<channel>.<what>"), labelled by its
// code.
func (r *Registry) Lookup(code string) Condition {
	if c, ok := r.byCode[code]; ok {
		return c
	}
	ch, _, _ := strings.Cut(code, ".")
	return Condition{Code: code, Channel: ch, Severity: SeverityDegraded, Label: code}
}

// Severity returns the severity of a condition.
func (r *Registry) Severity(code string) Severity { return r.Lookup(code).Severity }

// Down reports whether an active condition makes its device DOWN.
func (r *Registry) Down(code string) bool { return r.Lookup(code).Down }

// State is the state a channel is in with these conditions active: DOWN when one
// makes the device unusable, DEGRADED when any other is active, UP with none.
func (r *Registry) State(conds []string) State {
	st := StateUp
	for _, c := range conds {
		if r.Down(c) {
			return StateDown
		}
		st = StateDegraded
	}
	return st
}

// All returns every defined condition, by code.
func (r *Registry) All() []Condition {
	out := make([]Condition, 0, len(r.byCode))
	for _, c := range r.byCode {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Condition) int { return strings.Compare(a.Code, b.Code) })
	return out
}
