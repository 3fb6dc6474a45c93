package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestPrometheusRules runs promtool over the shipped scrape config and alert rules,
// including the rule unit tests.
func TestPrometheusRules(t *testing.T) {
	promtool := testkit.RequireTool(t, "promtool")
	dir := filepath.Join(testkit.ModuleRoot(t), "deploy", "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(dir, "rules.yml")},
		{"check", "config", filepath.Join(dir, "prometheus.yml")},
		{"test", "rules", filepath.Join(dir, "rules_test.yml")},
	} {
		out, err := testkit.Run(ctx, promtool, args...)
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
