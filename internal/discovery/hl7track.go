package discovery

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// maxHL7Entities bounds how many devices and senders are tracked, so a sender that
// invents a new identity per message cannot exhaust memory.
const maxHL7Entities = 100_000

// minLearnedTimeout is the shortest heartbeat timeout learning may settle on.
const minLearnedTimeout = 5 * time.Second

// hl7Entity is one device or sending application seen over HL7.
type hl7Entity struct {
	key       string
	id        observation.Identity
	loc       observation.Location
	via       string // sending application it reports through, when not itself
	patient   *bool
	lastSeen  time.Time
	reported  time.Time
	ewma      time.Duration // learned message interval
	samples   int
	lost      bool
	alarms    []string // active technical alarm keys, sorted
	battery   bool
	selfTest  bool
	announced bool
}

// HL7Tracker keeps a heartbeat per device and per sending application, with the
// conditions HL7 reports about them, and turns every change into an observation:
// first sight, identity or condition change, heartbeat lost (DOWN, with the full
// condition set) and recovery on the next message, and a periodic refresh.
type HL7Tracker struct {
	cfg     *Config
	ids     *observation.IDs
	emit    Emitter
	log     *slog.Logger
	metrics *hl7Metrics
	now     func() time.Time

	mu       sync.Mutex
	entities map[string]*hl7Entity
	full     time.Time // when the entity limit was last reported
	key      []byte
}

func newHL7Tracker(cfg *Config, ids *observation.IDs, emit Emitter, m *hl7Metrics, log *slog.Logger, now func() time.Time) *HL7Tracker {
	return &HL7Tracker{cfg: cfg, ids: ids, emit: emit, metrics: m, now: now,
		log: log.With("component", "hl7-heartbeat"), entities: map[string]*hl7Entity{}}
}

// Seen records one message's report at time at.
func (t *HL7Tracker) Seen(r *hl7.Report, at time.Time) {
	var out []observation.Observation
	t.mu.Lock()
	senderSeen := false
	for i := range r.Devices {
		d := &r.Devices[i]
		senderSeen = senderSeen || d.Sender
		if o, ok := t.seenDevice(r, d, i, at); ok {
			out = append(out, o...)
		}
	}
	if !senderSeen {
		// A gateway reporting only for others is a device of its own.
		d := hl7.Device{Sender: true, EUI64: r.SenderEUI64, Class: hl7.ClassHL7Gateway}
		if o, ok := t.seenDevice(r, &d, -1, at); ok {
			out = append(out, o...)
		}
	}
	t.mu.Unlock()
	for _, o := range out {
		t.emit.Emit(o)
	}
}

// seenDevice updates one entity (t.mu held) and returns the observations to send.
func (t *HL7Tracker) seenDevice(r *hl7.Report, d *hl7.Device, idx int, at time.Time) ([]observation.Observation, bool) {
	// The key is built in a reused buffer: looking up a known device allocates nothing.
	switch {
	case d.EUI64 != "":
		t.key = append(append(t.key[:0], "eui:"...), d.EUI64...)
	case d.Sender && r.SenderApp != "":
		t.key = append(append(t.key[:0], "app:"...), r.SenderApp...)
	default:
		return nil, false
	}
	e, ok := t.entities[string(t.key)]
	if !ok {
		key := string(t.key)
		if len(t.entities) >= maxHL7Entities {
			if at.Sub(t.full) > time.Minute {
				t.full = at
				t.log.Warn("hl7 tracking limit reached: new senders are acknowledged but not tracked", "limit", maxHL7Entities)
			}
			return nil, false
		}
		e = &hl7Entity{key: key, lastSeen: at}
		t.entities[key] = e
	} else if gap := at.Sub(e.lastSeen); gap > 0 {
		// Learn the message interval (exponentially weighted) for senders whose class
		// has no configured timeout.
		if e.samples == 0 {
			e.ewma = gap
		} else {
			e.ewma = (4*e.ewma + gap) / 5
		}
		e.samples++
	}
	if at.After(e.lastSeen) {
		e.lastSeen = at
	}
	gateway := d.Sender && d.Class == "" && len(r.Devices) > 1
	changed := t.merge(e, r, d, gateway)

	var out []observation.Observation
	for _, a := range r.Alarms {
		if a.Device != idx {
			continue
		}
		switch a.Phase {
		case hl7.AlarmActive:
			if !slices.Contains(e.alarms, a.Key) {
				e.alarms = append(e.alarms, a.Key)
				slices.Sort(e.alarms)
				changed = true
			}
		case hl7.AlarmEnded:
			if i := slices.Index(e.alarms, a.Key); i >= 0 {
				e.alarms = slices.Delete(e.alarms, i, i+1)
				changed = true
			}
		case hl7.AlarmPoint:
			ev := t.observation(e, observation.KindEvent, at)
			ev.Condition, ev.Conditions, ev.Detail, ev.State = observation.CondTechnicalAlarm, nil, a.Key, observation.StateDegraded
			out = append(out, ev)
		}
	}
	if e.lost {
		e.lost = false
		changed = true
		t.log.Info("hl7 heartbeat recovered", "device", e.key)
	}
	switch {
	case !e.announced:
		e.announced = true
		out = append([]observation.Observation{t.observation(e, observation.KindDiscovered, at)}, out...)
		e.reported = at
	case changed:
		out = append([]observation.Observation{t.observation(e, observation.KindChange, at)}, out...)
		e.reported = at
	}
	return out, true
}

// merge folds a device's report into the entity and says whether anything changed.
// Empty values never erase known ones: not every message carries everything.
func (t *HL7Tracker) merge(e *hl7Entity, r *hl7.Report, d *hl7.Device, gateway bool) bool {
	id := e.id
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&id.EUI64, d.EUI64)
	set(&id.MDCCode, d.MDC)
	set(&id.Class, d.Class)
	if gateway && id.Class == "" {
		id.Class = hl7.ClassHL7Gateway
	}
	set(&id.Manufacturer, d.Manufacturer)
	set(&id.Model, d.Model)
	set(&id.Serial, d.Serial)
	set(&id.Software, d.Software)
	set(&id.Firmware, d.Firmware)
	via := e.via
	if d.Sender {
		set(&id.HL7App, r.SenderApp)
	} else {
		via = r.SenderApp
	}
	changed := !sameHL7Identity(id, e.id) || via != e.via
	e.id, e.via = id, via
	if !gateway && id.Class != hl7.ClassHL7Gateway {
		// A point of care describes the devices at the bedside, not a gateway.
		loc := e.loc
		if r.Unit != "" || r.Room != "" || r.Bed != "" {
			loc.Unit, loc.Room, loc.Bed = r.Unit, r.Room, r.Bed
		}
		if loc != e.loc {
			e.loc, changed = loc, true
		}
		if p := r.PatientBound; p != nil && (e.patient == nil || *e.patient != *p) {
			v := *p
			e.patient, changed = &v, true
		}
	}
	if d.Battery != hl7.Unknown {
		if low := d.Battery == hl7.Problematic; low != e.battery {
			e.battery, changed = low, true
		}
	}
	if d.SelfTest != hl7.Unknown {
		if failed := d.SelfTest == hl7.Problematic; failed != e.selfTest {
			e.selfTest, changed = failed, true
		}
	}
	return changed
}

// timeout is how long an entity may stay silent: its class's configured timeout,
// else (when learning) three learned intervals, else the default.
func (t *HL7Tracker) timeout(e *hl7Entity) time.Duration {
	if d, ok := t.cfg.HL7.ClassTimeouts[e.id.Class]; ok && e.id.Class != "" {
		return d
	}
	if t.cfg.HL7.LearnHeartbeat && e.samples >= 5 {
		return min(max(3*e.ewma, minLearnedTimeout), observation.MaxObservationTTL)
	}
	return t.cfg.HL7.HeartbeatTimeout
}

// Check raises heartbeat loss for every overdue entity and refreshes the others that
// were not reported for a refresh interval. Run calls it twice a second.
func (t *HL7Tracker) Check(now time.Time) {
	var out []observation.Observation
	counts := map[observation.State]int{observation.StateUp: 0, observation.StateDown: 0, observation.StateDegraded: 0}
	t.mu.Lock()
	for _, e := range t.entities {
		if !e.lost && now.Sub(e.lastSeen) > t.timeout(e) {
			e.lost = true
			t.log.Warn("hl7 heartbeat lost", "device", e.key, "class", e.id.Class,
				"silent_for", now.Sub(e.lastSeen).Round(time.Second), "timeout", t.timeout(e))
			t.metrics.heartbeatLost()
			out = append(out, t.observation(e, observation.KindChange, now))
			e.reported = now
		} else if now.Sub(e.reported) >= t.cfg.Refresh {
			out = append(out, t.observation(e, observation.KindRefresh, now))
			e.reported = now
		}
		counts[e.state()]++
	}
	t.mu.Unlock()
	t.metrics.setTracked(counts)
	for _, o := range out {
		t.emit.Emit(o)
	}
}

// Run checks heartbeats until ctx ends.
func (t *HL7Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.Check(t.now())
		}
	}
}

// Len returns the number of tracked devices and senders.
func (t *HL7Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entities)
}

func (e *hl7Entity) conditions() []string {
	c := []string{}
	if len(e.alarms) > 0 {
		c = append(c, observation.CondTechnicalAlarm)
	}
	if e.battery {
		c = append(c, observation.CondBatteryLow)
	}
	if e.selfTest {
		c = append(c, observation.CondSelfTestFailed)
	}
	if e.lost {
		c = append(c, observation.CondHL7HeartbeatLost)
	}
	slices.Sort(c)
	return c
}

func (e *hl7Entity) state() observation.State {
	switch {
	case e.lost:
		return observation.StateDown
	case len(e.alarms) > 0 || e.battery || e.selfTest:
		return observation.StateDegraded
	}
	return observation.StateUp
}

// observation builds the full-state observation of an entity (t.mu held).
func (t *HL7Tracker) observation(e *hl7Entity, kind observation.Kind, at time.Time) observation.Observation {
	o := observation.Observation{
		ID: t.ids.Next(), Collector: t.cfg.Name, Site: t.cfg.Site,
		ObservedAt: at, ValidUntil: at.Add(3 * t.cfg.Refresh),
		Source: observation.SourceHL7, Kind: kind, Identity: e.id,
		State: e.state(), Conditions: e.conditions(),
	}
	if !e.loc.IsZero() {
		loc := e.loc
		o.Location = &loc
	}
	if e.via != "" {
		o.Neighbors = []observation.Neighbor{{Kind: "REPORTS_THROUGH", HL7App: e.via}}
	}
	if e.patient != nil {
		v := *e.patient
		o.PatientConnected = &v
	}
	switch {
	case e.lost:
		o.Condition = observation.CondHL7HeartbeatLost
		o.Detail = "no HL7 message for " + t.timeout(e).String()
	case len(o.Conditions) > 0:
		o.Condition = o.Conditions[0]
	}
	if len(e.alarms) > 0 && !e.lost {
		o.Detail = "technical alarm " + strings.Join(e.alarms, ", ")
	}
	return o
}

// sameHL7Identity compares the identity fields HL7 sets (it never sets MACs).
func sameHL7Identity(a, b observation.Identity) bool {
	type plain struct {
		EUI64, Manufacturer, Model, Serial, SysName, SysObjectID, SysDescr string
		Firmware, Software, MDCCode, Class, HL7App                         string
	}
	p := func(i observation.Identity) plain {
		return plain{i.EUI64, i.Manufacturer, i.Model, i.Serial, i.SysName, i.SysObjectID, i.SysDescr,
			i.Firmware, i.Software, i.MDCCode, i.Class, i.HL7App}
	}
	return p(a) == p(b)
}

// EachDevice calls fn for every device (not sending application) the tracker follows:
// its key (EUI-64 or MSH-3), whether its heartbeat is alive, class and care area.
func (t *HL7Tracker) EachDevice(fn func(key string, up bool, class, careArea string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entities {
		key := e.id.EUI64
		if key == "" {
			key = e.id.HL7App
		}
		class := e.id.Class
		if class == "" {
			class = "OTHER"
		}
		fn(key, !e.lost, class, e.loc.CareArea)
	}
}
