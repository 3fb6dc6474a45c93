// Package schedule runs the cmdb's wall-clock jobs (SLA checks, escalation, retention)
// on robfig/cron, on exactly one replica at a time: a job runs only while this replica
// holds the scheduler lease, and each tick is claimed in the store so that it runs once
// even while the lease changes hands.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Leader says whether this replica may run jobs now.
type Leader interface {
	Leading() bool
}

// Job is one scheduled job.
type Job struct {
	Name string
	// Spec is a cron expression with seconds ("0 * * * * *") or a descriptor ("@hourly").
	// Standard specs fire at the same wall-clock second on every replica, which is what
	// makes a tick identifiable across replicas.
	Spec    string
	Timeout time.Duration
	Run     func(ctx context.Context) error
}

// Scheduler runs jobs.
type Scheduler struct {
	db     *mongo.Database
	leader Leader
	holder string
	log    *slog.Logger
	cron   *cron.Cron
	parser cron.Parser
	now    func() time.Time
	ctx    context.Context
	ctxMu  sync.Mutex
	lastOK *prometheus.GaugeVec
	runs   *prometheus.CounterVec
}

// New returns a scheduler; holder names this replica in the run records.
func New(db *mongo.Database, leader Leader, holder string, reg prometheus.Registerer, log *slog.Logger) *Scheduler {
	s := &Scheduler{
		db: db, leader: leader, holder: holder, log: log.With("component", "scheduler"), now: time.Now,
		parser: cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medcmdb_job_last_success_timestamp_seconds", Help: "When each scheduled job last succeeded on this replica.",
		}, []string{"job"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_job_runs_total", Help: "Scheduled job runs on this replica by result (success, failure, skipped).",
		}, []string{"job", "result"}),
	}
	if reg != nil {
		reg.MustRegister(s.lastOK, s.runs)
	}
	// Recover inside SkipIfStillRunning: robfig's skip wrapper hands its token back
	// without a defer, so a panic escaping through it would skip the job for ever.
	s.cron = cron.New(cron.WithParser(s.parser), cron.WithChain(cron.SkipIfStillRunning(cronLogger{s.log}), cron.Recover(cronLogger{s.log})))
	return s
}

// Add registers a job; call before Run.
func (s *Scheduler) Add(j Job) error {
	if _, err := s.parser.Parse(j.Spec); err != nil {
		return fmt.Errorf("job %s: schedule %q: %w", j.Name, j.Spec, err)
	}
	if j.Timeout <= 0 {
		j.Timeout = time.Minute
	}
	for _, r := range []string{"success", "failure", "skipped"} {
		s.runs.WithLabelValues(j.Name, r)
	}
	s.lastOK.WithLabelValues(j.Name)
	_, err := s.cron.AddFunc(j.Spec, func() { s.fire(j) })
	return err
}

// Run starts the cron until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.ctxMu.Lock()
	s.ctx = ctx
	s.ctxMu.Unlock()
	s.cron.Start()
	<-ctx.Done()
	stop := s.cron.Stop()
	select {
	case <-stop.Done():
	case <-time.After(10 * time.Second):
	}
	return nil
}

// fire runs one tick of a job if this replica leads and nobody ran the tick yet.
func (s *Scheduler) fire(j Job) {
	s.ctxMu.Lock()
	root := s.ctx
	s.ctxMu.Unlock()
	if root == nil || root.Err() != nil {
		return
	}
	if !s.leader.Leading() {
		s.runs.WithLabelValues(j.Name, "skipped").Inc()
		return
	}
	tick := s.now().Truncate(time.Second)
	ctx, cancel := context.WithTimeout(root, j.Timeout)
	defer cancel()
	id := j.Name + "@" + tick.UTC().Format(time.RFC3339)
	_, err := s.db.Collection("job_runs").InsertOne(ctx, bson.M{"_id": id, "job": j.Name, "tick": tick, "holder": s.holder})
	if mongo.IsDuplicateKeyError(err) {
		s.runs.WithLabelValues(j.Name, "skipped").Inc()
		return
	}
	if err != nil {
		s.runs.WithLabelValues(j.Name, "failure").Inc()
		s.log.Warn("claiming job tick", "job", j.Name, "err", err)
		return
	}
	start := time.Now()
	if err := j.Run(ctx); err != nil {
		s.runs.WithLabelValues(j.Name, "failure").Inc()
		s.log.Warn("job failed", "job", j.Name, "elapsed", time.Since(start), "err", err)
		return
	}
	s.runs.WithLabelValues(j.Name, "success").Inc()
	s.lastOK.WithLabelValues(j.Name).SetToCurrentTime()
	s.log.Debug("job done", "job", j.Name, "elapsed", time.Since(start))
}

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
