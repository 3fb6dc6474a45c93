package incidents

import "testing"

func TestMatrix(t *testing.T) {
	// DESIGN §6: high/high P1; high/med, med/high P2; high/low, med/med, low/high P3;
	// med/low, low/med P4; low/low P5.
	want := map[[2]int]Priority{
		{3, 3}: P1, {3, 2}: P2, {2, 3}: P2, {3, 1}: P3, {2, 2}: P3, {1, 3}: P3,
		{2, 1}: P4, {1, 2}: P4, {1, 1}: P5,
	}
	for iu, p := range want {
		if got := DefaultPolicy().matrix(iu[0], iu[1]); got != p {
			t.Errorf("impact %d urgency %d: %s, want %s", iu[0], iu[1], got, p)
		}
	}
}

func TestPolicyFileExtendsDefaultsAndRejectsBadValues(t *testing.T) {
	p, err := ParsePolicy([]byte("care_area_acuity: {BURN_UNIT: 5}\nsla: {P1: {acknowledge: 2m, restore: 30m}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Acuity("burn_unit") != 5 || p.Acuity("ICU") != 5 || p.SLA[P1].Acknowledge.Minutes() != 2 || p.SLA[P2].Restore.Hours() != 4 {
		t.Fatalf("policy not overlaid on defaults: %+v", p)
	}
	for _, bad := range []string{
		"care_area_acuity: {ICU: 9}",
		"condition_severity: {snmp.unreachable: catastrophic}",
		"sla: {P7: {acknowledge: 1m, restore: 1h}}",
		"clas_criticality: {}",
	} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("policy %q accepted", bad)
		}
	}
}
