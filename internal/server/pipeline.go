package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/graphql"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/fleet"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// pipeline applies observation batches: validate, reconcile assets, then incidents.
type pipeline struct {
	assets    *assets.Service
	incidents *incidents.Engine
	log       *slog.Logger
	received  *prometheus.CounterVec
	fleet     *fleet.Tracker // hears the collectors' reports; nil in tests
	// observe, when set, sees every applied batch before the incident engine does.
	observe func(context.Context, []assets.Outcome)
	applied *prometheus.CounterVec
}

func newPipeline(a *assets.Service, e *incidents.Engine, reg prometheus.Registerer, log *slog.Logger) *pipeline {
	p := &pipeline{assets: a, incidents: e, log: log.With("component", "ingest"),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_observations_received_total", Help: "Observations received from collectors, by source.",
		}, []string{"source"}),
	}
	for _, s := range []observation.Source{observation.SourceSNMPPoll, observation.SourceSNMPSweep, observation.SourceSNMPTrap, observation.SourceHL7, observation.SourceImport, "invalid"} {
		p.received.WithLabelValues(string(s))
	}
	// received counts every delivery attempt; applied says what became of the valid
	// ones once persisted: applied (first time), stale (first time, but a state older
	// than the one held: kept in the history, not applied) or duplicate (an id applied
	// before: a collector's replay, and nothing else).
	p.applied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medcmdb_observations_applied_total",
		Help: "Valid observations persisted, by result: applied; stale (state older than the state held, arrived late: recorded, not applied); duplicate (id already applied: a replay).",
	}, []string{"result"})
	for _, r := range []string{"applied", "stale", "duplicate"} {
		p.applied.WithLabelValues(r)
	}
	reg.MustRegister(p.received, p.applied)
	return p
}

// Report implements graphql.Reporter. The answer comes only after every accepted
// observation is persisted, so a collector may drop what was acknowledged.
func (p *pipeline) Report(ctx context.Context, collector string, obs []observation.Observation) (*observation.ReportResult, error) {
	res := &observation.ReportResult{Rejected: []observation.Rejection{}, AssetIDs: make([]string, len(obs))}
	valid := make([]observation.Observation, 0, len(obs))
	index := make([]int, 0, len(obs)) // position in obs of each valid observation
	for i := range obs {
		o := &obs[i]
		if o.Collector == "" {
			o.Collector = collector
		}
		if err := o.Validate(); err != nil {
			res.Rejected = append(res.Rejected, observation.Rejection{ID: o.ID, Reason: err.Error()})
			p.received.WithLabelValues("invalid").Inc()
			continue
		}
		p.received.WithLabelValues(string(o.Source)).Inc()
		valid = append(valid, *o)
		index = append(index, i)
	}
	if len(res.Rejected) > 0 {
		p.log.Warn("rejected observations", "collector", collector, "count", len(res.Rejected), "first", res.Rejected[0].Reason)
	}
	if len(valid) == 0 {
		return res, nil
	}
	if p.fleet != nil {
		p.fleet.Seen(collector, valid[0].Site, validitySpan(valid))
	}
	outs, err := p.assets.Apply(ctx, valid, graphql.RequestID(ctx))
	if err != nil {
		return nil, fmt.Errorf("applying %d observations from %s: %w", len(valid), collector, err)
	}
	stale := 0
	for k, o := range outs {
		switch {
		case o.Duplicate:
			res.Duplicates++
		case o.Stale:
			stale++
			res.Accepted++ // taken into account: the collector may forget it
		default:
			res.Accepted++
		}
		if o.Asset != nil && k < len(index) {
			res.AssetIDs[index[k]] = o.Asset.ID
		}
	}
	if p.observe != nil {
		p.observe(ctx, outs)
	}
	p.applied.WithLabelValues("applied").Add(float64(res.Accepted - stale))
	p.applied.WithLabelValues("stale").Add(float64(stale))
	p.applied.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	// Incidents converge on the engine's next pass if this fails: the assets are
	// already right, so the batch counts as applied.
	if err := p.incidents.Handle(ctx, outs); err != nil {
		p.log.Warn("updating incidents after observations", "err", err)
	}
	return res, nil
}

// validitySpan is how long the observations of a report hold: the longest span
// between observedAt and validUntil. A collector is silent once that has passed since
// its last report without another.
func validitySpan(obs []observation.Observation) time.Duration {
	var span time.Duration
	for i := range obs {
		if !obs[i].ValidUntil.IsZero() {
			span = max(span, obs[i].ValidUntil.Sub(obs[i].ObservedAt))
		}
	}
	if span <= 0 {
		span = 10 * time.Minute // the asset registry's default TTL
	}
	return span
}
