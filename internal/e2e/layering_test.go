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
		// The wire contract both sides import imports nothing of the project.
		"./internal/observation": {mod},
	}
	// The cmdb's core knows collectors only through the wire contract: no SNMP, HL7
	// or MLLP code, no collector package, no simulator.
	for _, core := range []string{"./internal/assets", "./internal/incidents", "./internal/server", "./graphql",
		"./internal/obslog", "./internal/rogue", "./internal/replay", "./internal/problems", "./internal/advisories",
		"./internal/reports", "./internal/fleet", "./internal/store", "./internal/auth", "./internal/audit"} {
		rules[core] = append(rules[core], mod+"internal/discovery", mod+"internal/devicesim", mod+"internal/snmpber", "github.com/gosnmp/")
	}
	// The HL7 and MLLP codecs are leaves the simulator speaks HL7 with; the collector
	// itself (internal/discovery) stays out of it.
	allowed := map[string][]string{
		"./internal/devicesim":   {mod + "internal/discovery/hl7", mod + "internal/discovery/mllp"},
		"./internal/snmpber":     {mod + "internal/snmpber"},
		"./internal/observation": {mod + "internal/observation"},
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
