// Package replay re-runs incident policies over the recorded observation history,
// without touching live data: each policy gets a throwaway database on the same store,
// seeded with the live assets (their identity, class, location and relations, with no
// state), a real asset registry and a real incident engine on a simulated clock; the
// recorded batches are applied at the times the cmdb applied them. Comparing a
// baseline policy with a candidate says how many incidents each priority would have
// had, and which incidents would have changed priority and why.
package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/obslog"
	"github.com/medcmdb/medcmdb/internal/rogue"
	"github.com/medcmdb/medcmdb/internal/store"
)

// Options say what to replay.
type Options struct {
	// Live is the store holding the observation log and the assets; it is only read.
	Live *store.Store
	// Baseline is the policy in force (nil: the defaults); Candidate the one to try.
	Baseline, Candidate *incidents.Policy
	// From and To bound the reported history (zero To: up to now).
	From, To time.Time
	// WarmUp is history replayed before From to establish device state (what is
	// down, what is a free spare); incidents it opens are not reported.
	WarmUp time.Duration
	Logger *slog.Logger
	// Now is the wall clock (tests); it only bounds an open-ended To.
	Now func() time.Time
}

// Report is the outcome of a replay.
type Report struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Batches      int       `json:"batches"`
	Observations int       `json:"observations"`
	Assets       int       `json:"assets"`
	// Counts per priority, most urgent first.
	Counts []Count `json:"counts"`
	// Changed are incidents both policies open whose priority differs.
	Changed []Change `json:"changed"`
	// OnlyBaseline are incidents the candidate would not have opened (e.g. a longer
	// hold), OnlyCandidate those it alone would have opened.
	OnlyBaseline  []Incident `json:"onlyBaseline"`
	OnlyCandidate []Incident `json:"onlyCandidate"`
	// Unchanged counts incidents both open with the same priority.
	Unchanged int `json:"unchanged"`
}

// Count is the number of incidents of one priority: recorded live in the window, and
// opened by each replayed policy.
type Count struct {
	Priority  incidents.Priority `json:"priority"`
	Live      int                `json:"live"`
	Baseline  int                `json:"baseline"`
	Candidate int                `json:"candidate"`
}

// Delta is Candidate - Baseline.
func (c Count) Delta() int { return c.Candidate - c.Baseline }

// Incident is a replayed incident.
type Incident struct {
	AssetID    string             `json:"assetId"`
	AssetName  string             `json:"assetName"`
	Class      string             `json:"class"`
	CareArea   string             `json:"careArea,omitempty"`
	Condition  string             `json:"condition"`
	OpenedAt   time.Time          `json:"openedAt"`
	ResolvedAt *time.Time         `json:"resolvedAt,omitempty"`
	Priority   incidents.Priority `json:"priority"`
	Reason     string             `json:"reason"`
	Suppressed bool               `json:"suppressed,omitempty"`
	Flapping   bool               `json:"flapping,omitempty"`
	// device pairs the incidents of both runs: the asset id when the asset was seeded
	// from the live registry (the same in both), its name when the replay created it.
	device string
}

// Change is one incident whose priority differs between the policies.
type Change struct {
	Baseline  Incident `json:"baseline"`
	Candidate Incident `json:"candidate"`
	// Why lists the weighting factors of the candidate that the baseline did not have.
	Why []string `json:"why"`
}

// Run replays the history under both policies and compares them.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Live == nil || o.Candidate == nil {
		return nil, errors.New("replay: a live store and a candidate policy are required")
	}
	if o.Baseline == nil {
		o.Baseline = incidents.DefaultPolicy()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.To.IsZero() {
		o.To = o.Now()
	}
	if !o.From.Before(o.To) {
		return nil, fmt.Errorf("replay: empty window %s .. %s", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	snapshot, err := loadAssets(ctx, o.Live)
	if err != nil {
		return nil, err
	}
	allow, err := rogue.LoadEntries(ctx, o.Live.DB)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: o.From, To: o.To, Assets: len(snapshot)}
	log := obslog.Open(o.Live.DB, o.Logger)
	var runs [2]*run
	for i, p := range []*incidents.Policy{o.Baseline, o.Candidate} {
		r, err := replayOne(ctx, o, log, snapshot, allow, p)
		if err != nil {
			return nil, err
		}
		runs[i] = r
	}
	rep.Batches, rep.Observations = runs[0].batches, runs[0].observations
	live, err := liveCounts(ctx, o.Live, o.From, o.To)
	if err != nil {
		return nil, err
	}
	compare(rep, runs[0].incidents, runs[1].incidents, live)
	return rep, nil
}

// loadAssets reads the live assets without starting a registry (which would compact
// the live store).
func loadAssets(ctx context.Context, live *store.Store) ([]*assets.Asset, error) {
	st, err := assets.OpenStore(ctx, live)
	if err != nil {
		return nil, err
	}
	list, err := st.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	return list, nil
}

// liveCounts counts the incidents the live engine opened in the window.
func liveCounts(ctx context.Context, live *store.Store, from, to time.Time) (map[incidents.Priority]int, error) {
	st, err := incidents.OpenStore(ctx, live)
	if err != nil {
		return nil, err
	}
	all, err := st.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	out := map[incidents.Priority]int{}
	for _, i := range all {
		if !i.OpenedAt.Before(from) && i.OpenedAt.Before(to) {
			out[i.Priority]++
		}
	}
	return out, nil
}

// run is the result of replaying one policy.
type run struct {
	incidents    []Incident
	batches      int
	observations int
}

// clock is the simulated time of one replay.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// replayOne replays the log under one policy on a scratch database.
func replayOne(ctx context.Context, o Options, log *obslog.Log, snapshot []*assets.Asset, allow []*rogue.Entry, p *incidents.Policy) (*run, error) {
	scratch, drop, err := scratchStore(ctx, o.Live)
	if err != nil {
		return nil, err
	}
	defer drop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := o.From.Add(-o.WarmUp)
	clk := &clock{t: start}
	ast, err := assets.OpenStore(ctx, scratch)
	if err != nil {
		return nil, err
	}
	if err := seed(ctx, ast, snapshot); err != nil {
		return nil, err
	}
	reg, err := assets.NewService(ctx, ast, assets.Options{Logger: quiet, Now: clk.now, Conditions: p.Conditions()})
	if err != nil {
		return nil, err
	}
	det, err := rogue.Open(ctx, rogue.Options{Policy: p, Logger: quiet, Now: clk.now, Entries: allow})
	if err != nil {
		return nil, err
	}
	ist, err := incidents.OpenStore(ctx, scratch)
	if err != nil {
		return nil, err
	}
	eng, err := incidents.NewEngine(ctx, ist, det.Source(reg), incidents.EngineOptions{Policy: p, Logger: quiet, Now: clk.now})
	if err != nil {
		return nil, err
	}
	d := newDriver(eng, clk, p)
	r := &run{}
	err = log.Read(ctx, start, o.To, func(b *obslog.Batch) error {
		if err := d.advance(ctx, b.At); err != nil {
			return err
		}
		outs, err := reg.Apply(ctx, b.Observations, "replay")
		if err != nil {
			return fmt.Errorf("replaying batch %s of %s: %w", b.ID, b.At.Format(time.RFC3339), err)
		}
		if err := det.Observe(ctx, outs); err != nil {
			return err
		}
		if err := eng.Handle(ctx, outs); err != nil {
			return fmt.Errorf("replaying batch %s: %w", b.ID, err)
		}
		d.touched(b.At)
		if !b.At.Before(o.From) {
			r.batches++
			r.observations += len(b.Observations)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.advance(ctx, o.To); err != nil {
		return nil, err
	}
	seeded := make(map[string]bool, len(snapshot))
	for _, a := range snapshot {
		seeded[a.ID] = true
	}
	list, _ := eng.List(incidents.Filter{}, 0, 1<<31-1)
	for k := len(list) - 1; k >= 0; k-- { // oldest first
		i := list[k]
		if i.OpenedAt.Before(o.From) {
			continue // opened during the warm-up
		}
		name := i.AssetID
		if a, ok := reg.Get(i.AssetID); ok && a.Name != "" {
			name = a.Name
		}
		device := i.AssetID
		if !seeded[i.AssetID] {
			device = "new:" + name
		}
		r.incidents = append(r.incidents, Incident{AssetID: i.AssetID, AssetName: name, Class: i.Class, CareArea: i.CareArea,
			Condition: i.Condition, OpenedAt: i.OpenedAt, ResolvedAt: i.ResolvedAt, Priority: i.Priority,
			Reason: i.PriorityReason, Suppressed: i.Suppressed, Flapping: i.Flapping, device: device})
	}
	return r, nil
}

// scratchStore is a new, empty database on the live store's connection, dropped after.
func scratchStore(ctx context.Context, live *store.Store) (*store.Store, func(), error) {
	b := make([]byte, 4)
	rand.Read(b)
	name := live.DB.Name()
	if len(name) > 40 {
		name = name[:40]
	}
	s := *live
	s.DB = live.Client.Database(name + "_replay_" + hex.EncodeToString(b))
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = s.DB.Drop(dctx)
	}
	return &s, drop, nil
}

// seed writes the live assets, without their state, to the scratch registry: the
// replay starts from operational devices (they count as free spares) and lets the
// history say what failed.
func seed(ctx context.Context, st *assets.Store, snapshot []*assets.Asset) error {
	list := make([]*assets.Asset, 0, len(snapshot))
	for _, a := range snapshot {
		c := a.Clone()
		c.Channels = nil
		c.Status = assets.StatusOperational
		if a.Status == assets.StatusRetired {
			c.Status = assets.StatusRetired
		}
		c.PatientConnected = false
		c.Version = 1
		list = append(list, c)
	}
	for len(list) > 0 {
		n := min(len(list), 500)
		if err := st.InsertMany(ctx, list[:n]); err != nil {
			return fmt.Errorf("seeding the replay: %w", err)
		}
		list = list[n:]
	}
	return nil
}

// compare pairs the incidents of both runs by (asset, condition) and overlapping time.
func compare(rep *Report, base, cand []Incident, live map[incidents.Priority]int) {
	counts := map[incidents.Priority]*Count{}
	for _, p := range incidents.Priorities {
		rep.Counts = append(rep.Counts, Count{Priority: p, Live: live[p]})
	}
	for i := range rep.Counts {
		counts[rep.Counts[i].Priority] = &rep.Counts[i]
	}
	for _, i := range base {
		if c := counts[i.Priority]; c != nil {
			c.Baseline++
		}
	}
	for _, i := range cand {
		if c := counts[i.Priority]; c != nil {
			c.Candidate++
		}
	}
	type key struct{ asset, cond string }
	group := func(list []Incident) (map[key][]Incident, []key) {
		m := map[key][]Incident{}
		var keys []key
		for _, i := range list {
			k := key{i.device, i.Condition}
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
			m[k] = append(m[k], i)
		}
		return m, keys
	}
	bm, bkeys := group(base)
	cm, ckeys := group(cand)
	for _, k := range ckeys {
		if _, ok := bm[k]; !ok {
			bkeys = append(bkeys, k)
		}
	}
	for _, k := range bkeys {
		b, c := bm[k], cm[k]
		for len(b) > 0 || len(c) > 0 {
			switch {
			case len(c) == 0 || (len(b) > 0 && ends(b[0]).Before(c[0].OpenedAt)):
				rep.OnlyBaseline = append(rep.OnlyBaseline, b[0])
				b = b[1:]
			case len(b) == 0 || ends(c[0]).Before(b[0].OpenedAt):
				rep.OnlyCandidate = append(rep.OnlyCandidate, c[0])
				c = c[1:]
			default: // overlapping: the same failure
				if b[0].Priority != c[0].Priority {
					rep.Changed = append(rep.Changed, Change{Baseline: b[0], Candidate: c[0], Why: why(b[0].Reason, c[0].Reason)})
				} else {
					rep.Unchanged++
				}
				b, c = b[1:], c[1:]
			}
		}
	}
	byTime := func(a, b Incident) int { return a.OpenedAt.Compare(b.OpenedAt) }
	slices.SortStableFunc(rep.OnlyBaseline, byTime)
	slices.SortStableFunc(rep.OnlyCandidate, byTime)
	slices.SortStableFunc(rep.Changed, func(a, b Change) int { return byTime(a.Baseline, b.Baseline) })
}

// ends is when an incident stopped standing for its failure (open: never).
func ends(i Incident) time.Time {
	if i.ResolvedAt == nil {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return *i.ResolvedAt
}
