package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Collector owns one site's wire: it sweeps ranges on a schedule, polls what it found
// and reports observations to the cmdb. It keeps no state but its queue.
type Collector struct {
	cfg      *Config
	log      *slog.Logger
	metrics  *collectorMetrics
	reporter *Reporter
	poller   *Poller
	sweeper  *Sweeper
	traps    *TrapListener // nil without traps.listen
	ids      *assetIDs     // asset id per device, from the cmdb's answers
	hl7      *HL7Listener  // nil unless hl7.listen is set
}

// Options are the collaborators a collector is built with.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Sender overrides the HTTP client to the cmdb (tests, in-process demo).
	Sender Sender
	// QueueSize bounds the in-memory observation queue.
	QueueSize int
}

// New builds a collector from a validated configuration.
func New(cfg *Config, opts Options) (*Collector, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("collector", cfg.Name, "site", cfg.Site)
	m := newCollectorMetrics(opts.Registerer)
	ids := &assetIDs{m: map[string]string{}}
	send := opts.Sender
	if send == nil {
		c, err := NewCMDBClient(cfg.CMDB, cfg.Name)
		if err != nil {
			return nil, err
		}
		c.OnAssigned = ids.learn
		send = c
	}
	qs := opts.QueueSize
	if qs <= 0 {
		qs = 1_000_000
	}
	obsIDs := observation.NewIDs(cfg.Name)
	rep := newReporter(send, cfg.CMDB.BatchSize, cfg.CMDB.FlushInterval, qs, m, log)
	if cfg.SpoolDir != "" {
		sp, err := OpenSpool(cfg.SpoolDir, int64(cfg.SpoolMaxMB)<<20)
		if err != nil {
			return nil, err
		}
		rep.spool = sp
		if n := sp.Len(); n > 0 {
			log.Info("replaying spooled observations", "count", n, "dir", cfg.SpoolDir)
		}
	}
	p := newPoller(cfg, obsIDs, rep, m, log)
	c := &Collector{
		cfg: cfg, log: log, metrics: m, reporter: rep, poller: p, ids: ids,
		sweeper: newSweeper(cfg, p, m, log),
	}
	if err := c.attach(opts, obsIDs); err != nil {
		c.release()
		return nil, err
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(newDeviceUp(c))
	}
	return c, nil
}

// attach loads the fingerprint profiles and binds the trap and HL7 listeners.
func (c *Collector) attach(opts Options, obsIDs *observation.IDs) error {
	profiles, err := LoadProfiles(c.cfg.SNMP.Profiles.Dir)
	if err != nil {
		return err
	}
	c.poller.SetProfiles(profiles)
	if c.cfg.Traps.Listen != "" {
		if c.traps, err = newTrapListener(c.cfg, c.poller, c.reporter, obsIDs, c.metrics, c.log); err != nil {
			return err
		}
	}
	if c.cfg.HL7.Listen != "" {
		l, err := NewHL7Listener(c.cfg, c.reporter, HL7Options{Logger: c.log, Registerer: opts.Registerer})
		if err != nil {
			return err
		}
		c.hl7 = l
	}
	return nil
}

// release frees what New acquired when New fails half-way: sockets and the spool.
func (c *Collector) release() {
	if c.traps != nil {
		_ = c.traps.conn.Close()
	}
	if c.reporter.spool != nil {
		_ = c.reporter.spool.Close()
	}
}

// Traps exposes the trap listener (nil when traps.listen is empty).
func (c *Collector) Traps() *TrapListener { return c.traps }

// Sweeper exposes the sweeper (for tests and benchmarks).
func (c *Collector) Sweeper() *Sweeper { return c.sweeper }

// HL7 returns the HL7 listener, or nil when hl7.listen is not set.
func (c *Collector) HL7() *HL7Listener { return c.hl7 }

// Poller exposes the poller (for tests and benchmarks).
func (c *Collector) Poller() *Poller { return c.poller }

// Reporter exposes the reporter (for tests and benchmarks).
func (c *Collector) Reporter() *Reporter { return c.reporter }

// Run runs every part of the collector until ctx ends. A sweep runs at start and then
// on the discovery schedule.
func (c *Collector) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		})
	}
	// The reporter outlives the others by its own final flush: it stops on ctx too.
	run("reporter", c.reporter.Run)
	run("poller", c.poller.Run)
	if c.traps != nil {
		run("traps", c.traps.Run)
	}
	if c.hl7 != nil {
		run("hl7", c.hl7.Run)
	}

	// Recover inside SkipIfStillRunning: robfig's skip wrapper hands its token back
	// without a defer, so a panic escaping through it would skip sweeps for ever.
	sched := cron.New(cron.WithChain(cron.SkipIfStillRunning(cronLogger{c.log}), cron.Recover(cronLogger{c.log})))
	if _, err := sched.AddFunc(c.cfg.SNMP.DiscoverySchedule, func() { c.sweeper.Sweep(ctx) }); err != nil {
		return fmt.Errorf("discovery_schedule: %w", err)
	}
	wg.Go(func() { c.sweeper.Sweep(ctx) })
	sched.Start()
	c.log.Info("collector started", "ranges", len(c.cfg.SNMP.Ranges), "targets", len(c.cfg.SNMP.Targets),
		"poll_interval", c.cfg.SNMP.PollInterval, "cmdb", c.cfg.CMDB.URL)

	<-ctx.Done()
	stopped := sched.Stop()
	select {
	case <-stopped.Done():
	case <-time.After(5 * time.Second):
	}
	wg.Wait()
	close(errc)
	return errors.Join(collect(errc)...)
}

func collect(c <-chan error) []error {
	var out []error
	for err := range c {
		out = append(out, err)
	}
	return out
}

// cronLogger adapts slog to cron's logger interface.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
