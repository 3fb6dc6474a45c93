package incidents

import (
	"testing"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// The policy's severity of a condition and the definition the asset registry derives
// status from are one: with and without re-rating.
func TestPolicyAndAssetStatusReadOneDefinition(t *testing.T) {
	p := DefaultPolicy()
	p.ConditionSeverity[observation.CondHL7HeartbeatLost] = observation.SeverityDegraded
	p.ConditionSeverity["vendor.overheat"] = observation.SeverityBattery
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := p.Conditions()
	codes := []string{"vendor.overheat", "no.such_code"}
	for _, c := range observation.DefaultConditions().All() {
		codes = append(codes, c.Code)
	}
	for _, code := range codes {
		if p.Severity(code) != reg.Severity(code) {
			t.Errorf("%s: policy weighs it %s, assets read %s", code, p.Severity(code), reg.Severity(code))
		}
		if reg.Down(code) && p.Severity(code) != observation.SeverityDown {
			t.Errorf("%s downs its device at severity %s", code, p.Severity(code))
		}
	}
	if reg.Down(observation.CondHL7HeartbeatLost) {
		t.Error("re-rated heartbeat loss still makes its device DOWN")
	}
	if !DefaultPolicy().Conditions().Down(observation.CondCollectorSilent) {
		t.Error("a silent collector is a down condition in the policy and must be DOWN for its asset")
	}
}
