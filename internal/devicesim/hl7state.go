package devicesim

import (
	"hash/fnv"
	"strconv"
)

// What HL7 devices report besides being alive: a technical alarm, a low battery and
// whether a patient is connected. Scenarios and the control endpoint change these;
// the HL7 senders (hl7.go) report them.

const (
	patientAsGenerated int32 = iota
	patientBound
	patientUnbound
)

// DefaultAlarm is the technical alarm a device raises when a scenario names none: an
// occlusion for pumps, an equipment malfunction otherwise.
func DefaultAlarm(c Class) string {
	if c == InfusionPump {
		return "MDC_EVT_FLUID_LINE_OCCL"
	}
	return "MDC_EVT_EQUIP_MALF"
}

// HasBattery reports whether devices of the class run on battery when unplugged, and
// report its charge.
func (c Class) HasBattery() bool {
	switch c {
	case PatientMonitor, InfusionPump, Ventilator:
		return true
	}
	return false
}

// HL7Silent reports whether the device's HL7 interface has stopped sending.
func (d *Device) HL7Silent() bool { return d.st.hl7Off.Load() }

// Alarm returns the active technical alarm (an MDC event name), or "".
func (d *Device) Alarm() string {
	if p := d.st.alarm.Load(); p != nil {
		return *p
	}
	return ""
}

// Battery returns the battery charge in percent, or -1 for devices without one.
func (d *Device) Battery() int {
	if !d.Class.HasBattery() {
		return -1
	}
	if d.st.battLow.Load() {
		return 12
	}
	return 55 + int(hash64(0, d.Serial)%45)
}

// PointOfCare returns the device's HL7 point of care: unit, room and bed as its
// sysLocation names them ("" when it is not in a room or at a bed).
func (d *Device) PointOfCare() (unit, room, bed string) {
	unit = d.Unit.Name
	if d.Room > 0 {
		room = strconv.Itoa(max(d.Unit.Floor, 0)*100 + int(d.Room))
	}
	if d.Bed > 0 {
		bed = string(rune('A' + d.Bed - 1))
	}
	return unit, room, bed
}

// occupancy is the share of beds (or operating rooms) with a patient, in percent.
var occupancy = map[string]uint64{ICU: 90, NICU: 85, ED: 75, OR: 70, StepDown: 85, Ward: 80, Outpatient: 40}

// Patient returns whether a patient is connected to the device and, if so, the
// number of that (synthetic) patient: devices at the same bed share their patient.
// Without a scenario's word, beds are occupied as generated (stable for a layout).
func (d *Device) Patient() (n uint64, bound bool) {
	if !d.Class.SpeaksHL7() || d.Class == HL7Gateway {
		return 0, false
	}
	h := fnv.New64a()
	h.Write([]byte(d.Unit.Site.Code + "/" + d.Unit.Code))
	if d.Room > 0 {
		h.Write([]byte{byte(d.Room >> 8), byte(d.Room), d.Bed})
	} else {
		h.Write([]byte(d.Name))
	}
	n = h.Sum64() >> 1
	switch d.st.patient.Load() {
	case patientBound:
		return n, true
	case patientUnbound:
		return 0, false
	}
	if d.Room == 0 || n%100 >= occupancy[d.Unit.CareArea] {
		return 0, false
	}
	return n, true
}

// SetHL7Silent stops (or restarts) a device's HL7 messages while its SNMP agent goes
// on answering: a hung interface, a cable to the serial converter pulled.
func (s *Sim) SetHL7Silent(d *Device, silent bool) {
	d.st.hl7Off.Store(silent)
	s.kickHL7(d)
}

// SetAlarm raises a technical alarm (an MDC event name such as
// MDC_EVT_FLUID_LINE_OCCL; "" for the class's default) or, with clear, ends it.
func (s *Sim) SetAlarm(d *Device, event string, clear bool) string {
	if clear {
		d.st.alarm.Store(nil)
		s.kickHL7(d)
		return ""
	}
	if event == "" {
		event = DefaultAlarm(d.Class)
	}
	d.st.alarm.Store(&event)
	s.kickHL7(d)
	return event
}

// SetBatteryLow drains (or recharges) a device's battery.
func (s *Sim) SetBatteryLow(d *Device, low bool) {
	d.st.battLow.Store(low)
	s.kickHL7(d)
}

// SetPatient connects a patient to the device or disconnects it.
func (s *Sim) SetPatient(d *Device, bound bool) {
	v := patientUnbound
	if bound {
		v = patientBound
	}
	d.st.patient.Store(v)
	s.kickHL7(d)
}

// kickHL7 tells the HL7 senders, if any, that the device changed.
func (s *Sim) kickHL7(d *Device) {
	if h := s.hl7.Load(); h != nil {
		h.kick(d)
	}
}
