package discovery

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// assetIDs remembers which cmdb asset each watched device is, as the cmdb says when it
// accepts observations, so per-device metrics carry the asset id people search for.
type assetIDs struct {
	mu sync.RWMutex
	m  map[string]string // device key -> asset id
}

// deviceKey names a device the way the collector tracks it: SNMP by address, HL7 by
// its own identifier.
func deviceKey(o *observation.Observation) string {
	switch {
	case o.Source == observation.SourceHL7 && o.Identity.EUI64 != "":
		return "hl7:" + o.Identity.EUI64
	case o.Source == observation.SourceHL7:
		return "hl7:" + o.Identity.HL7App
	case o.Address != nil:
		a, err := netip.ParseAddr(o.Address.IP)
		if err != nil {
			return ""
		}
		return "snmp:" + netip.AddrPortFrom(a, uint16(o.Address.Port)).String()
	}
	return ""
}

func (a *assetIDs) learn(batch []observation.Observation, ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range batch {
		if ids[i] == "" {
			continue
		}
		if k := deviceKey(&batch[i]); k != "" {
			a.m[k] = ids[i]
		}
	}
}

func (a *assetIDs) get(key string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.m[key]
	return id, ok
}

// deviceUp exposes medcmdb_device_up{asset_id,class,site,care_area}: 1 when the device
// answers, 0 when it is down, for every device the cmdb has named. The series count is
// capped (Config.Metrics.DeviceSeriesLimit) so one collector cannot flood Prometheus.
type deviceUp struct {
	c       *Collector
	desc    *prometheus.Desc
	dropped *prometheus.Desc
}

func newDeviceUp(c *Collector) *deviceUp {
	return &deviceUp{c: c,
		desc: prometheus.NewDesc("medcmdb_device_up", "1 when the device answers, 0 when it is down, per device the cmdb knows.",
			[]string{"asset_id", "class", "site", "care_area"}, nil),
		dropped: prometheus.NewDesc("medcmdb_device_up_series_dropped", "Devices left out of medcmdb_device_up by the series limit.", nil, nil),
	}
}

func (d *deviceUp) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.desc
	ch <- d.dropped
}

func (d *deviceUp) Collect(ch chan<- prometheus.Metric) {
	limit := d.c.cfg.Metrics.DeviceSeriesLimit
	n, dropped := 0, 0
	seen := map[string]bool{}
	emit := func(key string, up bool, class, careArea string) {
		id, ok := d.c.ids.get(key)
		if !ok || seen[id] {
			return
		}
		if n >= limit {
			dropped++
			return
		}
		seen[id] = true
		n++
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, v, id, class, d.c.cfg.Site, careArea)
	}
	d.c.poller.EachDevice(func(addr netip.AddrPort, up bool, class, careArea string) {
		emit("snmp:"+addr.String(), up, class, careArea)
	})
	if d.c.hl7 != nil {
		d.c.hl7.tracker.EachDevice(func(key string, up bool, class, careArea string) {
			emit("hl7:"+key, up, class, careArea)
		})
	}
	ch <- prometheus.MustNewConstMetric(d.dropped, prometheus.GaugeValue, float64(dropped))
}
