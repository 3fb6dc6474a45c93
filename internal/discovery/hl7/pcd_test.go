package hl7

import (
	"fmt"
	"strings"
	"testing"
)

func extract(t *testing.T, b []byte) Report {
	t.Helper()
	m := mustParse(t, b)
	h, p := ReadHeader(m)
	if p != nil {
		t.Fatalf("header: %v", p)
	}
	return Extract(m, h)
}

func TestExtractPumpIdentity(t *testing.T) {
	r := extract(t, pumpPCD01)
	if r.SenderApp != "PUMP01^0012A1FFFE001234^EUI-64" || r.SenderEUI64 != "0012A1FFFE001234" {
		t.Fatalf("sender %q / %q", r.SenderApp, r.SenderEUI64)
	}
	if len(r.Devices) != 1 {
		t.Fatalf("%d devices, want 1: %+v", len(r.Devices), r.Devices)
	}
	d := r.Devices[0]
	want := Device{Sender: true, EUI64: "0012A1FFFE001234", MDC: "69985", Class: ClassInfusionPump,
		Manufacturer: "Acme Infusion", Model: "AI-500", Serial: "SN&0042", Software: "3.1.4", Firmware: "fw-7.2", Battery: OK}
	d.mds, d.onMains = false, false
	if d != want {
		t.Errorf("device\n%+v\nwant\n%+v", d, want)
	}
	if r.Unit != "ICU-3" || r.Room != "301" || r.Bed != "B" {
		t.Errorf("location %q/%q/%q", r.Unit, r.Room, r.Bed)
	}
	if r.PatientBound == nil || !*r.PatientBound {
		t.Error("PID names a patient: PatientBound should be true")
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems %v", r.Problems)
	}
	assertNoPHI(t, r)
}

func TestExtractGatewayDevices(t *testing.T) {
	r := extract(t, gatewayPCD01)
	if r.SenderApp != "GW7" || r.SenderEUI64 != "" {
		t.Fatalf("sender %q %q", r.SenderApp, r.SenderEUI64)
	}
	if len(r.Devices) != 2 {
		t.Fatalf("devices %+v, want monitor and ventilator", r.Devices)
	}
	mon, vent := r.Devices[0], r.Devices[1]
	if mon.Sender || mon.EUI64 != "00095BFFFE0A0001" || mon.Class != ClassPatientMonitor || mon.MDC != "69965" {
		t.Errorf("monitor %+v", mon)
	}
	if vent.EUI64 != "00095BFFFE0B0002" || vent.Class != ClassVentilator || vent.Serial != "V-998877" ||
		vent.Manufacturer != "Breathe Co" || vent.SelfTest != Problematic {
		t.Errorf("ventilator %+v", vent)
	}
	assertNoPHI(t, r)
}

func TestExtractAlarms(t *testing.T) {
	tests := []struct {
		phase, kind string
		want        []Alarm
		ignored     int
	}{
		{"start", "ST", []Alarm{{Device: 0, Key: "MDC_EVT_FLUID_LINE_OCCL", Phase: AlarmActive}}, 0},
		{"continue", "ST", []Alarm{{Device: 0, Key: "MDC_EVT_FLUID_LINE_OCCL", Phase: AlarmActive}}, 0},
		{"end", "ST", []Alarm{{Device: 0, Key: "MDC_EVT_FLUID_LINE_OCCL", Phase: AlarmEnded}}, 0},
		{"tpoint", "ST", []Alarm{{Device: 0, Key: "MDC_EVT_FLUID_LINE_OCCL", Phase: AlarmPoint}}, 0},
		{"start", "SP", nil, 1},
		{"start", "SA", nil, 1},
		// No source flag: occlusion is an equipment event.
		{"start", "H", []Alarm{{Device: 0, Key: "MDC_EVT_FLUID_LINE_OCCL", Phase: AlarmActive}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.phase+"/"+tc.kind, func(t *testing.T) {
			r := extract(t, alarmPCD04(tc.phase, tc.kind))
			if fmt.Sprint(r.Alarms) != fmt.Sprint(tc.want) || r.IgnoredAlarms != tc.ignored {
				t.Fatalf("alarms %+v ignored %d, want %+v ignored %d", r.Alarms, r.IgnoredAlarms, tc.want, tc.ignored)
			}
			if r.Devices[0].Class != ClassInfusionPump {
				t.Errorf("class from the alarm's MDS: %q", r.Devices[0].Class)
			}
			assertNoPHI(t, r)
		})
	}
}

func TestExtractACMStyleAlarm(t *testing.T) {
	// The event in OBX-5 of MDC_EVT_ALARM, the alert type as its own facet, state inactive.
	r := extract(t, msg(
		`MSH|^~\&|GW|F|||20240101||ORU^R40^ORU_R40|9|P|2.6`,
		`OBR|1|||196616^MDC_EVT_ALARM^MDC`,
		`OBX|1|CWE|196616^MDC_EVT_ALARM^MDC|1.1.0.0.1|196888^MDC_EVT_BATT_LO^MDC||||||F|||||||0012A1FFFE00ABCD^^0012A1FFFE00ABCD^EUI-64`,
		`OBX|2|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.0.0.7|ST||||||F`,
		`OBX|3|ST|68166^MDC_ATTR_ALERT_STATE^MDC|1.1.0.0.4|inactive||||||F`,
		`OBR|2|||196616^MDC_EVT_ALARM^MDC`,
		`OBX|4|ST|196648^MDC_EVT_HI^MDC|1.1.1.1.1|`+phiNote+`|||H~PM~SP|||F`,
	))
	want := []Alarm{{Device: 0, Key: "MDC_EVT_BATT_LO", Phase: AlarmEnded}}
	if fmt.Sprint(r.Alarms) != fmt.Sprint(want) || r.IgnoredAlarms != 1 {
		t.Fatalf("alarms %+v ignored %d", r.Alarms, r.IgnoredAlarms)
	}
	if r.Devices[0].EUI64 != "0012A1FFFE00ABCD" || r.Devices[0].Sender {
		t.Fatalf("alarm device %+v", r.Devices[0])
	}
}

func TestExtractProblems(t *testing.T) {
	tests := map[string]struct {
		in    []byte
		code  int
		seg   string
		field int
	}{
		"ORU without OBX":     {msg(`MSH|^~\&|A|F|||1||ORU^R01|1|P|2.5`, `PID|||`+phiMRN), ErrRequiredField, "OBX", 0},
		"R40 without OBR":     {msg(`MSH|^~\&|A|F|||1||ORU^R40|1|P|2.6`, `OBX|1|ST|196940^MDC_EVT_FLUID_LINE_OCCL^MDC`), ErrRequiredField, "OBR", 0},
		"alarm without event": {msg(`MSH|^~\&|A|F|||1||ORU^R40|1|P|2.6`, `OBR|1`, `OBX|1|ST|68481^MDC_ATTR_EVENT_PHASE^MDC||start`), ErrRequiredField, "OBR", 0},
		"bad EUI-64":          {msg(`MSH|^~\&|A|F|||1||ORU^R01|1|P|2.6`, `OBX|1||69965^X^MDC|1.0.0.0|||||||X|||||||`+phiMRN+`^^`+phiMRN+`^EUI-64`), ErrDataType, "OBX", 18},
	}
	for name, tc := range tests {
		r := extract(t, tc.in)
		if len(r.Problems) == 0 {
			t.Errorf("%s: no problem reported", name)
			continue
		}
		p := r.Problems[0]
		if p.Code != tc.code || p.Segment != tc.seg || p.Field != tc.field {
			t.Errorf("%s: problem %+v, want %d at %s-%d", name, p, tc.code, tc.seg, tc.field)
		}
		for _, phi := range phiStrings {
			if strings.Contains(p.Reason, phi) {
				t.Errorf("%s: reason %q quotes the message", name, p.Reason)
			}
		}
	}
}

func TestExtractHeartbeatAndOtherTypes(t *testing.T) {
	for _, in := range [][]byte{nmdHeartbeat, adtA01} {
		r := extract(t, in)
		if len(r.Devices) != 1 || !r.Devices[0].Sender || r.PatientBound != nil || len(r.Problems) != 0 {
			t.Errorf("%s: report %+v", r.Header.MessageType(), r)
		}
		assertNoPHI(t, r)
	}
}

func TestClassOf(t *testing.T) {
	for _, c := range []struct{ code, name, want string }{
		{"69965", "", ClassPatientMonitor},
		{"0", "MDC_DEV_PUMP_INFUS_VMD", ClassInfusionPump},
		{"", "MDC_DEV_SYS_PT_VENT_MDS", ClassVentilator},
		{"", "MDC_DEV_SYS_ANESTH_MDS", ClassAnesthesia},
		{"150033", "MDC_PRESS_BLD_ART_SYS", ""},
		{"", "MDC_DEV_UNKNOWN_THING", ""},
	} {
		if got := ClassOf(c.code, c.name); got != c.want {
			t.Errorf("ClassOf(%q, %q) = %q, want %q", c.code, c.name, got, c.want)
		}
	}
}

func assertNoPHI(t *testing.T, r Report) {
	t.Helper()
	dump := fmt.Sprintf("%+v %+v", r, r.Devices)
	for _, phi := range phiStrings {
		if strings.Contains(dump, phi) {
			t.Errorf("report keeps patient data %q: %s", phi, dump)
		}
	}
}
