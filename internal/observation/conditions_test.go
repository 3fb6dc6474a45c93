package observation

import (
	"strings"
	"testing"
)

func TestDefaultConditions(t *testing.T) {
	r := DefaultConditions()
	for _, c := range r.All() {
		if !c.Severity.Valid() || c.Label == "" || c.Channel == "" {
			t.Errorf("%s: incomplete definition %+v", c.Code, c)
		}
		if c.Down && c.Severity != SeverityDown {
			t.Errorf("%s: makes its device DOWN at severity %s", c.Code, c.Severity)
		}
	}
	for code, down := range map[string]bool{
		CondSNMPUnreachable: true, CondHL7HeartbeatLost: true, CondDeviceUnreachable: true, CondCollectorSilent: true,
		CondUPSBatteryLow: false, CondUPSOnBattery: false, CondInterfaceDown: false, CondTechnicalAlarm: false,
	} {
		if r.Down(code) != down {
			t.Errorf("Down(%s) = %v, want %v", code, r.Down(code), down)
		}
	}
	if r.Lookup(CondHL7HeartbeatLost).Channel != ChannelHL7 || r.Lookup(CondUPSOnBattery).Channel != ChannelSNMP {
		t.Error("channels of well-known conditions")
	}
}

func TestUnknownConditionDegradesOnItsNamedChannel(t *testing.T) {
	c := DefaultConditions().Lookup("hl7.new_thing")
	if c.Channel != ChannelHL7 || c.Severity != SeverityDegraded || c.Down || c.Label != "hl7.new_thing" {
		t.Errorf("unknown code: %+v", c)
	}
}

func TestStateOfConditions(t *testing.T) {
	r := DefaultConditions()
	for _, tc := range []struct {
		conds []string
		want  State
	}{
		{nil, StateUp},
		{[]string{CondInterfaceDown}, StateDegraded},
		{[]string{CondUPSBatteryLow}, StateDegraded},
		{[]string{CondInterfaceDown, CondSNMPUnreachable}, StateDown},
		{[]string{"vendor.something"}, StateDegraded},
	} {
		if got := r.State(tc.conds); got != tc.want {
			t.Errorf("State(%v) = %s, want %s", tc.conds, got, tc.want)
		}
	}
}

func TestReRatingAConditionChangesWhatItMeansForStatus(t *testing.T) {
	base := DefaultConditions()
	r, err := base.WithSeverities(map[string]Severity{CondHL7HeartbeatLost: SeverityDegraded, "vendor.fire": SeverityDown})
	if err != nil {
		t.Fatal(err)
	}
	if r.Down(CondHL7HeartbeatLost) || r.State([]string{CondHL7HeartbeatLost}) != StateDegraded || r.Severity(CondHL7HeartbeatLost) != SeverityDegraded {
		t.Errorf("re-rated heartbeat loss still downs its device: %+v", r.Lookup(CondHL7HeartbeatLost))
	}
	if !base.Down(CondHL7HeartbeatLost) {
		t.Error("WithSeverities changed the registry it was called on")
	}
	// Raising a severity does not make a condition mean "unusable".
	if r.Severity("vendor.fire") != SeverityDown || r.Down("vendor.fire") {
		t.Errorf("vendor.fire: %+v", r.Lookup("vendor.fire"))
	}
	if _, err := base.WithSeverities(map[string]Severity{CondUPSOnBattery: "scary"}); err == nil || !strings.Contains(err.Error(), CondUPSOnBattery) {
		t.Errorf("an unknown severity must be refused naming its condition, got %v", err)
	}
}
