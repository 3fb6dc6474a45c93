package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// inventoryCollector exposes asset and open-incident counts computed from the
// in-memory working set at scrape time.
type inventoryCollector struct {
	assets    *assets.Service
	incidents *incidents.Engine
	assetDesc *prometheus.Desc
	openDesc  *prometheus.Desc
}

func newInventoryCollector(a *assets.Service, e *incidents.Engine) *inventoryCollector {
	return &inventoryCollector{
		assets: a, incidents: e,
		assetDesc: prometheus.NewDesc("medcmdb_assets", "Assets by class, status, site and care area.",
			[]string{"class", "status", "site", "care_area"}, nil),
		openDesc: prometheus.NewDesc("medcmdb_incidents_open", "Open incidents by priority, site and care area.",
			[]string{"priority", "site", "care_area"}, nil),
	}
}

func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.assetDesc
	ch <- c.openDesc
}

func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	type ak struct{ class, status, site, area string }
	counts := map[ak]int{}
	c.assets.Each(func(a *assets.Asset) {
		counts[ak{string(a.Class), string(a.Status), a.Site, a.Location.CareArea}]++
	})
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.assetDesc, prometheus.GaugeValue, float64(n), k.class, k.status, k.site, k.area)
	}
	type ik struct{ prio, site, area string }
	open := map[ik]int{}
	// Every priority appears even at zero, so alert rules and dashboards see a series.
	for _, p := range incidents.Priorities {
		open[ik{prio: string(p)}] = 0
	}
	c.incidents.EachOpen(func(i *incidents.Incident) {
		open[ik{string(i.Priority), i.Site, i.CareArea}]++
	})
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(c.openDesc, prometheus.GaugeValue, float64(n), k.prio, k.site, k.area)
	}
}
