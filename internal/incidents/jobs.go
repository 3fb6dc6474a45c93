package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// Jobs runs wall-clock jobs on robfig/cron: each run is recovered from panics, skipped
// while the previous one still runs, bounded by a timeout derived from Run's context,
// and, when several cmdb replicas share the store, run by the one holding its lease.
type Jobs struct {
	cron    *cron.Cron
	log     *slog.Logger
	metrics *Metrics
	leases  *Leases
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewJobs returns an empty scheduler; leases may be nil (a single replica).
func NewJobs(log *slog.Logger, m *Metrics, leases *Leases) *Jobs {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	log = log.With("component", "jobs")
	cl := cronLogger{log}
	ctx, cancel := context.WithCancel(context.Background())
	return &Jobs{
		// Recover inside SkipIfStillRunning: robfig's skip wrapper returns its token
		// without a defer, so a panic escaping through it would skip the job for ever.
		cron: cron.New(cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl))),
		log:  log, metrics: m, leases: leases, ctx: ctx, cancel: cancel,
	}
}

// Add schedules fn under name; schedule is robfig/cron syntax ("@every 15s", "*/5 * * * *").
func (j *Jobs) Add(name, schedule string, timeout time.Duration, fn func(context.Context) error) error {
	j.metrics.lastSuccess.WithLabelValues(name)
	j.metrics.jobErrors.WithLabelValues(name)
	_, err := j.cron.AddFunc(schedule, func() { j.runOnce(name, timeout, fn) })
	if err != nil {
		return fmt.Errorf("job %s: schedule %q: %w", name, schedule, err)
	}
	return nil
}

func (j *Jobs) runOnce(name string, timeout time.Duration, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(j.ctx, timeout)
	defer cancel()
	if j.leases != nil {
		ok, err := j.leases.Acquire(ctx, name, 2*timeout)
		if err != nil {
			j.metrics.jobErrors.WithLabelValues(name).Inc()
			j.log.Warn("job lease", "job", name, "err", err)
			return
		}
		if !ok {
			return // another replica runs it
		}
	}
	start := time.Now()
	if err := fn(ctx); err != nil {
		j.metrics.jobErrors.WithLabelValues(name).Inc()
		if j.ctx.Err() == nil {
			j.log.Warn("job failed", "job", name, "took", time.Since(start).Round(time.Millisecond), "err", err)
		}
		return
	}
	j.metrics.lastSuccess.WithLabelValues(name).SetToCurrentTime()
}

// Run starts the scheduler and stops it when ctx ends, waiting for running jobs
// (which see their context cancelled).
func (j *Jobs) Run(ctx context.Context) error {
	j.cron.Start()
	<-ctx.Done()
	j.cancel()
	<-j.cron.Stop().Done()
	return nil
}

// cronLogger adapts slog to cron's logger interface.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// Leases elect which replica runs a job: a document per job, taken by whoever finds
// it expired or already holds it. The unique _id makes the take atomic.
type Leases struct {
	col   *mongo.Collection
	owner string
	now   func() time.Time
}

// NewLeases returns the lease keeper of this process.
func NewLeases(s *store.Store, now func() time.Time) *Leases {
	if now == nil {
		now = time.Now
	}
	b := make([]byte, 6)
	rand.Read(b)
	return &Leases{col: s.DB.Collection("leases"), owner: hex.EncodeToString(b), now: now}
}

// Acquire takes or renews the lease of job for ttl; false means another holds it.
func (l *Leases) Acquire(ctx context.Context, job string, ttl time.Duration) (bool, error) {
	now := l.now()
	filter := bson.M{"_id": job, "$or": bson.A{bson.M{"owner": l.owner}, bson.M{"until": bson.M{"$lt": now}}}}
	_, err := l.col.UpdateOne(ctx, filter, bson.M{"$set": bson.M{"owner": l.owner, "until": now.Add(ttl)}},
		options.UpdateOne().SetUpsert(true))
	if store.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", job, err)
	}
	return true, nil
}
