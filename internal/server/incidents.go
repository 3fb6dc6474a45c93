package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/lease"
	"github.com/medcmdb/medcmdb/internal/schedule"
)

// initIncidents opens the incident engine with its outbox, delivery worker and
// maintenance windows, and the scheduled jobs that run on one replica at a time.
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
	s.maint, err = incidents.OpenMaintenance(ctx, s.store, nil)
	if err != nil {
		return err
	}
	s.incidents, err = incidents.NewEngine(ctx, ist, s.engineAssets(), incidents.EngineOptions{
		Policy: s.cfg.Policy, Logger: log, Sink: s.notifier, Maintenance: s.maint, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	s.replica = replicaID()
	s.lease = lease.New(s.store.DB, "scheduler", s.replica, lease.Options{TTL: s.cfg.Policy.LeaseTTL, Logger: log})
	s.jobs = schedule.New(s.store.DB, s.lease, s.replica, s.registry, log)
	if err := s.jobs.Add(schedule.Job{Name: "sla", Spec: s.cfg.Policy.SLACheck, Timeout: 30 * time.Second, Run: s.incidents.CheckSLA}); err != nil {
		return err
	}
	return s.jobs.Add(schedule.Job{Name: "retention", Spec: s.cfg.Policy.Retention.Schedule, Timeout: 5 * time.Minute, Run: s.retention})
}

// runIncidents starts the incident engine's background loops.
func (s *Server) runIncidents(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { _ = s.incidents.Run(ctx) })
	wg.Go(func() { _ = s.notifier.Run(ctx) })
	wg.Go(func() { _ = s.lease.Run(ctx) })
	wg.Go(func() { _ = s.jobs.Run(ctx) })
	// Every replica refreshes its own copy of the maintenance windows, which another
	// replica may have created or cancelled: not a singleton job.
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.maint.Reload(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reloading maintenance windows", "err", err)
				}
			}
		}
	})
}

// retention removes what the policy says is old enough: resolved incidents, audit
// entries, days of the observation log, event entries of asset history and job run
// records. The rest of asset history is kept for ever.
func (s *Server) retention(ctx context.Context) error {
	r := s.cfg.Policy.Retention
	now := time.Now()
	if r.ResolvedIncidents > 0 {
		n, err := s.incidents.Prune(ctx, now.Add(-r.ResolvedIncidents))
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("retention removed resolved incidents", "count", n, "older_than", r.ResolvedIncidents)
		}
	}
	if r.Audit > 0 {
		if _, err := s.audit.DeleteBefore(ctx, now.Add(-r.Audit)); err != nil {
			return err
		}
	}
	if err := s.pruneObservations(ctx, now); err != nil {
		return err
	}
	if d := r.AssetEvents; d > 0 {
		// Slack: an asset is rewritten once its oldest event is a tenth of the
		// retention past it, not every hour (assets/retention.go).
		if _, err := s.assets.PruneEvents(ctx, now.Add(-d), d/10); err != nil {
			return err
		}
	}
	if r.JobRuns > 0 {
		if _, err := s.store.DB.Collection("job_runs").DeleteMany(ctx, bson.M{"tick": bson.M{"$lt": now.Add(-r.JobRuns)}}); err != nil {
			return fmt.Errorf("removing old job runs: %w", err)
		}
	}
	return nil
}

// replicaID names this process in leases and job records.
func replicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}
