package discovery

import (
	"net/netip"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// A range marked clinical marks every observation of the devices found there, so the
// cmdb can tell an unknown device on a clinical segment from one in the admin wing.
func TestObservationsCarryTheRangesClinicalFlag(t *testing.T) {
	p, _ := testPoller(t)
	cr := &p.cfg.SNMP.Credentials[0]
	loc := observation.Location{CareArea: "ICU"}
	p.Add(Found{Target: Target{Host: "10.0.0.1", Port: 161}, Cred: cr, Location: loc, Clinical: true})
	p.Add(Found{Target: Target{Host: "10.0.0.2", Port: 161}, Cred: cr, Location: loc})
	get := func(ip string) observation.Observation {
		p.mu.Lock()
		defer p.mu.Unlock()
		d := p.devices[netip.AddrPortFrom(netip.MustParseAddr(ip), 161)]
		return p.observation(d, observation.KindRefresh, observation.SourceSNMPPoll, time.Now())
	}
	if !get("10.0.0.1").Clinical {
		t.Error("device on the clinical range: observation not marked clinical")
	}
	if get("10.0.0.2").Clinical {
		t.Error("device on an ordinary range with the same location and credentials: marked clinical")
	}
}
