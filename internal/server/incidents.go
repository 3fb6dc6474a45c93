package server

import (
	"context"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// initIncidents opens the incident engine with its outbox, delivery worker,
// maintenance windows and SLA job.
func (s *Server) initIncidents(ctx context.Context) error {
	log := s.log
	ist, err := incidents.OpenStore(ctx, s.store)
	if err != nil {
		return err
	}
	metrics := incidents.NewMetrics(s.registry)
	ob, err := incidents.OpenOutbox(ctx, s.store)
	if err != nil {
		return err
	}
	s.notifier = incidents.NewNotifier(ob, s.cfg.Policy, incidents.NotifierOptions{Logger: log, Metrics: metrics, UserAgent: "medcmdb/" + Version})
	maint, err := incidents.OpenMaintenance(ctx, s.store, nil)
	if err != nil {
		return err
	}
	s.incidents, err = incidents.NewEngine(ctx, ist, s.assets, incidents.EngineOptions{
		Policy: s.cfg.Policy, Logger: log, Sink: s.notifier, Maintenance: maint, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	s.jobs = incidents.NewJobs(log, metrics, incidents.NewLeases(s.store, nil))
	if err := s.jobs.Add("sla", s.cfg.Policy.SLACheck, 30*time.Second, s.incidents.CheckSLA); err != nil {
		return err
	}
	// Another replica may have created or cancelled windows.
	return s.jobs.Add("maintenance-reload", "@every 1m", 30*time.Second, maint.Reload)
}

// runIncidents starts the incident engine's background loops.
func (s *Server) runIncidents(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { _ = s.incidents.Run(ctx) })
	wg.Go(func() { _ = s.notifier.Run(ctx) })
	wg.Go(func() { _ = s.jobs.Run(ctx) })
}
