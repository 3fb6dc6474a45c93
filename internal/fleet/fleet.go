// Package fleet tracks the collectors by their reports (DESIGN §3): which collectors
// report, to which cmdb replica, and until when their observations hold. From that it
// tells the expiry which collectors' channels this replica may expire, and it marks
// the record of a collector that stopped reporting for longer than the validity of
// its observations as silent (condition collector.silent), which the incident engine
// turns into an incident like any failed device.
//
// Each replica knows the collectors that report to it, in memory. What the others
// need is shared through one small document per collector in the store (collection
// "collectors"), written when the validity it records has moved on by a quarter of
// the collector's validity span: a few writes a minute per collector, whatever the
// number of devices.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// Leader says whether this replica runs the singleton duties now.
type Leader interface {
	Leading() bool
}

// Registry is what the tracker needs of the asset registry.
type Registry interface {
	CollectorSilent(name string) (silent, known bool)
	SetCollectorState(ctx context.Context, name, site string, silent bool, at time.Time) (assets.Outcome, error)
}

// Handler takes the outcomes of collector state changes (the incident engine).
type Handler interface {
	Handle(ctx context.Context, outs []assets.Outcome) error
}

// Record is the shared state of one collector.
type Record struct {
	Name         string    `bson:"_id"`
	Site         string    `bson:"site,omitempty"`
	LastReportAt time.Time `bson:"lastReportAt"`
	// ValidUntil is when the observations of its latest report run out, as last
	// written: up to a quarter span behind what the replica hearing it knows.
	ValidUntil time.Time `bson:"validUntil"`
	// Span is the validity span of its reports.
	Span time.Duration `bson:"span"`
	// Replica is the replica that wrote the record last.
	Replica string `bson:"replica,omitempty"`
}

// Options configure a tracker.
type Options struct {
	// Replica names this process (as in leases and job records).
	Replica  string
	Leader   Leader
	Registry Registry
	Handler  Handler
	Logger   *slog.Logger
	Now      func() time.Time
	// Interval is how often records are written, read and judged (default 1s).
	Interval time.Duration
	// Grace is how long past the validity of its last report (and the lag of its
	// shared record) a collector may stay quiet before it is silent (default 2
	// intervals): it absorbs the time between rounds of the trackers.
	Grace      time.Duration
	Registerer prometheus.Registerer
}

// Tracker follows the collectors for one replica.
type Tracker struct {
	col *mongo.Collection
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	local  map[string]*heard
	shared map[string]Record

	reporting, silent prometheus.Gauge
	lastReport        *prometheus.GaugeVec
}

// heard is what this replica heard from one collector.
type heard struct {
	site  string
	last  time.Time     // last report received here
	until time.Time     // validity of the reports received here
	since time.Time     // start of the current run of reports to this replica
	span  time.Duration // validity span of the latest report
	wrote time.Time     // the validUntil this replica last wrote to the shared record
}

// New returns a tracker over the store's "collectors" collection.
func New(db *mongo.Database, o Options) *Tracker {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 2 * o.Interval
	}
	t := &Tracker{
		col: db.Collection("collectors"), o: o, log: o.Logger.With("component", "fleet"),
		local: map[string]*heard{}, shared: map[string]Record{},
		reporting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcmdb_collectors_reporting", Help: "Collectors whose observations are still valid (any replica heard them).",
		}),
		silent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcmdb_collectors_silent", Help: "Collectors silent for longer than the validity of their last report.",
		}),
		lastReport: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medcmdb_collector_last_report_timestamp_seconds", Help: "When each collector last reported (to any replica).",
		}, []string{"collector"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(t.reporting, t.silent, t.lastReport)
	}
	return t
}

// Seen records a report from a collector received now, whose observations hold for
// span. Reports are the only sign of life a collector gives.
func (t *Tracker) Seen(name, site string, span time.Duration) {
	if name == "" {
		return
	}
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.local[name]
	if h == nil {
		h = &heard{since: now}
		t.local[name] = h
	} else if !now.Before(h.until) {
		h.since = now // back after a silence, or moved here from another replica
	}
	if site != "" {
		h.site = site
	}
	h.last, h.span = now, span
	if u := now.Add(span); u.After(h.until) {
		h.until = u
	}
}

// Owns reports whether this replica may expire the channels of a collector. The
// replica a collector reports to knows how fresh its channels are, once it has heard
// it for a whole validity span (a collector that moved here refreshes every device it
// watches within that time). A collector nobody hears any more belongs to the leader.
func (t *Tracker) Owns(collector string) bool {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.local[collector]; h != nil && now.Before(h.until) {
		return now.Sub(h.since) >= h.span
	}
	if !t.o.Leader.Leading() {
		return false
	}
	r, ok := t.shared[collector]
	return !ok || !now.Before(t.silentAt(r))
}

// lag is how far the shared record of a collector may trail what the replica hearing
// it knows: it is written when its validity moved on by that much.
func (t *Tracker) lag(span time.Duration) time.Duration { return max(span/4, t.o.Interval) }

// silentAt is when a collector whose shared record is r counts as silent: past the
// validity of its last report, allowing for the record's lag and the grace.
func (t *Tracker) silentAt(r Record) time.Time {
	return r.ValidUntil.Add(t.lag(r.Span) + t.o.Grace)
}

// Run writes, reads and judges the collectors every interval until ctx ends.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(t.o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := t.Step(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("tracking collectors", "err", err)
			}
		}
	}
}

// Step runs one round: write what this replica heard, read what every replica
// heard, and on the leader judge which collectors are silent.
func (t *Tracker) Step(ctx context.Context) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := t.load(ctx); err != nil {
		return err
	}
	if !t.o.Leader.Leading() {
		return nil
	}
	return t.judge(ctx)
}

// flush writes the records whose validity moved on by a quarter span (at least one
// interval) since this replica last wrote them. $max keeps two replicas hearing the
// same collector from moving the record back.
func (t *Tracker) flush(ctx context.Context) error {
	type write struct {
		name string
		h    heard
	}
	var due []write
	t.mu.Lock()
	for name, h := range t.local {
		if h.until.Sub(h.wrote) >= t.lag(h.span) {
			due = append(due, write{name, *h})
		}
	}
	t.mu.Unlock()
	var errs []error
	for _, w := range due {
		set := bson.M{"replica": t.o.Replica, "span": w.h.span}
		if w.h.site != "" {
			set["site"] = w.h.site
		}
		_, err := t.col.UpdateOne(ctx, bson.M{"_id": w.name},
			bson.M{"$max": bson.M{"validUntil": w.h.until, "lastReportAt": w.h.last}, "$set": set},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			errs = append(errs, fmt.Errorf("recording collector %s: %w", w.name, err))
			continue
		}
		t.mu.Lock()
		if h := t.local[w.name]; h != nil {
			h.wrote = w.h.until
		}
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}

// load reads every collector's shared record (one document per collector).
func (t *Tracker) load(ctx context.Context) error {
	cur, err := t.col.Find(ctx, bson.M{})
	if err != nil {
		return fmt.Errorf("reading collectors: %w", err)
	}
	var list []Record
	if err := cur.All(ctx, &list); err != nil {
		return fmt.Errorf("reading collectors: %w", err)
	}
	now := t.o.Now()
	reporting := 0
	m := make(map[string]Record, len(list))
	for _, r := range list {
		m[r.Name] = r
		if now.Before(t.silentAt(r)) {
			reporting++
		}
		t.lastReport.WithLabelValues(r.Name).Set(float64(r.LastReportAt.Unix()))
	}
	t.mu.Lock()
	t.shared = m
	t.mu.Unlock()
	t.reporting.Set(float64(reporting))
	t.silent.Set(float64(len(list) - reporting))
	return nil
}

// Records returns the shared records as last read, for tests and the operator.
func (t *Tracker) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, len(t.shared))
	for _, r := range t.shared {
		out = append(out, r)
	}
	return out
}

// judge brings every collector's record in step with its reports: created on first
// sight, silent once its last report ran out, heard again when it reports (leader).
func (t *Tracker) judge(ctx context.Context) error {
	now := t.o.Now()
	t.mu.Lock()
	list := make([]Record, 0, len(t.shared))
	for _, r := range t.shared {
		list = append(list, r)
	}
	t.mu.Unlock()
	var errs []error
	var outs []assets.Outcome
	for _, r := range list {
		silent := !now.Before(t.silentAt(r))
		if cur, known := t.o.Registry.CollectorSilent(r.Name); known && cur == silent {
			continue
		}
		out, err := t.o.Registry.SetCollectorState(ctx, r.Name, r.Site, silent, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out.Duplicate {
			continue
		}
		if silent {
			t.log.Warn("collector silent", "collector", r.Name, "site", r.Site, "last_report", r.LastReportAt, "valid_until", r.ValidUntil)
		} else {
			t.log.Info("collector reporting", "collector", r.Name, "site", r.Site)
		}
		outs = append(outs, out)
	}
	if len(outs) > 0 && t.o.Handler != nil {
		errs = append(errs, t.o.Handler.Handle(ctx, outs))
	}
	return errors.Join(errs...)
}
