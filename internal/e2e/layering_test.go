package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestImportsPointTowardsLeaves enforces DESIGN §2's "must not import" column.
func TestImportsPointTowardsLeaves(t *testing.T) {
	const mod = "github.com/medcmdb/medcmdb/"
	rules := map[string][]string{
		"./cmd/collector":      {"go.mongodb.org/", mod + "internal/assets", mod + "internal/incidents", mod + "internal/store"},
		"./internal/discovery": {"go.mongodb.org/", mod + "internal/assets", mod + "internal/incidents", mod + "internal/devicesim"},
		"./internal/assets":    {mod + "internal/incidents", mod + "graphql"},
		"./internal/incidents": {mod + "graphql"},
		// The simulator is a leaf every test and benchmark may use.
		"./internal/devicesim": {"go.mongodb.org/", mod + "internal/assets", mod + "internal/incidents", mod + "internal/discovery", mod + "graphql"},
		// The BER primitives both SNMP codecs share import nothing of the project.
		"./internal/snmpber": {mod},
	}
	// The HL7 and MLLP codecs are leaves the simulator speaks HL7 with; the collector
	// itself (internal/discovery) stays out of it.
	allowed := map[string][]string{
		"./internal/devicesim": {mod + "internal/discovery/hl7", mod + "internal/discovery/mllp"},
		"./internal/snmpber":   {mod + "internal/snmpber"},
	}
	for pkg, banned := range rules {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = testkit.ModuleRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			ok := false
			for _, a := range allowed[pkg] {
				ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
			}
			for _, b := range banned {
				if !ok && strings.HasPrefix(dep, b) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
