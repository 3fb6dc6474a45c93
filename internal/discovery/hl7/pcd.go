package hl7

import (
	"bytes"
	"strconv"
	"strings"
)

// Level is a tri-state reading: unknown, fine, or a problem.
type Level uint8

// Levels of Device.Battery and Device.SelfTest.
const (
	Unknown Level = iota
	OK
	Problematic
)

// Device is what a message says about one device: identity and health, nothing about
// the patient it serves.
type Device struct {
	// Sender is true when the device is the sending application itself (MSH-3),
	// false when a gateway reports for it.
	Sender       bool
	EUI64        string
	MDC          string // the MDS (or first device-level) MDC code
	Class        string
	Manufacturer string
	Model        string
	Serial       string
	Software     string
	Firmware     string
	Battery      Level
	SelfTest     Level

	mds     bool
	onMains bool
}

// AlarmPhase is where a technical alarm is in its life.
type AlarmPhase uint8

// Alarm phases: active (start, continue, update, ...), ended, or a point event
// with no duration.
const (
	AlarmActive AlarmPhase = iota
	AlarmEnded
	AlarmPoint
)

// Alarm is one technical alarm. Physiological and advisory alarms are patient data
// and never become an Alarm.
type Alarm struct {
	Device int // index into Report.Devices
	Key    string
	Phase  AlarmPhase
}

// Report is what a collector keeps from one message.
type Report struct {
	Header Header
	// SenderApp is MSH-3 as namespace^universal id^type (trailing parts omitted).
	SenderApp   string
	SenderEUI64 string
	Devices     []Device
	Alarms      []Alarm
	// IgnoredAlarms counts physiological and advisory alarm groups skipped.
	IgnoredAlarms int
	// Unit, Room and Bed are the PV1-3 point of care: a location, not the patient.
	Unit, Room, Bed string
	// PatientBound is set for device observations (ORU^R01): whether a patient is
	// identified in PID, as a fact only.
	PatientBound *bool
	// Problems are content errors worth an AE; the message is still used.
	Problems []Problem
}

// Message types a collector handles specially.
const (
	TypeHeartbeat = "NMD^N02"
	TypePCD01     = "ORU^R01"
	TypePCD04     = "ORU^R40"
)

const maxValue = 128

// Extract reads a parsed message with a checked header into a Report.
func Extract(m *Message, h Header) Report {
	r := Report{Header: h}
	msh := m.Segment(0)
	app := msh.Field(3)
	r.SenderApp = clean(joinHD(app))
	if strings.EqualFold(app.Comp(3).String(), "EUI-64") {
		r.SenderEUI64 = normEUI64(app.Comp(2).String())
	}
	if pv1, ok := m.First("PV1"); ok {
		pl := pv1.Field(3)
		r.Unit, r.Room, r.Bed = clean(pl.Comp(1).String()), clean(pl.Comp(2).String()), clean(pl.Comp(3).String())
	}
	switch h.MessageType() {
	case TypePCD01:
		bound := false
		if pid, ok := m.First("PID"); ok {
			bound = !pid.Field(3).IsEmpty() || !pid.Field(5).IsEmpty()
		}
		r.PatientBound = &bound
		r.devices(m, false)
	case TypePCD04:
		r.devices(m, true)
	}
	if len(r.Devices) == 0 && (r.SenderApp != "" || r.SenderEUI64 != "") {
		r.Devices = append(r.Devices, Device{Sender: true, EUI64: r.SenderEUI64})
	}
	return r
}

// joinHD renders an HD (namespace^universal id^type) without trailing empties.
func joinHD(v Value) string {
	var buf [96]byte
	b := buf[:0]
	n := 0
	for i := 1; i <= 3; i++ {
		c := text(v.Comp(i))
		if len(c) == 0 {
			continue
		}
		for ; n < i-1; n++ {
			b = append(b, '^')
		}
		b = append(b, c...)
	}
	return string(b)
}

// device returns the index of the device with this EUI-64 ("" = the sender),
// adding it when new.
func (r *Report) device(eui string) int {
	sender := eui == "" || eui == r.SenderEUI64
	if sender {
		eui = r.SenderEUI64
	}
	for i := range r.Devices {
		if r.Devices[i].Sender == sender && (sender || r.Devices[i].EUI64 == eui) {
			return i
		}
	}
	r.Devices = append(r.Devices, Device{Sender: sender, EUI64: eui})
	return len(r.Devices) - 1
}

// devices walks the OBX segments: OBX-18 switches to another device, which the OBX
// segments after it describe; MDS/VMD codes give the class, MEM-DMC codes the
// identity and health. With alarms set, each OBR starts one alarm.
func (r *Report) devices(m *Message, alarms bool) {
	cur := -1
	obxSeen, obrSeen := 0, 0
	var al *alarmFacets
	flush := func() {
		if al != nil {
			r.addAlarm(al)
			al = nil
		}
	}
	for i := 1; i < m.Len(); i++ {
		s := m.Segment(i)
		switch {
		case s.Is("OBR"):
			obrSeen++
			if alarms {
				flush()
				al = &alarmFacets{device: -1, obr: obrSeen}
			}
			continue
		case !s.Is("OBX"):
			continue
		}
		obxSeen++
		if eui, bad := equipmentEUI(s.Field(18)); bad {
			r.Problems = append(r.Problems, Problem{Code: ErrDataType, Segment: "OBX", Seq: obxSeen, Field: 18,
				Reason: "OBX-18 is typed EUI-64 but does not hold 16 hex digits"})
		} else if eui != "" {
			cur = r.device(eui)
		}
		if cur < 0 {
			cur = r.device("")
		}
		// Most OBX segments are measurements: compare codes in place and make
		// strings only of what is kept.
		id := s.Field(3)
		code, name := text(id.Comp(1)), text(id.Comp(2))
		d := &r.Devices[cur]
		if isDeviceCode(string(code), string(name)) {
			c, mds := ClassOf(string(code), string(name)), isMDS(string(code), string(name))
			if c != "" && (d.Class == "" || (mds && !d.mds)) {
				d.Class, d.MDC, d.mds = c, string(code), mds
			}
		}
		if mem := memCode(code, name); mem != "" {
			d.setAttribute(mem, s.Field(5))
		}
		if al != nil {
			if al.device < 0 {
				al.device = cur
			}
			al.read(code, name, s)
		}
	}
	flush()
	if alarms && obrSeen == 0 {
		r.Problems = append(r.Problems, Problem{Code: ErrRequiredField, Segment: "OBR", Seq: 1, Reason: "ORU^R40 carries no OBR segment"})
	}
	if obxSeen == 0 {
		r.Problems = append(r.Problems, Problem{Code: ErrRequiredField, Segment: "OBX", Seq: 1, Reason: "observation message carries no OBX segment"})
	}
}

func memCode(code, name []byte) string {
	if c, ok := memCodes[string(code)]; ok {
		return c
	}
	if c, ok := memByName[string(name)]; ok {
		return c
	}
	if bytes.Contains(name, []byte("SELF_TEST")) || bytes.Contains(name, []byte("SELFTEST")) {
		return "selftest"
	}
	return ""
}

// setAttribute reads OBX-5 of a MEM-DMC attribute. Only these device attributes are
// ever read from OBX-5: other values may be the patient's.
func (d *Device) setAttribute(mem string, v Value) {
	val := clean(v.Rep(1).Comp(1).String())
	low := strings.ToLower(val)
	switch mem {
	case mdcManufacturer:
		d.Manufacturer = val
	case mdcModelNumber:
		d.Model = val
	case mdcSerial:
		d.Serial = val
	case mdcSoftware:
		d.Software = val
	case mdcFirmware:
		d.Firmware = val
	case mdcSystemModel:
		if m := clean(v.Rep(1).Comp(2).String()); m != "" {
			d.Manufacturer, d.Model = val, m
		} else if d.Model == "" {
			d.Model = val
		}
	case mdcPowerStat:
		d.onMains = strings.Contains(low, "mains")
		if d.onMains && d.Battery == Problematic {
			d.Battery = OK
		}
	case mdcBattCharge:
		if pct, err := strconv.ParseFloat(val, 64); err == nil {
			d.Battery = OK
			if pct < 20 && !d.onMains {
				d.Battery = Problematic
			}
		}
	case mdcBattStat:
		d.Battery = OK
		for _, w := range []string{"low", "deplet", "empty", "fail", "replace", "defect"} {
			if strings.Contains(low, w) {
				d.Battery = Problematic
			}
		}
	case "selftest":
		switch {
		case strings.Contains(low, "fail"), strings.Contains(low, "error"):
			d.SelfTest = Problematic
		case low != "":
			d.SelfTest = OK
		}
	}
}

// equipmentEUI returns the EUI-64 in an OBX-18 (EI: entity^namespace^universal
// id^type), and whether one was declared but malformed.
func equipmentEUI(v Value) (eui string, bad bool) {
	v.EachRep(func(r Value) bool {
		typ := text(r.Comp(4))
		if bytes.EqualFold(typ, []byte("EUI-64")) {
			s := text(r.Comp(3))
			if len(s) == 0 {
				s = text(r.Comp(1))
			}
			eui = normEUI64(s)
			bad = eui == ""
			return false
		}
		if len(typ) == 0 {
			eui = normEUI64(text(r.Comp(1)))
		}
		return eui == ""
	})
	return eui, bad
}

// normEUI64 returns 16 upper-case hex digits (dashes, colons and blanks dropped), or "".
func normEUI64[T string | []byte](s T) string {
	var b [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ':' || c == ' ' || c == '\t':
			continue
		case 'a' <= c && c <= 'f':
			c -= 'a' - 'A'
		case '0' <= c && c <= '9' || 'A' <= c && c <= 'F':
		default:
			return ""
		}
		if n == len(b) {
			return ""
		}
		b[n] = c
		n++
	}
	if n != len(b) || string(b[:]) == "0000000000000000" || string(b[:]) == "FFFFFFFFFFFFFFFF" {
		return ""
	}
	return string(b[:])
}

// text returns a value's bytes for comparison: in place when it has no escape
// sequence (the common case: no allocation), decoded otherwise.
func text(v Value) []byte {
	if v.d.Escape == 0 || bytes.IndexByte(v.raw, v.d.Escape) < 0 {
		return v.raw
	}
	return []byte(v.String())
}

// isAlarmFacet reports whether an OBX can be one of the facets alarmFacets.read uses.
func isAlarmFacet(code, name []byte) bool {
	return string(code) == mdcEvtAlarm || string(code) == "68481" || string(code) == "68482" || string(code) == "68485" ||
		bytes.HasPrefix(name, []byte("MDC_EVT_")) || bytes.HasPrefix(name, []byte("MDCX_EVT_")) ||
		bytes.Contains(name, []byte("EVENT_PHASE")) || bytes.Contains(name, []byte("ALARM_STATE")) ||
		bytes.Contains(name, []byte("ALERT_STATE")) || bytes.Contains(name, []byte("ALERT_TYPE"))
}

// alarmFacets collects the OBX facets of one PCD-04 alarm (one OBR group).
type alarmFacets struct {
	obr        int
	device     int
	code, name string
	kind       string // ST technical, SP physiological, SA advisory, "" unsaid
	phase      string
	state      string
}

func (a *alarmFacets) read(codeB, nameB []byte, s Segment) {
	if !isAlarmFacet(codeB, nameB) && s.Field(8).IsEmpty() {
		return
	}
	code, name := string(codeB), string(nameB)
	s.Field(8).EachRep(func(r Value) bool {
		switch f := r.Comp(1); {
		case f.Equal("ST"), f.Equal("SP"), f.Equal("SA"):
			a.kind = f.String()
		}
		return true
	})
	switch {
	case a.code == "" && a.name == "" && code == mdcEvtAlarm:
		ev := s.Field(5)
		a.code, a.name = ev.Comp(1).String(), ev.Comp(2).String()
	case a.code == "" && a.name == "" && (strings.HasPrefix(name, "MDC_EVT_") || strings.HasPrefix(name, "MDCX_EVT_")):
		a.code, a.name = code, name
	case strings.Contains(name, "EVENT_PHASE") || code == "68481":
		a.phase = strings.ToLower(s.Field(5).String())
	case strings.Contains(name, "ALARM_STATE") || strings.Contains(name, "ALERT_STATE") || code == "68482":
		a.state = strings.ToLower(s.Field(5).String())
	case strings.Contains(name, "ALERT_TYPE") || code == "68485":
		if v := s.Field(5).Comp(1).String(); v == "ST" || v == "SP" || v == "SA" {
			a.kind = v
		}
	}
}

func (r *Report) addAlarm(a *alarmFacets) {
	if a.code == "" && a.name == "" {
		r.Problems = append(r.Problems, Problem{Code: ErrRequiredField, Segment: "OBR", Seq: a.obr,
			Reason: "alarm has no event identification (MDC_EVT_...) facet"})
		return
	}
	technical := a.kind == "ST" || (a.kind == "" && isTechnicalEvent(a.name))
	if !technical || a.device < 0 {
		r.IgnoredAlarms++
		return
	}
	key := a.name
	if !isReferenceID(key) {
		key = "MDC " + digitsOnly(a.code)
	}
	phase := AlarmActive
	switch {
	case a.state == "inactive" || a.phase == "end" || a.phase == "stop" || a.phase == "inactivate":
		phase = AlarmEnded
	case a.phase == "tpoint":
		phase = AlarmPoint
	}
	r.Alarms = append(r.Alarms, Alarm{Device: a.device, Key: key, Phase: phase})
}

// isReferenceID reports whether s looks like an MDC reference identifier, the only
// alarm text we keep: free text could name the patient.
func isReferenceID(s string) bool {
	if !strings.HasPrefix(s, "MDC_") && !strings.HasPrefix(s, "MDCX_") || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func digitsOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 12; i++ {
		if '0' <= s[i] && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// clean trims a kept value, drops control characters and caps its length.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxValue {
		s = strings.ToValidUTF8(s[:maxValue], "")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

// ExtractSender reads only who sent a message: a rejected message still shows that
// its sender is alive.
func ExtractSender(m *Message) Report {
	var r Report
	app := m.Segment(0).Field(3)
	r.SenderApp = clean(joinHD(app))
	if strings.EqualFold(app.Comp(3).String(), "EUI-64") {
		r.SenderEUI64 = normEUI64(app.Comp(2).String())
	}
	if r.SenderApp != "" || r.SenderEUI64 != "" {
		r.Devices = []Device{{Sender: true, EUI64: r.SenderEUI64}}
	}
	return r
}
