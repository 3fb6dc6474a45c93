package incidents

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestPolicyOverridesKeepExplicitZerosAndMergeMaps(t *testing.T) {
	p, err := ParsePolicy([]byte(`
hold: {classes: {printer: 0s, LAB_ANALYZER: 45s}}
matrix: {low: {high: P2, medium: P4, low: P5}}
escalation: [{name: only, trigger: restore, after: 10m}]
flap: {threshold: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Hold.For("PRINTER") != 0 || p.Hold.For("WORKSTATION") != 2*time.Minute || p.Hold.For("LAB_ANALYZER") != 45*time.Second {
		t.Errorf("holds %+v", p.Hold)
	}
	if p.matrix(1, 3) != P2 || p.matrix(3, 3) != P1 {
		t.Errorf("matrix row not overridden alone: %v", p.Matrix)
	}
	if len(p.Escalation) != 1 || p.Flap.Threshold != 3 || p.Flap.Window != 10*time.Minute {
		t.Errorf("escalation %v flap %+v", p.Escalation, p.Flap)
	}
}

func TestPolicyRejectsBadValuesWithClearMessages(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"matrix: {high: {high: P1, medium: P2}}", "matrix.high.low: missing"},
		{"matrix: {huge: {high: P1, medium: P1, low: P1}}", "matrix.huge"},
		{"hold: {default: -1s}", "hold.default"},
		{"flap: {threshold: 1}", "flap.threshold"},
		{"escalation: [{name: a, trigger: lunch}]", `escalation[0].trigger: "lunch"`},
		{"escalation: [{name: a, trigger: restore}, {name: a, trigger: restore}]", "used twice"},
		{"sla_check_schedule: sometimes", "sla_check_schedule"},
		{"webhooks: [{name: d, url: 'ftp://x', kind: generic, secret: 0123456789abcdef}]", "webhooks[0].url"},
		{"webhooks: [{name: d, url: 'https://x', kind: email, secret: 0123456789abcdef}]", "webhooks[0].kind"},
		{"webhooks: [{name: d, url: 'https://x', kind: generic, secret: short}]", "webhooks[0].secret"},
		{"webhooks: [{name: d, url: 'https://x', kind: jira, secret: 0123456789abcdef}]", "webhooks[0].jira"},
		{"webhooks: [{name: d, url: 'https://x', kind: freshservice, secret: 0123456789abcdef}]", "requester_email"},
		{"webhooks: [{name: d, url: 'https://x', kind: generic, secret: '${MEDCMDB_TEST_UNSET_VAR}'}]", "MEDCMDB_TEST_UNSET_VAR"},
		{"delivery: {workers: 0}", "delivery.workers"},
		{"correlation: {wait: 1h}", "correlation.wait"},
	} {
		_, err := ParsePolicy([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.yaml, err, c.want)
		}
	}
}

func TestWebhookSecretsNeverPrint(t *testing.T) {
	t.Setenv("MEDCMDB_TEST_SECRET", "s3cr3t-value-0123456789")
	t.Setenv("MEDCMDB_TEST_AUTH", "Bearer t0ken-value")
	p, err := ParsePolicy([]byte(`webhooks:
  - name: desk
    url: https://desk.example/hook
    kind: generic
    secret: ${MEDCMDB_TEST_SECRET}
    headers: {Authorization: "${MEDCMDB_TEST_AUTH}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := p.Webhooks[0]
	if w.Secret.Reveal() != "s3cr3t-value-0123456789" || w.Headers["Authorization"].Reveal() != "Bearer t0ken-value" {
		t.Fatal("secrets not read from the environment")
	}
	y, _ := yaml.Marshal(p)
	j, _ := json.Marshal(p)
	for _, out := range []string{fmt.Sprintf("%v", p), fmt.Sprintf("%+v", w), fmt.Sprintf("%#v", w), string(y), string(j)} {
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "t0ken") {
			t.Fatalf("a secret printed: %s", out)
		}
	}
	if !strings.Contains(string(y), "<secret>") {
		t.Errorf("config dump does not mark the secret: %s", y)
	}
}

func TestShippedExamplePolicyLoads(t *testing.T) {
	t.Setenv("MEDCMDB_WEBHOOK_SECRET", "example-webhook-secret")
	t.Setenv("SERVICENOW_AUTH", "Basic eDp5")
	_, file, _, _ := runtime.Caller(0)
	p, err := LoadPolicy(filepath.Join(filepath.Dir(file), "..", "..", "deploy", "examples", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Webhooks) != 1 || p.Webhooks[0].Kind != KindServiceNow || p.Acuity("burn_unit") != 5 {
		t.Fatalf("example policy: %+v", p.Webhooks)
	}
}

func TestSignatureAndShapes(t *testing.T) {
	body := []byte(`{"a":1}`)
	sig := Sign("k", "1700000000", body)
	if !strings.HasPrefix(sig, "sha256=") || !VerifySignature("k", "1700000000", body, sig) ||
		VerifySignature("k", "1700000001", body, sig) || VerifySignature("other", "1700000000", body, sig) {
		t.Fatal("signature does not bind key, timestamp and body")
	}
	e := &OutboxEntry{ID: "i1.0001.x", Notification: Notification{ID: "i1.0001", Event: NotifyResolved, Seq: 1,
		Incident: IncidentSnapshot{ID: "i1", Number: "INC0000001", Title: "vent (VENTILATOR, ICU-1): not answering SNMP",
			Priority: P1, Impact: 3, Urgency: 2, Dependents: 3, SuppressedCount: 2, SuppressedDeviceCount: 1,
			ImpactedCount: 3, ImpactedDeviceCount: 2, WorstImpact: "P1: PATIENT_MONITOR in ICU"},
		Asset: AssetSnapshot{Name: "vent", Class: "VENTILATOR"}}}
	var snow map[string]any
	b, _ := Render(&Webhook{Kind: KindServiceNow}, e)
	_ = json.Unmarshal(b, &snow)
	if snow["impact"] != "1" || snow["urgency"] != "2" || snow["state"] != "6" || snow["correlation_id"] != "i1" ||
		!strings.Contains(snow["description"].(string), "3 devices depend on it; suppressed under it now: 1 device (2 incidents); taken down in all: 2 devices (3 incidents)") {
		t.Errorf("servicenow shape: %s", b)
	}
	var gen map[string]any
	b, _ = Render(&Webhook{Kind: KindGeneric}, e)
	_ = json.Unmarshal(b, &gen)
	if gen["idempotencyKey"] != "i1.0001.x" || gen["notification"].(map[string]any)["event"] != "resolved" {
		t.Errorf("generic shape: %s", b)
	}
	if _, err := Render(&Webhook{Kind: "email"}, e); err == nil {
		t.Error("unknown kind rendered")
	}
}
