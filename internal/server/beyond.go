package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/advisories"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/problems"
	"github.com/medcmdb/medcmdb/internal/reports"
	"github.com/medcmdb/medcmdb/internal/rogue"
	"github.com/medcmdb/medcmdb/internal/schedule"
)

// beyond holds what goes beyond the single alert: the observation log for policy
// replay, rogue-device detection, advisories and problems.
type beyond struct {
	obslog     *obslog.Log
	rogue      *rogue.Detector
	advisories *advisories.Service
	problems   *problems.Service
}

// initBeyond opens what the incident engine depends on (rogue devices add a derived
// condition to the assets it reads) and what depends on nothing else.
func (s *Server) initBeyond(ctx context.Context) error {
	var err error
	s.beyond.obslog = obslog.Open(s.store.DB, s.log)
	if s.beyond.rogue, err = rogue.Open(ctx, rogue.Options{Policy: s.cfg.Policy, Logger: s.log, DB: s.store.DB}); err != nil {
		return err
	}
	s.beyond.advisories, err = advisories.Open(ctx, s.store.DB, s.log, nil)
	return err
}

// engineAssets is the asset source of the incident engine.
func (s *Server) engineAssets() incidents.AssetSource { return s.beyond.rogue.Source(s.assets) }

// startBeyond opens what needs the incident engine, and the metrics and the job.
func (s *Server) startBeyond(ctx context.Context) error {
	var err error
	s.beyond.problems, err = problems.Open(ctx, s.store, s.incidents, s.assets, problems.Options{Policy: s.cfg.Policy, Logger: s.log})
	if err != nil {
		return err
	}
	s.registry.MustRegister(reports.NewCollector(s.incidents, nil), newBeyondCollector(s.assets, &s.beyond))
	return s.jobs.Add(schedule.Job{Name: "problems", Spec: s.cfg.Policy.Problems.Schedule, Timeout: time.Minute, Run: s.beyond.problems.Detect})
}

// observe runs after every applied batch, before the incident engine sees it: the
// log keeps what changed state (for replay), the rogue detector what came from
// clinical ranges. Failures do not fail the batch: the assets are applied already.
func (s *Server) observe(ctx context.Context, outs []assets.Outcome) {
	if err := s.beyond.obslog.Record(ctx, time.Now(), "", outs); err != nil {
		s.log.Warn("recording observations for replay", "err", err)
	}
	if err := s.beyond.rogue.Observe(ctx, outs); err != nil {
		s.log.Warn("recording clinical-range sightings", "err", err)
	}
}

// runBeyond keeps every replica's copy of the problems fresh: the problems job runs on
// one replica, and edits may arrive at any.
func (s *Server) runBeyond(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.beyond.problems.Reload(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reloading problems", "err", err)
				}
			}
		}
	})
}

// pruneObservations removes the observation log's days older than the retention,
// then its oldest days past the size bound.
func (s *Server) pruneObservations(ctx context.Context, now time.Time) error {
	r := s.cfg.Policy.Retention
	if d := r.Observations; d > 0 {
		if _, err := s.beyond.obslog.Prune(ctx, now.Add(-d)); err != nil {
			return err
		}
	}
	if mb := r.ObservationsMaxMB; mb > 0 {
		_, err := s.beyond.obslog.PruneSize(ctx, int64(mb)<<20, now)
		return err
	}
	return nil
}

// beyondCollector exposes problems, advisories and rogue devices for the biomed and
// NOC dashboards, computed from the in-memory working sets at scrape time.
type beyondCollector struct {
	assets                          *assets.Service
	b                               *beyond
	problems, advs, affected, unver *prometheus.Desc
	rogues                          *prometheus.Desc
}

func newBeyondCollector(a *assets.Service, b *beyond) *beyondCollector {
	sl := []string{"severity", "source"}
	return &beyondCollector{assets: a, b: b,
		problems: prometheus.NewDesc("medcmdb_problems_open", "Open problems (recurring incidents), by scope (ASSET, MODEL).", []string{"scope"}, nil),
		advs:     prometheus.NewDesc("medcmdb_advisories", "Advisories recorded, by severity and source.", sl, nil),
		affected: prometheus.NewDesc("medcmdb_advisory_affected_assets",
			"Assets whose make, model and firmware fall under an advisory, by the advisory's severity and source (an asset counts once per advisory).", sl, nil),
		unver: prometheus.NewDesc("medcmdb_advisory_unverified_assets",
			"Assets of an advised make and model whose firmware is unknown, by the advisory's severity and source.", sl, nil),
		rogues: prometheus.NewDesc("medcmdb_rogue_devices", "Unknown devices on clinical ranges not on the allow list.", nil, nil),
	}
}

func (c *beyondCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.problems, c.advs, c.affected, c.unver, c.rogues} {
		ch <- d
	}
}

func (c *beyondCollector) Collect(ch chan<- prometheus.Metric) {
	for scope, n := range c.b.problems.OpenCounts() {
		ch <- prometheus.MustNewConstMetric(c.problems, prometheus.GaugeValue, float64(n), string(scope))
	}
	type k struct{ sev, src string }
	count, aff, unv := map[k]int{}, map[k]int{}, map[k]int{}
	// Every label pair appears, even at zero, so dashboards and alerts see a series.
	for _, sev := range advisories.Severities {
		for _, src := range advisories.Sources {
			count[k{sev, src}], aff[k{sev, src}], unv[k{sev, src}] = 0, 0, 0
		}
	}
	tally := c.b.advisories.Tally(c.assets)
	for _, a := range c.b.advisories.List() {
		key := k{a.Severity, a.Source}
		count[key]++
		aff[key] += tally[a.ID][0]
		unv[key] += tally[a.ID][1]
	}
	for key, n := range count {
		ch <- prometheus.MustNewConstMetric(c.advs, prometheus.GaugeValue, float64(n), key.sev, key.src)
		ch <- prometheus.MustNewConstMetric(c.affected, prometheus.GaugeValue, float64(aff[key]), key.sev, key.src)
		ch <- prometheus.MustNewConstMetric(c.unver, prometheus.GaugeValue, float64(unv[key]), key.sev, key.src)
	}
	ch <- prometheus.MustNewConstMetric(c.rogues, prometheus.GaugeValue, float64(len(c.b.rogue.Rogues(c.assets))))
}
