package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/fleet"
)

// Several cmdb replicas may share one MongoDB. Each keeps its working set (assets,
// incidents, token lookups) in memory, so each polls the store for what the others
// wrote (the change feed), and each tracks the collectors that report to it so that
// only the replica that hears a collector expires that collector's devices. On the
// embedded store there is one writer, the process that embeds it: no feed runs.

// initFleet starts tracking collectors; the lease must exist (initIncidents).
func (s *Server) initFleet() {
	s.fleet = fleet.New(s.store.DB, fleet.Options{
		Replica: s.replica, Leader: s.lease, Registry: s.assets, Handler: s.incidents,
		Logger: s.log, Registerer: s.registry,
	})
	s.pipeline.fleet = s.fleet
	s.assets.SetOwnership(s.fleet.Owns)
	s.feedPolls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medcmdb_feed_polls_total", Help: "Change-feed polls of the store for other replicas' writes, by result.",
	}, []string{"result"})
	s.feedChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medcmdb_feed_changes_total", Help: "Records another replica wrote that the change feed brought into memory, by kind.",
	}, []string{"kind"})
	for _, r := range []string{"success", "failure"} {
		s.feedPolls.WithLabelValues(r)
	}
	for _, k := range []string{"asset", "incident"} {
		s.feedChanges.WithLabelValues(k)
	}
	s.registry.MustRegister(s.feedPolls, s.feedChanges)
}

// feedInterval is how often the change feed polls; 0 when it does not run.
func (s *Server) feedInterval() time.Duration {
	if s.store.Embedded || s.cfg.FeedInterval < 0 {
		return 0
	}
	if s.cfg.FeedInterval == 0 {
		return 2 * time.Second
	}
	return s.cfg.FeedInterval
}

// runReplicas starts the collector tracker and, on a shared store, the change feed.
func (s *Server) runReplicas(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { _ = s.fleet.Run(ctx) })
	every := s.feedInterval()
	if every == 0 {
		return
	}
	s.log.Info("change feed on: polling the shared store for other replicas' writes", "interval", every)
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		forget := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.pollFeed(ctx); err != nil {
				if ctx.Err() == nil {
					s.feedPolls.WithLabelValues("failure").Inc()
					s.log.Warn("change feed", "err", err)
				}
				continue
			}
			s.feedPolls.WithLabelValues("success").Inc()
			// The retention job prunes on one replica; the others drop the same
			// incidents from memory.
			if r := s.cfg.Policy.Retention.ResolvedIncidents; r > 0 && time.Since(forget) > time.Minute {
				forget = time.Now()
				s.incidents.ForgetResolved(forget.Add(-r))
			}
		}
	})
}

// pollFeed brings in one round of the other replicas' writes.
func (s *Server) pollFeed(ctx context.Context) error {
	outs, err := s.assets.Refresh(ctx)
	if err != nil {
		return err
	}
	s.feedChanges.WithLabelValues("asset").Add(float64(len(outs)))
	n, err := s.incidents.Refresh(ctx)
	if err != nil {
		return err
	}
	s.feedChanges.WithLabelValues("incident").Add(float64(n))
	s.tokens.Forget()
	if len(outs) > 0 {
		// The replica that wrote them reconciled them already; this one follows
		// too, so that holds and recoveries survive the writer's death. Dedup keys
		// keep one incident per (asset, condition) whichever replica gets there.
		if err := s.incidents.Handle(ctx, outs); err != nil {
			s.log.Warn("updating incidents after the change feed", "err", err)
		}
	}
	return nil
}
