package incidents_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/priorities.md from the scenario table")

// dep is a group of devices depending on the failing one.
type dep struct {
	n       int
	class   string
	area    string
	patient int // how many of them are bound to a patient
}

// scenario is one clinical situation and the priority the default policy must give.
type scenario struct {
	class, area, cond string
	patient           bool
	spares            int
	deps              []dep
	want              incidents.Priority
}

// scenarios is the table documented in docs/priorities.md: the test fails when either
// the weighting or the document drifts.
var scenarios = []scenario{
	{class: "VENTILATOR", area: "ICU", cond: "snmp.unreachable", want: incidents.P1},
	{class: "VENTILATOR", area: "ICU", cond: "snmp.unreachable", spares: 2, want: incidents.P2},
	{class: "VENTILATOR", area: "NICU", cond: "snmp.unreachable", patient: true, spares: 2, want: incidents.P1},
	{class: "ANESTHESIA_MACHINE", area: "OR", cond: "snmp.unreachable", want: incidents.P1},
	{class: "ANESTHESIA_MACHINE", area: "OR", cond: "device.self_test_failed", want: incidents.P2},
	{class: "INFUSION_PUMP", area: "WARD", cond: "hl7.heartbeat_lost", want: incidents.P2},
	{class: "INFUSION_PUMP", area: "WARD", cond: "hl7.heartbeat_lost", patient: true, want: incidents.P1},
	{class: "INFUSION_PUMP", area: "WARD", cond: "hl7.heartbeat_lost", spares: 3, want: incidents.P3},
	{class: "INFUSION_PUMP", area: "ICU", cond: "interface.down", spares: 1, want: incidents.P3},
	{class: "PATIENT_MONITOR", area: "ICU", cond: "hl7.heartbeat_lost", want: incidents.P1},
	{class: "PATIENT_MONITOR", area: "STEP_DOWN", cond: "snmp.unreachable", want: incidents.P1},
	{class: "PATIENT_MONITOR", area: "WARD", cond: "snmp.unreachable", want: incidents.P2},
	{class: "PATIENT_MONITOR", area: "OUTPATIENT", cond: "snmp.unreachable", want: incidents.P3},
	{class: "PATIENT_MONITOR", area: "ICU", cond: "device.alarm.technical", want: incidents.P2},
	{class: "PATIENT_MONITOR", area: "ICU", cond: "device.rebooted", want: incidents.P3},
	{class: "LAB_ANALYZER", area: "LAB", cond: "snmp.unreachable", want: incidents.P4},
	{class: "LAB_ANALYZER", area: "ED", cond: "snmp.unreachable", want: incidents.P2},
	{class: "IMAGING", area: "OUTPATIENT", cond: "snmp.unreachable", want: incidents.P4},
	{class: "IMAGING", area: "ED", cond: "device.alarm.technical", want: incidents.P3},
	{class: "PRINTER", area: "ADMIN", cond: "snmp.unreachable", want: incidents.P5},
	{class: "PRINTER", area: "ICU", cond: "snmp.unreachable", want: incidents.P3},
	{class: "WORKSTATION", area: "WARD", cond: "snmp.unreachable", want: incidents.P4},
	{class: "SERVER", area: "", cond: "snmp.unreachable", want: incidents.P4},
	{class: "NETWORK_SWITCH", area: "ICU", cond: "snmp.unreachable", deps: []dep{{n: 14, class: "PATIENT_MONITOR", area: "ICU"}}, want: incidents.P1},
	{class: "NETWORK_SWITCH", area: "ADMIN", cond: "snmp.unreachable", deps: []dep{{n: 12, class: "WORKSTATION", area: "ADMIN"}, {n: 2, class: "PRINTER", area: "ADMIN"}}, want: incidents.P4},
	{class: "NETWORK_SWITCH", area: "", cond: "snmp.unreachable", want: incidents.P3},
	{class: "NETWORK_SWITCH", area: "", cond: "snmp.unreachable", deps: []dep{{n: 6, class: "LAB_ANALYZER", area: "LAB"}}, want: incidents.P3},
	{class: "ROUTER", area: "", cond: "snmp.unreachable", deps: []dep{{n: 1, class: "NETWORK_SWITCH", area: "ICU"}, {n: 14, class: "PATIENT_MONITOR", area: "ICU"}}, want: incidents.P1},
	{class: "WIRELESS_AP", area: "WARD", cond: "snmp.unreachable", deps: []dep{{n: 5, class: "WORKSTATION", area: "WARD"}}, want: incidents.P3},
	{class: "UPS", area: "OR", cond: "ups.on_battery", deps: []dep{{n: 2, class: "ANESTHESIA_MACHINE", area: "OR"}}, want: incidents.P2},
	{class: "UPS", area: "OR", cond: "ups.battery_low", deps: []dep{{n: 2, class: "ANESTHESIA_MACHINE", area: "OR"}}, want: incidents.P1},
	{class: "UPS", area: "ADMIN", cond: "ups.on_battery", want: incidents.P4},
	{class: "HL7_GATEWAY", area: "", cond: "hl7.heartbeat_lost", deps: []dep{{n: 8, class: "INFUSION_PUMP", area: "WARD", patient: 2}}, want: incidents.P1},
	{class: "HL7_GATEWAY", area: "", cond: "hl7.heartbeat_lost", deps: []dep{{n: 4, class: "LAB_ANALYZER", area: "LAB"}}, want: incidents.P3},
	{class: "OTHER", area: "", cond: "snmp.unreachable", want: incidents.P4},
}

func (s scenario) context() incidents.Context {
	c := incidents.Context{
		Class: s.class, CareArea: s.area, Condition: s.cond, PatientConnected: s.patient, FreeSpares: s.spares,
		Infrastructure: map[string]bool{"NETWORK_SWITCH": true, "ROUTER": true, "WIRELESS_AP": true, "UPS": true, "HL7_GATEWAY": true}[s.class],
	}
	for _, d := range s.deps {
		for k := range d.n {
			c.Dependents = append(c.Dependents, incidents.Context{Class: d.class, CareArea: d.area, PatientConnected: k < d.patient})
		}
	}
	return c
}

func (s scenario) describe() string {
	var parts []string
	if s.patient {
		parts = append(parts, "patient connected")
	}
	if s.spares > 0 {
		parts = append(parts, fmt.Sprintf("%d free spare(s) in the unit", s.spares))
	}
	for _, d := range s.deps {
		p := fmt.Sprintf("%d × %s in %s", d.n, d.class, orDash(d.area))
		if d.patient > 0 {
			p += fmt.Sprintf(" (%d patient-connected)", d.patient)
		}
		parts = append(parts, p+" depend on it")
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func TestPriorityScenarios(t *testing.T) {
	if len(scenarios) < 25 {
		t.Fatalf("%d scenarios, want at least 25", len(scenarios))
	}
	p := incidents.DefaultPolicy()
	for i, s := range scenarios {
		w := p.Weigh(s.context())
		if w.Priority != s.want {
			t.Errorf("scenario %d (%s in %s, %s; %s): %s, want %s\n  reason: %s", i+1, s.class, orDash(s.area), s.cond, s.describe(), w.Priority, s.want, w.Reason)
		}
		if !strings.Contains(w.Reason, s.class) || !strings.HasSuffix(w.Reason, string(w.Priority)) {
			t.Errorf("scenario %d: reason does not explain the priority: %q", i+1, w.Reason)
		}
	}
}

// renderPriorities is docs/priorities.md.
func renderPriorities() []byte {
	p := incidents.DefaultPolicy()
	var b bytes.Buffer
	b.WriteString(`# How medcmdb prioritises incidents

<!-- Generated from internal/incidents/scenarios_test.go; do not edit by hand.
     Regenerate with: go test ./internal/incidents -run TestPrioritiesDoc -update -->

Every incident gets an ITIL priority from **impact × urgency**, each low, medium or high,
computed from clinical context by the policy (` + "`cmdb --config`" + `; defaults shown here).
The incident's ` + "`priorityReason`" + ` lists the factors, so anyone can audit it.

- **Impact** comes from the device class's criticality (1–5; 4–5 high, 3 medium, 1–2 low):
  life support (ventilator, anaesthesia machine, infusion pump) 5, patient monitor 4,
  lab analyzer and imaging 3, switch / router / AP / UPS / HL7 gateway 3, server and
  workstation 2, printer 1.
- **Urgency** comes from the care area's acuity (ICU, NICU, PICU, ED, OR 5; step-down,
  L&D, PACU 4; ward 3; outpatient, lab, imaging, pharmacy 2; admin 1; unknown 3),
  lowered one level for a battery or degraded condition (technical alarm, interface
  down, failed self-test, UPS on battery) and set to low for an informational one
  (reboot).
- **Patient connected** (HL7 shows the device bound to a patient now) raises urgency one
  level. **Free spares** (devices of the same class, operational and not bound to a
  patient, in the same unit) lower it one level — unless a patient is on the device.
- **Blast radius**: infrastructure takes the worst impact and urgency among the devices
  that depend on it (transitively), each weighed as if it suffered the same condition.
  A switch feeding ICU monitors is a P1; the same switch in the admin wing a P4.

| impact \ urgency | high | medium | low |
| --- | --- | --- | --- |
`)
	for _, imp := range []string{"high", "medium", "low"} {
		fmt.Fprintf(&b, "| **%s** | %s | %s | %s |\n", imp, p.Matrix[imp]["high"], p.Matrix[imp]["medium"], p.Matrix[imp]["low"])
	}
	b.WriteString("\nSLA targets (acknowledge / restore): ")
	var sla []string
	for _, pr := range incidents.Priorities {
		sla = append(sla, fmt.Sprintf("%s %s / %s", pr, short(p.SLA[pr].Acknowledge.String()), short(p.SLA[pr].Restore.String())))
	}
	b.WriteString(strings.Join(sla, "; ") + ".\n\n## Scenarios\n\n")
	b.WriteString("Each row is asserted by `TestPriorityScenarios` against the default policy.\n\n")
	b.WriteString("| # | device class | care area | condition | context | impact | urgency | priority |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, s := range scenarios {
		w := p.Weigh(s.context())
		fmt.Fprintf(&b, "| %d | %s | %s | `%s` | %s | %s | %s | **%s** |\n", i+1, s.class, orDash(s.area), s.cond, s.describe(),
			[]string{"", "low", "medium", "high"}[w.Impact], []string{"", "low", "medium", "high"}[w.Urgency], s.want)
	}
	return b.Bytes()
}

func short(d string) string {
	d = strings.TrimSuffix(d, "0s")
	return strings.TrimSuffix(d, "0m")
}

func TestPrioritiesDoc(t *testing.T) {
	path := filepath.Join(testkit.ModuleRoot(t), "docs", "priorities.md")
	want := renderPriorities()
	if *updateDocs {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/incidents -run TestPrioritiesDoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/priorities.md is out of date with the scenario table; run: go test ./internal/incidents -run TestPrioritiesDoc -update")
	}
}
