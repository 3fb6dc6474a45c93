package incidents

import (
	"os"
	"testing"
)

// FuzzParsePolicy: any bytes give a policy that validates, or an error; never a panic,
// and an accepted policy weighs any context.
func FuzzParsePolicy(f *testing.F) {
	if b, err := os.ReadFile("../../deploy/examples/policy.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("matrix: {high: {high: P1, medium: P2, low: P3}}\nhold: {classes: {printer: 0s}}\n"))
	f.Add([]byte("webhooks: [{name: a, url: 'https://x/y', kind: jira, secret: 0123456789abcdef, jira: {service_desk_id: '1', request_type_id: '2'}}]"))
	f.Add([]byte("escalation: [{name: a, trigger: restore, after: 1h, priorities: [P1]}]\nflap: {threshold: 2, window: 1s}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy does not validate: %v", err)
		}
		w := p.Weigh(Context{Class: "VENTILATOR", CareArea: "ICU", Condition: "snmp.unreachable",
			Dependents: []Context{{Class: "PRINTER"}}})
		if PriorityRank(w.Priority) < 0 {
			t.Fatalf("priority %q", w.Priority)
		}
	})
}
