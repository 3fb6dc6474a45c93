package observation

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Source says how an observation was made.
type Source string

// Observation sources.
const (
	SourceSNMPPoll  Source = "SNMP_POLL"
	SourceSNMPSweep Source = "SNMP_SWEEP"
	SourceSNMPTrap  Source = "SNMP_TRAP"
	SourceHL7       Source = "HL7"
	SourceImport    Source = "IMPORT"
)

// Channel groups sources that share one view of a device's state: a trap and a poll
// speak about the same SNMP agent, an HL7 heartbeat about another path entirely.
func (s Source) Channel() string {
	switch s {
	case SourceSNMPPoll, SourceSNMPSweep, SourceSNMPTrap:
		return "snmp"
	case SourceHL7:
		return "hl7"
	default:
		return strings.ToLower(string(s))
	}
}

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceSNMPPoll, SourceSNMPSweep, SourceSNMPTrap, SourceHL7, SourceImport:
		return true
	}
	return false
}

// State is the health of a device as one source sees it.
type State string

// Device states carried by observations.
const (
	StateUp       State = "UP"
	StateDown     State = "DOWN"
	StateDegraded State = "DEGRADED"
)

// Valid reports whether s is a known state.
func (s State) Valid() bool { return s == StateUp || s == StateDown || s == StateDegraded }

// Kind says why an observation was sent. Refreshes only extend validity; the cmdb
// does not need to write anything for them unless something changed.
type Kind string

// Observation kinds.
const (
	KindDiscovered Kind = "DISCOVERED"
	KindChange     Kind = "CHANGE"
	KindRefresh    Kind = "REFRESH"
	KindEvent      Kind = "EVENT"
)

// Observation is what one collector saw about one device at one moment.
//
// Conditions carries the full set of conditions this source sees active on the device
// when the collector knows it (polls do): the cmdb then replaces its view, which makes
// replays convergent. When Conditions is nil the observation is a delta about Condition
// alone (traps, HL7 alarms): State other than UP raises it, UP clears it.
type Observation struct {
	ID         string    `json:"id"`
	Collector  string    `json:"collector"`
	Site       string    `json:"site,omitempty"`
	ObservedAt time.Time `json:"observedAt"`
	ValidUntil time.Time `json:"validUntil"`
	Source     Source    `json:"source"`
	Kind       Kind      `json:"kind,omitempty"`

	Address   *Address   `json:"address,omitempty"`
	Identity  Identity   `json:"identity"`
	Location  *Location  `json:"location,omitempty"`
	Neighbors []Neighbor `json:"neighbors,omitempty"`

	State      State    `json:"state"`
	Condition  string   `json:"condition,omitempty"`
	Conditions []string `json:"conditions"`
	Detail     string   `json:"detail,omitempty"`
	// PatientConnected is true when HL7 shows the device bound to a patient now.
	// Only the fact is kept, never who.
	PatientConnected *bool `json:"patientConnected,omitempty"`
	// Clinical is true when the device answered on a range marked clinical in the
	// collector's configuration: an unknown device there is a security concern.
	Clinical bool `json:"clinical,omitempty"`
	// UpstreamAnsweredAt, on a DOWN, is when the device's upstream switch (its
	// CONNECTED_TO neighbour) last answered a poll, set only when that was after this
	// device stopped answering: the switch is alive, so the failure is the device's
	// own and the cmdb need not wait to see whether the switch fails too.
	UpstreamAnsweredAt *time.Time `json:"upstreamAnsweredAt,omitempty"`
}

// Address is where a device answered.
type Address struct {
	IP   string `json:"ip"`
	Port int    `json:"port,omitempty"`
}

// Identity is every identifier a source could read from the device.
type Identity struct {
	EUI64        string   `json:"eui64,omitempty"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	Model        string   `json:"model,omitempty"`
	Serial       string   `json:"serial,omitempty"`
	MACs         []string `json:"macs,omitempty"`
	SysName      string   `json:"sysName,omitempty"`
	SysObjectID  string   `json:"sysObjectID,omitempty"`
	SysDescr     string   `json:"sysDescr,omitempty"`
	Firmware     string   `json:"firmware,omitempty"`
	Software     string   `json:"software,omitempty"`
	MDCCode      string   `json:"mdcCode,omitempty"`
	// Class is the device class a fingerprint profile or HL7 MDC code inferred,
	// using the cmdb's AssetClass names (VENTILATOR, NETWORK_SWITCH, ...).
	Class string `json:"class,omitempty"`
	// HL7App is the sending application (MSH-3) for devices seen over HL7.
	HL7App string `json:"hl7App,omitempty"`
}

// Location is a location hint: range configuration, sysLocation or HL7 point of care.
type Location struct {
	Building string `json:"building,omitempty" yaml:"building"`
	Floor    string `json:"floor,omitempty" yaml:"floor"`
	Unit     string `json:"unit,omitempty" yaml:"unit"`
	CareArea string `json:"careArea,omitempty" yaml:"care_area"`
	Room     string `json:"room,omitempty" yaml:"room"`
	Bed      string `json:"bed,omitempty" yaml:"bed"`
	// Raw is a free-text hint such as sysLocation.
	Raw string `json:"raw,omitempty" yaml:"-"`
}

// IsZero reports whether no field is set.
func (l Location) IsZero() bool { return l == Location{} }

// Neighbor is an upstream link of the device, from LLDP or a forwarding table.
type Neighbor struct {
	// Kind is the relationship: CONNECTED_TO, POWERED_BY, REPORTS_THROUGH, DEPENDS_ON.
	Kind string `json:"kind"`
	// The neighbour's identifiers, as the collector knows them.
	IP      string `json:"ip,omitempty"`
	MAC     string `json:"mac,omitempty"`
	SysName string `json:"sysName,omitempty"`
	HL7App  string `json:"hl7App,omitempty"`
	Port    string `json:"port,omitempty"`
}

// ActiveConditions returns the conditions the observation says are active, or nil
// together with false when the observation is a delta (see Observation).
func (o *Observation) ActiveConditions() ([]string, bool) {
	if o.Conditions != nil {
		return o.Conditions, true
	}
	return nil, false
}

// HasIdentity reports whether the observation carries anything a device can be
// identified by.
func (o *Observation) HasIdentity() bool {
	id := o.Identity
	return id.EUI64 != "" || id.Serial != "" || len(id.MACs) > 0 || id.SysName != "" ||
		id.HL7App != "" || (o.Address != nil && o.Address.IP != "")
}

// MaxObservationTTL bounds how far in the future validUntil may be, so a misconfigured
// collector cannot keep a dead device "known" for ever.
const MaxObservationTTL = 24 * time.Hour

// Validate checks an observation received from outside before anything is applied.
func (o *Observation) Validate() error {
	var errs []error
	if o.ID == "" || len(o.ID) > 200 {
		errs = append(errs, errors.New("id must be 1..200 characters"))
	}
	if o.Collector == "" {
		errs = append(errs, errors.New("collector is required"))
	}
	if o.ObservedAt.IsZero() {
		errs = append(errs, errors.New("observedAt is required"))
	}
	if !o.ValidUntil.IsZero() && o.ValidUntil.Before(o.ObservedAt) {
		errs = append(errs, errors.New("validUntil is before observedAt"))
	}
	if !o.ValidUntil.IsZero() && o.ValidUntil.Sub(o.ObservedAt) > MaxObservationTTL {
		errs = append(errs, fmt.Errorf("validUntil more than %s after observedAt", MaxObservationTTL))
	}
	if !o.Source.Valid() {
		errs = append(errs, fmt.Errorf("unknown source %q", o.Source))
	}
	if !o.State.Valid() {
		errs = append(errs, fmt.Errorf("unknown state %q", o.State))
	}
	if o.Address != nil && o.Address.IP != "" {
		if _, err := netip.ParseAddr(o.Address.IP); err != nil {
			errs = append(errs, fmt.Errorf("address.ip: %w", err))
		}
	}
	if !o.HasIdentity() {
		errs = append(errs, errors.New("no identifier (eui64, serial, mac, sysName, hl7App or address)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("observation %q: %w", o.ID, err)
	}
	return nil
}
