package devicesim

import (
	"testing"

	"github.com/medcmdb/medcmdb/internal/discovery"
)

// TestCatalogueIsFingerprinted checks that the collector's shipped profiles recognise
// every model of the catalogue as its class, and that HL7 devices spell their maker as
// fingerprinting does, so that the cmdb sees one device in the SNMP and HL7 views
// (they meet on manufacturer + serial).
func TestCatalogueIsFingerprinted(t *testing.T) {
	ps := discovery.MustShippedProfiles()
	for c, models := range Catalogue {
		for _, m := range models {
			descr := m.descr(m.Firmware[0], "X1")
			fp := ps.Match(oidString(m.ObjectID), descr)
			if fp.Class != m.Class.String() {
				t.Errorf("%s %s (%s): fingerprinted as %s (profile %q), want %s", m.Manufacturer, m.Name, descr, fp.Class, fp.Profile, m.Class)
				continue
			}
			if c.SpeaksHL7() && fp.Manufacturer != "" && fp.Manufacturer != m.HL7Maker() {
				t.Errorf("%s %s: fingerprint says %q, HL7 says %q: the two views would not merge", m.Manufacturer, m.Name, fp.Manufacturer, m.HL7Maker())
			}
		}
	}
}
