package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// inventoryCollector exposes asset and open-incident counts computed from the
// in-memory working set at scrape time.
type inventoryCollector struct {
	assets    *assets.Service
	incidents *incidents.Engine
	now       func() time.Time
	assetDesc *prometheus.Desc
	openDesc  *prometheus.Desc
	overdue   *prometheus.Desc
}

func newInventoryCollector(a *assets.Service, e *incidents.Engine) *inventoryCollector {
	return &inventoryCollector{
		assets: a, incidents: e,
		assetDesc: prometheus.NewDesc("medcmdb_assets", "Assets by class, status, site and care area.",
			[]string{"class", "status", "site", "care_area"}, nil),
		openDesc: prometheus.NewDesc("medcmdb_incidents_open", "Open incidents by priority, site and care area.",
			[]string{"priority", "site", "care_area"}, nil),
		overdue: prometheus.NewDesc("medcmdb_incidents_sla_overdue",
			"Open incidents past an SLA target now, by priority and target (acknowledge, restore).",
			[]string{"priority", "target"}, nil),
		now: time.Now,
	}
}

func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.assetDesc
	ch <- c.openDesc
	ch <- c.overdue
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
	type ok struct{ prio, target string }
	overdue := map[ok]int{}
	for _, p := range incidents.Priorities {
		overdue[ok{string(p), "acknowledge"}] = 0
		overdue[ok{string(p), "restore"}] = 0
	}
	now := c.now()
	c.incidents.EachOpen(func(i *incidents.Incident) {
		open[ik{string(i.Priority), i.Site, i.CareArea}]++
		if i.AcknowledgedAt == nil && now.After(i.AckDueAt) {
			overdue[ok{string(i.Priority), "acknowledge"}]++
		}
		if now.After(i.ResolveDueAt) {
			overdue[ok{string(i.Priority), "restore"}]++
		}
	})
	for k, n := range overdue {
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(n), k.prio, k.target)
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(c.openDesc, prometheus.GaugeValue, float64(n), k.prio, k.site, k.area)
	}
}
