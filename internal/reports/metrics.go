package reports

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// Windows are the trailing windows of the dashboard gauges, by label value.
var Windows = []struct {
	Label string
	D     time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// Lister is what the collector reads of the incident engine.
type Lister interface {
	List(f incidents.Filter, offset, limit int) ([]*incidents.Incident, int)
}

// Collector exposes the report figures by priority over the trailing windows,
// computed at scrape time. Labels are bounded: 5 priorities × 3 windows. A ratio or
// mean without data is left out rather than reported as 0.
type Collector struct {
	src                             Lister
	now                             func() time.Time
	opened, mtta, mttr, sla, reopen *prometheus.Desc
}

// NewCollector returns the collector; register it on the cmdb's registry.
func NewCollector(src Lister, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	l := []string{"priority", "window"}
	return &Collector{src: src, now: now,
		opened: prometheus.NewDesc("medcmdb_incidents_opened", "Incidents opened within the trailing window, by priority.", l, nil),
		mtta: prometheus.NewDesc("medcmdb_incident_mtta_seconds",
			"Mean time to acknowledge of the incidents opened within the window (not suppressed), by priority.", l, nil),
		mttr: prometheus.NewDesc("medcmdb_incident_mttr_seconds",
			"Mean time to restore of the incidents opened within the window and resolved (not suppressed), by priority.", l, nil),
		sla: prometheus.NewDesc("medcmdb_sla_compliance_ratio",
			"Share of the incidents opened within the window whose SLA outcome is known that met both targets, by priority.", l, nil),
		reopen: prometheus.NewDesc("medcmdb_incident_reopen_ratio",
			"Share of the incidents opened within the window that reopened after an auto-resolution, by priority.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.opened, c.mtta, c.mttr, c.sla, c.reopen} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	list, _ := c.src.List(incidents.Filter{}, 0, 1<<31-1)
	for _, w := range Windows {
		rep, err := Compute(list, nil, now.Add(-w.D), now.Add(time.Nanosecond), now, ByPriority)
		if err != nil {
			continue
		}
		for _, r := range rep.Rows {
			g := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, r.Key, w.Label)
			}
			g(c.opened, float64(r.Incidents))
			if r.Acknowledged > 0 {
				g(c.mtta, r.MTTA().Seconds())
			}
			if r.Resolved > 0 {
				g(c.mttr, r.MTTR().Seconds())
			}
			if v, ok := r.SLACompliance(); ok {
				g(c.sla, v)
			}
			if r.Incidents > 0 {
				g(c.reopen, r.ReopenRate())
			}
		}
	}
}
