package incidents

import "testing"

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("care_area_acuity: {ICU: 5}"))
	f.Add([]byte("sla: {P1: {acknowledge: 5m, restore: 1h}}"))
	f.Add([]byte("class_criticality: {VENTILATOR: 9}"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy fails validation: %v", err)
		}
		for _, pr := range Priorities {
			if p.SLA[pr].Acknowledge <= 0 {
				t.Fatalf("accepted policy without an acknowledge target for %s", pr)
			}
		}
	})
}
