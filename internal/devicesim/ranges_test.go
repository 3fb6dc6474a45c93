package devicesim_test

import (
	"testing"

	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/discovery"
)

// TestCollectorRangesIsACollectorConfig checks that the ranges the simulator prints
// make a valid collector configuration covering every device, with its care area.
func TestCollectorRangesIsACollectorConfig(t *testing.T) {
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: 2, Devices: 3000})
	if err != nil {
		t.Fatal(err)
	}
	head := "site: sim\nname: sim-collector\ncmdb: {url: http://127.0.0.1:8080/graphql, token: x}\n"
	cfg, err := discovery.ParseConfig([]byte(head + h.CollectorRanges(1161)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SNMP.Port != 1161 || len(cfg.SNMP.Ranges) != len(h.Units) {
		t.Fatalf("port %d, %d ranges for %d units", cfg.SNMP.Port, len(cfg.SNMP.Ranges), len(h.Units))
	}
	for _, d := range h.Devices {
		found := false
		for _, r := range cfg.SNMP.Ranges {
			if r.Prefix().Contains(d.IP()) {
				if r.Location.CareArea != d.Unit.CareArea || r.Location.Unit != d.Unit.Name {
					t.Fatalf("%s is in range %s located %+v, want unit %s", d.Name, r.CIDR, r.Location, d.Unit.Name)
				}
				found = true
			}
		}
		if !found {
			t.Fatalf("no range covers %s (%s)", d.Name, d.IP())
		}
	}
}
