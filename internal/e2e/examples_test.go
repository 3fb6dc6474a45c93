package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestShippedExamplesAreValid keeps deploy/examples in step with the config code.
func TestShippedExamplesAreValid(t *testing.T) {
	root := testkit.ModuleRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Setenv("COLLECTOR_TOKEN", "example-token")
	t.Setenv("SNMP_COMMUNITY", "example-community")
	t.Setenv("SNMP_AUTH", "example-auth-pass")
	t.Setenv("SNMP_PRIV", "example-priv-pass")
	t.Setenv("MEDCMDB_WEBHOOK_SECRET", "example-webhook-secret")
	t.Setenv("SERVICENOW_AUTH", "Basic ZXhhbXBsZTpleGFtcGxl")
	if out, err := testkit.Run(ctx, testkit.Binary(t, "collector"), "check-config", "--config", filepath.Join(root, "deploy/examples/collector.yaml")); err != nil {
		t.Errorf("collector example: %v: %s", err, out)
	}
	if out, err := testkit.Run(ctx, testkit.Binary(t, "cmdb"), "check-config", "--config", filepath.Join(root, "deploy/examples/policy.yaml")); err != nil {
		t.Errorf("policy example: %v: %s", err, out)
	}
}
