// Package assets owns the asset model: identification and reconciliation of devices
// seen by several sources, per-attribute source authority, device state, field-level
// history, and the asset store. It knows nothing of incidents or GraphQL.
package assets

import (
	"slices"
	"time"
)

// Class is a device class; the names are the GraphQL AssetClass enum.
type Class string

// Device classes.
const (
	ClassPatientMonitor    Class = "PATIENT_MONITOR"
	ClassInfusionPump      Class = "INFUSION_PUMP"
	ClassVentilator        Class = "VENTILATOR"
	ClassAnesthesiaMachine Class = "ANESTHESIA_MACHINE"
	ClassLabAnalyzer       Class = "LAB_ANALYZER"
	ClassImaging           Class = "IMAGING"
	ClassNetworkSwitch     Class = "NETWORK_SWITCH"
	ClassRouter            Class = "ROUTER"
	ClassWirelessAP        Class = "WIRELESS_AP"
	ClassUPS               Class = "UPS"
	ClassPrinter           Class = "PRINTER"
	ClassHL7Gateway        Class = "HL7_GATEWAY"
	ClassServer            Class = "SERVER"
	ClassWorkstation       Class = "WORKSTATION"
	ClassOther             Class = "OTHER"
	// ClassCollector is the record standing for a medcmdb collector, so that a silent
	// collector is an incident like any failed device (see collector.go).
	ClassCollector Class = "COLLECTOR"
)

// Classes lists every class in schema order.
var Classes = []Class{
	ClassPatientMonitor, ClassInfusionPump, ClassVentilator, ClassAnesthesiaMachine,
	ClassLabAnalyzer, ClassImaging, ClassNetworkSwitch, ClassRouter, ClassWirelessAP, ClassUPS,
	ClassPrinter, ClassHL7Gateway, ClassServer, ClassWorkstation, ClassOther, ClassCollector,
}

// Valid reports whether c is a known class.
func (c Class) Valid() bool { return slices.Contains(Classes, c) }

// Infrastructure reports whether devices of this class carry other devices' traffic or
// power, so that their clinical impact is inherited from what depends on them.
func (c Class) Infrastructure() bool {
	switch c {
	case ClassNetworkSwitch, ClassRouter, ClassWirelessAP, ClassUPS, ClassHL7Gateway:
		return true
	}
	return false
}

// Status is an asset's operational status.
type Status string

// Asset statuses.
const (
	StatusOperational Status = "OPERATIONAL"
	StatusDegraded    Status = "DEGRADED"
	StatusDown        Status = "DOWN"
	StatusUnknown     Status = "UNKNOWN"
	StatusMaintenance Status = "MAINTENANCE"
	StatusRetired     Status = "RETIRED"
)

// Statuses lists every status in schema order.
var Statuses = []Status{StatusOperational, StatusDegraded, StatusDown, StatusUnknown, StatusMaintenance, StatusRetired}

// Location is where an asset is.
type Location struct {
	Building string `bson:"building,omitempty" json:"building,omitempty"`
	Floor    string `bson:"floor,omitempty" json:"floor,omitempty"`
	Unit     string `bson:"unit,omitempty" json:"unit,omitempty"`
	CareArea string `bson:"careArea,omitempty" json:"careArea,omitempty"`
	Room     string `bson:"room,omitempty" json:"room,omitempty"`
	Bed      string `bson:"bed,omitempty" json:"bed,omitempty"`
}

// IsZero reports whether no field is set.
func (l Location) IsZero() bool { return l == Location{} }

// Biomed are the fields biomedical engineers keep about a device. Dates are UTC
// midnights; zero means unknown.
type Biomed struct {
	AssetTag     string    `bson:"assetTag,omitempty"`
	Owner        string    `bson:"owner,omitempty"`
	SupportGroup string    `bson:"supportGroup,omitempty"`
	InstallDate  time.Time `bson:"installDate,omitempty"`
	WarrantyEnd  time.Time `bson:"warrantyEnd,omitempty"`
	// PMIntervalDays is the planned-maintenance interval; 0 means no PM programme.
	PMIntervalDays int       `bson:"pmIntervalDays,omitempty"`
	LastPM         time.Time `bson:"lastPM,omitempty"`
	Notes          string    `bson:"notes,omitempty"`
	RetiredAt      time.Time `bson:"retiredAt,omitempty"`
}

// NextPMDue is when the next planned maintenance is due: the last PM (or, before the
// first one, the install date) plus the interval. Zero when there is no PM programme
// or nothing to count from.
func (b Biomed) NextPMDue() time.Time {
	if b.PMIntervalDays <= 0 {
		return time.Time{}
	}
	from := b.LastPM
	if from.IsZero() {
		from = b.InstallDate
	}
	if from.IsZero() {
		return time.Time{}
	}
	return from.AddDate(0, 0, b.PMIntervalDays)
}

// PMOverdue reports whether planned maintenance is due before now on an asset still
// in service.
func (a *Asset) PMOverdue(now time.Time) bool {
	due := a.Biomed.NextPMDue()
	return a.Status != StatusRetired && !due.IsZero() && due.Before(now)
}

// Authority ranks the sources of an attribute value: a weaker source never overwrites
// a stronger one (DESIGN §4).
type Authority int

// Authorities, weakest first.
const (
	AuthInferred   Authority = 10 // fingerprint profiles, guesses
	AuthSNMPSystem Authority = 20 // SNMP system group, sysLocation
	AuthRange      Authority = 25 // collector range configuration (locations)
	AuthSNMPEntity Authority = 30 // SNMP ENTITY-MIB, IF-MIB
	AuthHL7        Authority = 40 // device self-report over HL7
	AuthImport     Authority = 45 // bulk import by a person
	AuthManual     Authority = 50 // manual edit
)

// Channel is the state of an asset as one source path (collector + channel) sees it.
type Channel struct {
	Collector  string   `bson:"collector"`
	Channel    string   `bson:"channel"`
	State      string   `bson:"state"`
	Conditions []string `bson:"conditions,omitempty"`
	// ObservedAt is the time of the newest state observation applied: state is
	// ordered by it (events do not move it; see judge).
	ObservedAt time.Time `bson:"observedAt"`
	ValidUntil time.Time `bson:"validUntil"`
	// LastID is the id of the last observation applied.
	LastID string `bson:"lastId"`
	// Streams and OtherIDs are the ids of every observation applied, so that a replay
	// is recognised by its id (applied.go).
	Streams  []IDStream `bson:"streams,omitempty"`
	OtherIDs []string   `bson:"otherIds,omitempty"`
	// SameTime is read from records written before Streams existed (the ids applied
	// before LastID at the same instant); it is no longer written.
	SameTime []string `bson:"sameTime,omitempty"`
	Expired  bool     `bson:"expired,omitempty"`
}

// Asset is one real device.
type Asset struct {
	ID              string    `bson:"_id"`
	Name            string    `bson:"name,omitempty"`
	Class           Class     `bson:"class"`
	Status          Status    `bson:"status"`
	Manufacturer    string    `bson:"manufacturer,omitempty"`
	Model           string    `bson:"model,omitempty"`
	SerialNumber    string    `bson:"serialNumber,omitempty"`
	FirmwareVersion string    `bson:"firmwareVersion,omitempty"`
	SoftwareVersion string    `bson:"softwareVersion,omitempty"`
	SysObjectID     string    `bson:"sysObjectID,omitempty"`
	SysDescr        string    `bson:"sysDescr,omitempty"`
	SysName         string    `bson:"sysName,omitempty"`
	SysLocation     string    `bson:"sysLocation,omitempty"`
	EUI64           string    `bson:"eui64,omitempty"`
	HL7App          string    `bson:"hl7App,omitempty"`
	MDCCode         string    `bson:"mdcCode,omitempty"`
	IPAddresses     []string  `bson:"ipAddresses"`
	MACAddresses    []string  `bson:"macAddresses"`
	Site            string    `bson:"site,omitempty"`
	Location        Location  `bson:"location"`
	Sources         []string  `bson:"sources"`
	FirstSeenAt     time.Time `bson:"firstSeenAt"`
	LastSeenAt      time.Time `bson:"lastSeenAt,omitempty"`
	RiskScore       int       `bson:"riskScore"`

	// Upstream are the assets this one depends on (switch port, UPS, HL7 gateway, ...).
	Upstream []Relation `bson:"upstream,omitempty"`

	// PendingUpstream are neighbours an observation named that match no asset yet;
	// they become relations when a matching asset appears.
	PendingUpstream []PendingRelation `bson:"pendingUpstream,omitempty"`

	// Biomed fields, set by people (updateAsset, import).
	Biomed Biomed `bson:"biomed"`

	// CollectorName is set on the record of a collector (ClassCollector): the name the
	// collector reports under. It identifies the record; people may rename it.
	CollectorName string `bson:"collectorName,omitempty"`

	// PatientConnected is true while HL7 shows the device bound to a patient.
	PatientConnected bool `bson:"patientConnected,omitempty"`
	// Authority records, per field (dots replaced by "_": MongoDB keys cannot hold
	// them), the authority of the source that set it.
	Authority map[string]Authority `bson:"authority"`
	// Channels is the state per source path (collector, channel). A slice, not a map:
	// collector names are user input and may hold characters keys cannot.
	Channels []*Channel `bson:"channels"`
	// HistoryCount is the number of history entries written. Entries [0, HistorySealed*
	// historyBucket) live in sealed bucket documents, written once by insert; the rest
	// (HistoryTail) travel inside this document, so a change costs one write.
	HistoryCount  int      `bson:"historyCount"`
	HistorySealed int      `bson:"historySealed"`
	HistoryTail   []Change `bson:"historyTail"`
	// HistoryGen names the generation of sealed buckets; a merge rewrites the history
	// as a new generation so it stays one time-ordered sequence.
	HistoryGen int `bson:"historyGen,omitempty"`
	// OldestEvent is the time of the oldest event-history entry kept (zero: none),
	// once EventsTracked; retention reads the history of only the assets it points
	// at (retention.go). Records written before it existed are not tracked until
	// retention has read them once.
	OldestEvent   time.Time `bson:"oldestEvent,omitempty"`
	EventsTracked bool      `bson:"eventsTracked,omitempty"`
	// MergedFrom lists records merged into this one; their history stays readable.
	MergedFrom []string `bson:"mergedFrom,omitempty"`
	// MergedInto is set on a record that was merged away; it no longer counts.
	MergedInto string `bson:"mergedInto,omitempty"`
	// Version increments on every write (optimistic concurrency on MongoDB).
	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updatedAt"`

	// persistedSeen is the LastSeenAt value last written, so refreshes are written only
	// when lastSeenAt has moved by more than the service's resolution.
	persistedSeen time.Time
}

// Clone returns a deep copy, so a change can be prepared without touching the cache.
func (a *Asset) Clone() *Asset {
	c := *a
	c.IPAddresses = slices.Clone(a.IPAddresses)
	c.MACAddresses = slices.Clone(a.MACAddresses)
	c.Sources = slices.Clone(a.Sources)
	c.MergedFrom = slices.Clone(a.MergedFrom)
	c.Upstream = slices.Clone(a.Upstream)
	c.PendingUpstream = slices.Clone(a.PendingUpstream)
	c.HistoryTail = slices.Clone(a.HistoryTail)
	c.Authority = make(map[string]Authority, len(a.Authority))
	for k, v := range a.Authority {
		c.Authority[k] = v
	}
	c.Channels = make([]*Channel, len(a.Channels))
	for k, v := range a.Channels {
		c.Channels[k] = cloneChannel(v)
	}
	return &c
}

// channel returns the channel of a collector and source path, or nil.
func (a *Asset) channel(collector, name string) *Channel {
	for _, ch := range a.Channels {
		if ch.Collector == collector && ch.Channel == name {
			return ch
		}
	}
	return nil
}

// ActiveConditions returns the union of active conditions over every channel, sorted.
func (a *Asset) ActiveConditions() []string {
	var out []string
	for _, ch := range a.Channels {
		for _, c := range ch.Conditions {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Change is one field-level history record (DESIGN §5).
type Change struct {
	AssetID   string    `bson:"assetId" json:"assetId"`
	At        time.Time `bson:"at" json:"at"`
	Source    string    `bson:"source" json:"source"`
	Actor     string    `bson:"actor" json:"actor"`
	RequestID string    `bson:"requestId,omitempty" json:"requestId,omitempty"`
	Field     string    `bson:"field" json:"field"`
	Before    string    `bson:"before,omitempty" json:"before,omitempty"`
	After     string    `bson:"after,omitempty" json:"after,omitempty"`
	// Seq is the entry's position in its asset's history (0 = the creation record),
	// set when read; it is the pagination cursor.
	Seq int `bson:"-" json:"seq"`
}
