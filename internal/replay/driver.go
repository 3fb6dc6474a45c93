package replay

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// driver moves the simulated clock of one replay and runs the engine's time-based
// transitions as the live cmdb does: Tick every second, ReconcileAll on the policy's
// interval. Every deadline the engine keeps (holds, recovery holds, flap stability,
// reopen window, correlation wait) starts at an applied batch and lasts at most the
// horizon, so after the horizon the clock may jump to the next batch without skipping
// anything; a week of history replays in seconds, not in a week.
type driver struct {
	eng      *incidents.Engine
	clk      *clock
	horizon  time.Duration
	full     time.Duration
	busy     time.Time // tick every second until then
	nextFull time.Time
}

func newDriver(eng *incidents.Engine, clk *clock, p *incidents.Policy) *driver {
	maxOf := func(pc incidents.PerClass) time.Duration {
		m := pc.Default
		for _, d := range pc.Classes {
			m = max(m, d)
		}
		return m
	}
	h := maxOf(p.Hold) + max(maxOf(p.RecoveryHold), p.Flap.Stable) + p.ReopenWindow + 2*p.Correlation.Wait + p.Reconcile + 2*time.Second
	return &driver{eng: eng, clk: clk, horizon: h, full: p.Reconcile}
}

// touched records that a batch was applied at t.
func (d *driver) touched(t time.Time) {
	if b := t.Add(d.horizon); b.After(d.busy) {
		d.busy = b
	}
}

// advance runs the clock up to t.
func (d *driver) advance(ctx context.Context, t time.Time) error {
	for d.clk.t.Before(t) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.clk.t.Before(d.busy) {
			d.clk.t = t
			break
		}
		if next := d.clk.t.Add(time.Second); next.Before(t) {
			d.clk.t = next
		} else {
			d.clk.t = t
		}
		if err := d.eng.Tick(ctx); err != nil {
			return fmt.Errorf("replay at %s: %w", d.clk.t.Format(time.RFC3339), err)
		}
		if !d.clk.t.Before(d.nextFull) {
			d.nextFull = d.clk.t.Add(d.full)
			if err := d.eng.ReconcileAll(ctx); err != nil {
				return fmt.Errorf("replay at %s: %w", d.clk.t.Format(time.RFC3339), err)
			}
		}
	}
	return nil
}

// why returns the factors of the candidate's reason that the baseline's lacks.
func why(base, cand string) []string {
	clauses := func(r string) []string {
		if i := strings.LastIndex(r, " → "); i >= 0 {
			r = r[:i]
		}
		return strings.Split(r, "; ")
	}
	have := map[string]bool{}
	for _, c := range clauses(base) {
		have[c] = true
	}
	var out []string
	for _, c := range clauses(cand) {
		if !have[c] && c != "" {
			out = append(out, c)
		}
	}
	return out
}

// WriteText prints the report for a person; at most limit incidents per list.
func (r *Report) WriteText(w io.Writer, limit int) error {
	var b strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }
	f("Policy replay %s .. %s: %d observations in %d batches, %d assets\n\n", ts(r.From), ts(r.To), r.Observations, r.Batches, r.Assets)
	f("%-9s %6s %9s %10s %7s\n", "priority", "live", "baseline", "candidate", "change")
	var tl, tb, tc int
	for _, c := range r.Counts {
		f("%-9s %6d %9d %10d %+7d\n", c.Priority, c.Live, c.Baseline, c.Candidate, c.Delta())
		tl, tb, tc = tl+c.Live, tb+c.Baseline, tc+c.Candidate
	}
	f("%-9s %6d %9d %10d %+7d\n", "total", tl, tb, tc, tc-tb)
	desc := func(i Incident) string {
		s := fmt.Sprintf("%s %s (%s", ts(i.OpenedAt), i.AssetName, i.Class)
		if i.CareArea != "" {
			s += ", " + i.CareArea
		}
		return s + ") " + i.Condition
	}
	list := func(title string, n int, each func(k int)) {
		f("\n%s: %d\n", title, n)
		for k := range min(n, limit) {
			each(k)
		}
		if n > limit {
			f("  ... %d more (--json lists them all)\n", n-limit)
		}
	}
	list("Changed priority", len(r.Changed), func(k int) {
		c := r.Changed[k]
		f("  %s: %s → %s\n", desc(c.Baseline), c.Baseline.Priority, c.Candidate.Priority)
		for _, y := range c.Why {
			f("      because %s\n", y)
		}
	})
	list("Would no longer open", len(r.OnlyBaseline), func(k int) {
		f("  %s: was %s\n", desc(r.OnlyBaseline[k]), r.OnlyBaseline[k].Priority)
	})
	list("Would newly open", len(r.OnlyCandidate), func(k int) {
		i := r.OnlyCandidate[k]
		f("  %s: %s, %s\n", desc(i), i.Priority, i.Reason)
	})
	f("\nUnchanged: %d incidents\n", r.Unchanged)
	_, err := io.WriteString(w, b.String())
	return err
}
