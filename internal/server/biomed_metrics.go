package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// biomedCollector exposes what the biomed dashboard needs, computed from the working
// set at scrape time: firmware spread per model, PM overdue, risk distribution and
// incidents per model. Labels are bounded by the inventory's own variety.
type biomedCollector struct {
	assets    *assets.Service
	incidents *incidents.Engine
	now       func() time.Time
	firmware  *prometheus.Desc
	pm        *prometheus.Desc
	risk      *prometheus.Desc
	perModel  *prometheus.Desc
}

func newBiomedCollector(a *assets.Service, e *incidents.Engine) *biomedCollector {
	return &biomedCollector{assets: a, incidents: e, now: time.Now,
		firmware: prometheus.NewDesc("medcmdb_assets_firmware", "Assets by manufacturer, model and firmware version.",
			[]string{"manufacturer", "model", "firmware"}, nil),
		pm: prometheus.NewDesc("medcmdb_assets_pm_overdue", "Assets whose planned maintenance is overdue, by site, care area and class.",
			[]string{"site", "care_area", "class"}, nil),
		risk: prometheus.NewDesc("medcmdb_assets_risk_score", "Assets by equipment-management number (12 or more: managed programme).",
			[]string{"score", "managed"}, nil),
		perModel: prometheus.NewDesc("medcmdb_model_incidents_30d", "Incidents opened in the last 30 days, by the asset's manufacturer and model, and priority.",
			[]string{"manufacturer", "model", "priority"}, nil),
	}
}

func (c *biomedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.firmware
	ch <- c.pm
	ch <- c.risk
	ch <- c.perModel
}

func (c *biomedCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	type fw struct{ mfr, model, fw string }
	type loc struct{ site, area, class string }
	type rk struct {
		score   int
		managed bool
	}
	firmware, pm, risk := map[fw]int{}, map[loc]int{}, map[rk]int{}
	var list []*assets.Asset
	c.assets.Each(func(a *assets.Asset) { list = append(list, a) })
	for _, a := range list {
		if a.Model != "" {
			firmware[fw{a.Manufacturer, a.Model, a.FirmwareVersion}]++
		}
		if a.PMOverdue(now) {
			pm[loc{a.Site, a.Location.CareArea, string(a.Class)}]++
		}
		r := c.assets.Risk(a)
		risk[rk{r.Score, r.Managed}]++
	}
	for k, n := range firmware {
		ch <- prometheus.MustNewConstMetric(c.firmware, prometheus.GaugeValue, float64(n), k.mfr, k.model, k.fw)
	}
	for k, n := range pm {
		ch <- prometheus.MustNewConstMetric(c.pm, prometheus.GaugeValue, float64(n), k.site, k.area, k.class)
	}
	for k, n := range risk {
		ch <- prometheus.MustNewConstMetric(c.risk, prometheus.GaugeValue, float64(n), strconv.Itoa(k.score), strconv.FormatBool(k.managed))
	}
	type mk struct{ mfr, model, prio string }
	perModel := map[mk]int{}
	since := now.Add(-30 * 24 * time.Hour)
	incs, _ := c.incidents.List(incidents.Filter{}, 0, 1<<30)
	for _, i := range incs {
		if i.OpenedAt.Before(since) {
			continue
		}
		a, ok := c.assets.Get(i.AssetID)
		if !ok || a.Model == "" {
			continue
		}
		perModel[mk{a.Manufacturer, a.Model, string(i.Priority)}]++
	}
	for k, n := range perModel {
		ch <- prometheus.MustNewConstMetric(c.perModel, prometheus.GaugeValue, float64(n), k.mfr, k.model, k.prio)
	}
}
