package devicesim

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// Scenario actions.
const (
	ActDown          = "down"            // switch a device off (a switch takes its unit with it)
	ActUp            = "up"              // switch it on again (it reboots)
	ActFlap          = "flap"            // down/up every period, count transitions
	ActReboot        = "reboot"          // sysUpTime back to zero, coldStart
	ActFirmware      = "firmware"        // install version (or the next one) and reboot
	ActUPSOnBattery  = "ups_on_battery"  // mains lost
	ActUPSBatteryLow = "ups_battery_low" // minutes remaining low
	ActUPSOnline     = "ups_online"      // mains back
	ActLinkDown      = "link_down"       // a switch port shut or cut
	ActLinkUp        = "link_up"
	ActCollectorDown = "collector_down" // no device: for whoever runs the collector
	ActCollectorUp   = "collector_up"

	// HL7 devices (hl7state.go).
	ActHL7Stop        = "hl7_stop"            // its HL7 messages stop, SNMP still answers
	ActHL7Start       = "hl7_start"           // and start again
	ActAlarm          = "technical_alarm"     // raise a technical alarm (alarm: MDC event name)
	ActAlarmEnd       = "technical_alarm_end" // end it
	ActBatteryLow     = "battery_low"         // battery charge drops to 12 %
	ActBatteryOK      = "battery_ok"          // recharged
	ActPatientBound   = "patient_bound"       // a patient is connected to the device
	ActPatientUnbound = "patient_unbound"     // the patient is disconnected
)

var actions = []string{ActDown, ActUp, ActFlap, ActReboot, ActFirmware, ActUPSOnBattery, ActUPSBatteryLow,
	ActUPSOnline, ActLinkDown, ActLinkUp, ActCollectorDown, ActCollectorUp,
	ActHL7Stop, ActHL7Start, ActAlarm, ActAlarmEnd, ActBatteryLow, ActBatteryOK, ActPatientBound, ActPatientUnbound}

// reverts maps an action to the one that undoes it after For.
var reverts = map[string]string{ActDown: ActUp, ActUPSOnBattery: ActUPSOnline, ActUPSBatteryLow: ActUPSOnline,
	ActLinkDown: ActLinkUp, ActCollectorDown: ActCollectorUp, ActHL7Stop: ActHL7Start, ActAlarm: ActAlarmEnd,
	ActBatteryLow: ActBatteryOK, ActPatientBound: ActPatientUnbound, ActPatientUnbound: ActPatientBound}

// Duration is a time.Duration written as "20s" in YAML and JSON.
type Duration time.Duration

// UnmarshalText parses "1m30s" style durations.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", v)
	}
	*d = Duration(v)
	return nil
}

// MarshalText prints the duration as time.Duration does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Event is one step of a scenario, or one action asked for by hand.
type Event struct {
	At     Duration `yaml:"at" json:"at"`
	Action string   `yaml:"action" json:"action"`
	Target Selector `yaml:"target" json:"target"`
	// For reverts the action after this long (down → up, ups_* → ups_online,
	// link_down → link_up, collector_down → collector_up).
	For Duration `yaml:"for" json:"for,omitempty"`
	// Period and Count shape a flap: Count transitions, one every Period.
	Period  Duration `yaml:"period" json:"period,omitempty"`
	Count   int      `yaml:"count" json:"count,omitempty"`
	Version string   `yaml:"version" json:"version,omitempty"` // firmware
	Alarm   string   `yaml:"alarm" json:"alarm,omitempty"`     // technical_alarm: MDC event name
	Port    int      `yaml:"port" json:"port,omitempty"`       // link_down/link_up
	Note    string   `yaml:"note" json:"note,omitempty"`
}

// Selector picks one device: by name, or the Index-th (from 0) device matching every
// field given, in address order.
type Selector struct {
	Name     string `yaml:"name" json:"name,omitempty"`
	Class    string `yaml:"class" json:"class,omitempty"`
	CareArea string `yaml:"care_area" json:"careArea,omitempty"`
	Unit     string `yaml:"unit" json:"unit,omitempty"`
	Site     string `yaml:"site" json:"site,omitempty"`
	Index    int    `yaml:"index" json:"index,omitempty"`
}

func (s Selector) String() string {
	if s.Name != "" {
		return s.Name
	}
	var p []string
	for _, kv := range [][2]string{{"class", s.Class}, {"care_area", s.CareArea}, {"unit", s.Unit}, {"site", s.Site}} {
		if kv[1] != "" {
			p = append(p, kv[0]+"="+kv[1])
		}
	}
	if s.Index > 0 {
		p = append(p, fmt.Sprintf("index=%d", s.Index))
	}
	return strings.Join(p, " ")
}

func (s Selector) empty() bool { return s == Selector{} }

// Matches reports whether d matches every field of the selector but Index.
func (s Selector) Matches(d *Device) bool {
	switch {
	case s.Name != "" && d.Name != s.Name:
		return false
	case s.Class != "" && !strings.EqualFold(d.Class.String(), s.Class):
		return false
	case s.CareArea != "" && !strings.EqualFold(d.Unit.CareArea, s.CareArea):
		return false
	case s.Unit != "" && !strings.EqualFold(d.Unit.Name, s.Unit):
		return false
	case s.Site != "" && !strings.EqualFold(d.Unit.Site.Name, s.Site) && !strings.EqualFold(d.Unit.Site.Code, s.Site):
		return false
	}
	return true
}

// Resolve finds the device a selector picks.
func (h *Hospital) Resolve(s Selector) (*Device, error) {
	if s.empty() {
		return nil, errors.New("target: no device selected (give name, class, care_area, unit or site)")
	}
	if s.Class != "" {
		if _, err := ParseClass(s.Class); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	if s.Name != "" {
		if d := h.byName[s.Name]; d != nil && s.Matches(d) {
			return d, nil
		}
		return nil, fmt.Errorf("target: no device named %q", s.Name)
	}
	n := 0
	for _, d := range h.Devices {
		if s.Matches(d) && !d.core {
			if n == s.Index {
				return d, nil
			}
			n++
		}
	}
	return nil, fmt.Errorf("target %s: %d device(s) match (the hospital has %d devices; a bigger one may have it)", s, n, len(h.Devices))
}

// Device returns the device with a name, or nil.
func (h *Hospital) Device(name string) *Device { return h.byName[name] }

// Scenario is a timeline of events.
type Scenario struct {
	Name   string  `yaml:"name"`
	Events []Event `yaml:"events"`
}

//go:embed default-scenario.yaml
var defaultScenario []byte

// DefaultScenario returns the built-in two-minute scenario.
func DefaultScenario() *Scenario {
	sc, err := ParseScenario(defaultScenario)
	if err != nil {
		panic("devicesim: default scenario: " + err.Error())
	}
	return sc
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario strictly decodes and checks a scenario (targets are resolved later,
// against a hospital, by Validate).
func ParseScenario(b []byte) (*Scenario, error) {
	var sc Scenario
	if err := yamlstrict.Decode(b, &sc); err != nil {
		return nil, err
	}
	var errs []error
	for i := range sc.Events {
		if err := sc.Events[i].check(); err != nil {
			errs = append(errs, fmt.Errorf("events[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(sc.Events, func(a, b Event) int { return int(a.At - b.At) })
	return &sc, nil
}

// check validates an event on its own.
func (e *Event) check() error {
	if !slices.Contains(actions, e.Action) {
		return fmt.Errorf("action %q is not one of %s", e.Action, strings.Join(actions, ", "))
	}
	collector := e.Action == ActCollectorDown || e.Action == ActCollectorUp
	switch {
	case collector && !e.Target.empty():
		return fmt.Errorf("%s takes no target", e.Action)
	case !collector && e.Target.empty():
		return fmt.Errorf("%s needs a target", e.Action)
	case e.Action == ActFlap && (e.Count < 1 || e.Period <= 0):
		return errors.New("flap needs count >= 1 and a period")
	case (e.Action == ActLinkDown || e.Action == ActLinkUp) && e.Port < 1:
		return fmt.Errorf("%s needs a port", e.Action)
	case e.For > 0 && reverts[e.Action] == "":
		return fmt.Errorf("for: %s cannot be reverted", e.Action)
	case e.Alarm != "" && (e.Action != ActAlarm || !isMDCName(e.Alarm)):
		return fmt.Errorf("alarm %q: want an MDC event name (MDC_EVT_...) on technical_alarm", e.Alarm)
	}
	return nil
}

// Validate checks that every event's target exists in the hospital and suits the action.
func (sc *Scenario) Validate(h *Hospital) error {
	var errs []error
	for i, e := range sc.Events {
		if _, err := e.resolve(h); err != nil {
			errs = append(errs, fmt.Errorf("events[%d] (%s): %w", i, e.Action, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Event) resolve(h *Hospital) (*Device, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if e.Target.empty() {
		return nil, nil
	}
	d, err := h.Resolve(e.Target)
	if err != nil {
		return nil, err
	}
	switch e.Action {
	case ActUPSOnBattery, ActUPSBatteryLow, ActUPSOnline:
		if d.Class != UPS {
			return nil, fmt.Errorf("%s is a %s, not a UPS", d.Name, d.Class)
		}
	case ActLinkDown, ActLinkUp:
		if d.sw == nil || e.Port > len(d.sw.ports) {
			return nil, fmt.Errorf("%s has no port %d", d.Name, e.Port)
		}
	case ActHL7Stop, ActHL7Start:
		if !d.Class.SpeaksHL7() {
			return nil, fmt.Errorf("%s is a %s, which does not speak HL7", d.Name, d.Class)
		}
	case ActAlarm, ActAlarmEnd, ActPatientBound, ActPatientUnbound:
		if !d.Class.SpeaksHL7() || d.Class == HL7Gateway {
			return nil, fmt.Errorf("%s is a %s, not a medical device that speaks HL7", d.Name, d.Class)
		}
	case ActBatteryLow, ActBatteryOK:
		if !d.Class.HasBattery() {
			return nil, fmt.Errorf("%s is a %s, which has no battery", d.Name, d.Class)
		}
	}
	return d, nil
}

// Applied is an event that happened, as listeners and the control endpoint see it.
type Applied struct {
	At     time.Time `json:"at"`
	Event  Event     `json:"event"`
	Device string    `json:"device,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// OnEvent registers f to be told of every applied event (the demo stops and starts
// its collector on collector_down/collector_up). f must not block.
func (s *Sim) OnEvent(f func(Applied)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, f)
}

// History returns the most recent applied events, oldest first.
func (s *Sim) History() []Applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

const historyLen = 1000

// Apply performs one event now. Reverts (for) and flaps continue in the background
// until ctx ends.
func (s *Sim) Apply(ctx context.Context, e Event) (Applied, error) {
	d, err := e.resolve(s.h)
	if err != nil {
		return Applied{}, err
	}
	a := Applied{At: s.now(), Event: e}
	if d != nil {
		a.Device, a.IP = d.Name, d.IP().String()
	}
	switch e.Action {
	case ActDown:
		s.SetDown(d, true)
	case ActUp:
		s.SetDown(d, false)
	case ActReboot:
		s.Reboot(d)
	case ActFirmware:
		a.Detail = "firmware " + s.SetFirmware(d, e.Version)
	case ActUPSOnBattery:
		s.SetUPS(d, UPSOnBattery)
	case ActUPSBatteryLow:
		s.SetUPS(d, UPSBatteryLow)
	case ActUPSOnline:
		s.SetUPS(d, UPSOnline)
	case ActLinkDown, ActLinkUp:
		if err := s.SetLink(d, e.Port, e.Action == ActLinkUp); err != nil {
			return Applied{}, err
		}
	case ActFlap:
		s.background(ctx, func() { s.flap(ctx, d, e) })
	case ActHL7Stop, ActHL7Start:
		s.SetHL7Silent(d, e.Action == ActHL7Stop)
	case ActAlarm, ActAlarmEnd:
		if ev := s.SetAlarm(d, e.Alarm, e.Action == ActAlarmEnd); ev != "" {
			a.Detail = "alarm " + ev
		}
	case ActBatteryLow, ActBatteryOK:
		s.SetBatteryLow(d, e.Action == ActBatteryLow)
	case ActPatientBound, ActPatientUnbound:
		s.SetPatient(d, e.Action == ActPatientBound)
	}
	s.record(a)
	if e.For > 0 {
		undo := e
		undo.At, undo.For = 0, 0
		undo.Action = reverts[e.Action]
		undo.Alarm = ""
		undo.Note = "end of " + e.Action
		s.background(ctx, func() {
			if sleep(ctx, time.Duration(e.For)) {
				if _, err := s.Apply(ctx, undo); err != nil {
					s.log.Warn("reverting event", "action", e.Action, "err", err)
				}
			}
		})
	}
	return a, nil
}

func (s *Sim) record(a Applied) {
	s.mu.Lock()
	s.history = append(s.history, a)
	if len(s.history) > historyLen {
		s.history = slices.Delete(s.history, 0, len(s.history)-historyLen)
	}
	ls := slices.Clone(s.listeners)
	s.mu.Unlock()
	s.log.Info("event", "action", a.Event.Action, "device", a.Device, "ip", a.IP, "detail", a.Detail, "note", a.Event.Note)
	for _, f := range ls {
		f(a)
	}
}

// background runs f in a goroutine that Wait waits for.
func (s *Sim) background(_ context.Context, f func()) {
	s.bg.Go(f)
}

// Wait waits for background reverts and flaps (they end with their context).
func (s *Sim) Wait() { s.bg.Wait() }

func (s *Sim) flap(ctx context.Context, d *Device, e Event) {
	down := !d.Down()
	for i := range e.Count {
		if i > 0 && !sleep(ctx, time.Duration(e.Period)) {
			return
		}
		s.SetDown(d, down)
		s.record(Applied{At: s.now(), Event: Event{Action: map[bool]string{true: ActDown, false: ActUp}[down],
			Target: Selector{Name: d.Name}, Note: fmt.Sprintf("flap %d/%d", i+1, e.Count)}, Device: d.Name, IP: d.IP().String()})
		down = !down
	}
	if d.Down() && sleep(ctx, time.Duration(e.Period)) {
		// A flap ends with the device up.
		s.SetDown(d, false)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// RunScenario plays a scenario from now; scale multiplies every time in it (0.5
// plays it twice as fast). It returns when the last event has been applied or ctx
// ends; reverts scheduled by the last events still run in the background.
func (s *Sim) RunScenario(ctx context.Context, sc *Scenario, scale float64) error {
	if scale <= 0 {
		return fmt.Errorf("time scale %v must be positive", scale)
	}
	if err := sc.Validate(s.h); err != nil {
		return err
	}
	start := time.Now()
	s.log.Info("scenario started", "name", sc.Name, "events", len(sc.Events), "time_scale", scale)
	for _, e := range sc.Events {
		e.At = Duration(float64(e.At) * scale)
		e.For = Duration(float64(e.For) * scale)
		e.Period = Duration(float64(e.Period) * scale)
		if !sleep(ctx, time.Until(start.Add(time.Duration(e.At)))) {
			return ctx.Err()
		}
		if _, err := s.Apply(ctx, e); err != nil {
			s.log.Warn("scenario event failed", "action", e.Action, "target", e.Target.String(), "err", err)
		}
	}
	s.log.Info("scenario finished", "name", sc.Name)
	return nil
}

// isMDCName reports whether s looks like an IEEE 11073 reference identifier.
func isMDCName(s string) bool {
	if !strings.HasPrefix(s, "MDC_") || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
