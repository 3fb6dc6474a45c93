package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// fit returns the least-squares slope (per hour) and the mean of ys over xs (minutes).
func fit(xs, ys []float64) (slopePerHour, mean float64) {
	n := float64(len(xs))
	if n < 2 {
		return 0, 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, sy / n
	}
	return (n*sxy - sx*sy) / den * 60, sy / n
}

type report struct {
	o          options
	discovered time.Duration
	injected   map[string]int
	injectErrs int
	samples    []*sample
	final      *sample
	trends     []string
	checks     []string
	exits      []string
	stacks     []string
	ok         bool
}

func (s *soak) report(discovered time.Duration, c *failureCounts, first, final *sample) *report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &report{o: s.o, discovered: discovered, injected: c.byKind, injectErrs: c.errors, samples: s.samples, final: final, ok: true}
	var xs []float64
	var idx []int
	for i, sm := range s.samples {
		if sm.at >= s.o.warmup && sm.at <= s.o.duration+time.Second {
			xs = append(xs, sm.at.Minutes())
			idx = append(idx, i)
		}
	}
	names := []string{"cmdb", "collector", "devicesim"}
	// The cmdb keeps every incident in memory until retention prunes it: that much
	// growth of its live heap is the data it is meant to keep, and is taken off.
	var base float64
	if len(idx) > 0 {
		base = s.samples[idx[0]].incidents
	}
	kept := func(sm *sample, p int) float64 {
		if p != 0 {
			return 0
		}
		return (sm.incidents - base) * s.o.incidentBytes
	}
	series := []struct {
		what  string
		get   func(*sample, int) float64
		unit  string
		div   float64
		judge bool // the heap in use is sampled anywhere between two collections: shown, not judged
	}{
		{"goroutines", func(s *sample, i int) float64 { return s.goroutines[i] }, "", 1, true},
		{"live heap after GC (cmdb: less incidents kept)", func(s *sample, i int) float64 { return s.live[i] - kept(s, i) }, " MiB", 1 << 20, true},
		{"Go heap in use", func(s *sample, i int) float64 { return s.heap[i] }, " MiB", 1 << 20, false},
		// RSS also counts freed heap the runtime has not handed back yet (it returns it
		// gradually): ±10 MiB from one minute to the next. Judged without it.
		{"RSS", func(s *sample, i int) float64 { return s.rss[i] }, " MiB", 1 << 20, false},
		{"RSS less idle heap not yet returned (devicesim: RSS)", func(s *sample, i int) float64 { return s.rss[i] - s.idle[i] }, " MiB", 1 << 20, false},
		// What is left of RSS once the garbage waiting for the next collection (heap in
		// use above the live heap: up to GOGC's 100 % of it, wherever the sample falls
		// between two collections) and the kept incidents are taken off: code, stacks,
		// the live heap and memory outside the Go runtime. This is the series a leak
		// would raise, and the one judged.
		{"RSS less garbage, idle heap and incidents kept (devicesim: RSS less garbage)", func(s *sample, i int) float64 {
			return s.rss[i] - s.idle[i] - max(s.heap[i]-s.live[i], 0) - kept(s, i)
		}, " MiB", 1 << 20, true},
		{"SQLite database files open (cmdb's embedded store; n/a elsewhere)", func(s *sample, i int) float64 { return float64(s.dbFiles[i]) }, "", 1, false},
		// Code pages, and in the cmdb the embedded SQLite (modernc.org/sqlite keeps its
		// page cache outside the Go heap).
		{"RSS outside the Go runtime (devicesim: n/a)", func(s *sample, i int) float64 { return max(s.rss[i]-s.goHeld[i], 0) }, " MiB", 1 << 20, false},
	}
	for _, se := range series {
		for p, name := range names {
			if len(idx) == 0 {
				break
			}
			ys := make([]float64, len(idx))
			for k, i := range idx {
				ys[k] = se.get(s.samples[i], p) / se.div
			}
			slope, mean := fit(xs, ys)
			rel := 0.0
			if mean != 0 {
				rel = slope / mean * 100
			}
			// A heap or a goroutine count saws up and down between collections and
			// bursts: growth is a fitted rise of more than 10 % of the mean per hour that
			// the floors confirm (the lowest sample of the last third of the window above
			// the lowest of the first third by more than 5 %).
			verdict := "flat"
			third := max(len(ys)/3, 1)
			floorFirst, floorLast := slices.Min(ys[:third]), slices.Min(ys[len(ys)-third:])
			if len(ys) >= 6 && rel > 10 && floorLast > floorFirst*1.05 {
				verdict = "GROWING"
				if se.judge {
					r.ok = false
				} else {
					verdict = "rising (not judged)"
				}
			}
			r.trends = append(r.trends, fmt.Sprintf("| %s | %s | %.1f%s | %+.2f%s/h (%+.1f %%/h) | %.1f → %.1f | %s |",
				name, se.what, mean, se.unit, slope, se.unit, rel, floorFirst, floorLast, verdict))
		}
	}
	a, f := first, final
	check := func(ok bool, format string, args ...any) {
		mark := "yes"
		if !ok {
			mark = "**NO**"
			r.ok = false
		}
		r.checks = append(r.checks, fmt.Sprintf("| %s | %s |", fmt.Sprintf(format, args...), mark))
	}
	peak := 0.0
	for _, sm := range r.samples {
		peak = max(peak, sm.spool)
	}
	check(true, "collector backlog (spool) at most %.0f observations at a sample, %.0f at the end", peak, f.spool)
	check(f.dropped == 0, "collector dropped nothing (%.0f dropped)", f.dropped)
	check(f.delivered >= a.emitted, "all %.0f observations emitted by minute %.1f delivered by minute %.1f (%.0f delivered)", a.emitted, a.at.Minutes(), f.at.Minutes(), f.delivered)
	check(f.invalid == 0, "cmdb refused none as invalid (%.0f)", f.invalid)
	check(f.applied+f.duplicates >= a.emitted, "cmdb persisted them: %.0f applied + %.0f replays by minute %.1f", f.applied, f.duplicates, f.at.Minutes())
	check(a.applied+a.duplicates <= f.delivered && a.received <= f.delivered, "cmdb counted no observation the collector did not deliver (%.0f received, %.0f persisted at minute %.1f)", a.received, a.applied+a.duplicates, a.at.Minutes())
	check(f.failedReports == 0, "no failed report (%.0f)", f.failedReports)
	return r
}

func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "Command: `go run ./bench/soak --devices %d --duration %s --poll-interval %s --event-every %s --seed %d --incident-bytes %.0f --dump-stacks=%v`\n\n",
		r.o.devices, r.o.duration, r.o.pollInterval, r.o.eventEvery, r.o.seed, r.o.incidentBytes, r.o.dumpStacks)
	fmt.Fprintf(w, "Discovery of %d devices took %s. Failures injected over %s:", r.o.devices, r.discovered.Round(time.Second), r.o.duration)
	total := 0
	for k, n := range r.injected {
		fmt.Fprintf(w, " %s ×%d;", k, n)
		total += n
	}
	fmt.Fprintf(w, " %d in all (%d refused by the simulator).\n\n", total, r.injectErrs)
	fmt.Fprintf(w, "### Trend after the warm-up (least-squares slope over the samples from %s to the end of the failures)\n", r.o.warmup)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| process | series | mean | slope | floor, first → last third | verdict |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | --- |")
	for _, l := range r.trends {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Observation accounts at the end (failures stopped, reverts done, spool drained)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| check | holds |")
	fmt.Fprintln(w, "| --- | --- |")
	for _, l := range r.checks {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Clean exits (SIGTERM):", strings.Join(r.exits, "; "))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Per minute")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| min | goroutines cmdb / collector / sim | sockets cmdb / collector / sim | cmdb SQLite files | live heap after GC MiB (GCs) cmdb / collector / sim | heap in use MiB cmdb / collector / sim | RSS MiB cmdb / collector / sim | emitted | delivered | applied | replays | spool | failed reports | incidents (open) |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range r.samples {
		fmt.Fprintf(w, "| %.1f | %.0f / %.0f / %.0f | %d / %d / %d | %d | %.0f (%d) / %.0f (%d) / %.0f (%d) | %.1f / %.1f / %.1f | %.0f / %.0f / %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f (%.0f) |\n",
			s.at.Minutes(), s.goroutines[0], s.goroutines[1], s.goroutines[2], s.sockets[0], s.sockets[1], s.sockets[2], s.dbFiles[0],
			mib(s.live[0]), s.gcs[0], mib(s.live[1]), s.gcs[1], mib(s.live[2]), s.gcs[2], mib(s.heap[0]), mib(s.heap[1]), mib(s.heap[2]),
			mib(s.rss[0]), mib(s.rss[1]), mib(s.rss[2]), s.emitted, s.delivered, s.applied, s.duplicates, s.spool, s.failedReports, s.incidents, s.openIncidents)
	}
	if len(r.stacks) > 0 {
		fmt.Fprintln(w, "\n### cmdb goroutines at the end, by creator (SIGQUIT dump)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| goroutines | created by |")
		fmt.Fprintln(w, "| ---: | --- |")
		for _, l := range r.stacks {
			fmt.Fprintln(w, l)
		}
	}
	if r.ok {
		fmt.Fprintln(w, "\nVerdict: no growth trend, no lost observation.")
	} else {
		fmt.Fprintln(w, "\nVerdict: **problem found** (see the rows marked above).")
	}
}

// dumpStacks ends p with SIGQUIT (the Go runtime prints every goroutine's stack) and
// counts its goroutines by the function that created them.
func dumpStacks(p *proc) []string {
	before, _ := os.ReadFile(p.log)
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return []string{"| - | no dump within 30 s |"}
	}
	b, _ := os.ReadFile(p.log)
	b = b[len(before):]
	count := map[string]int{}
	total := 0
	for _, g := range strings.Split(string(b), "\n\ngoroutine ") {
		if !strings.Contains(g, "[") {
			continue
		}
		total++
		creator := "(main or runtime)"
		if i := strings.Index(g, "created by "); i >= 0 {
			creator = strings.TrimSpace(strings.SplitN(g[i+len("created by "):], "\n", 2)[0])
			if j := strings.Index(creator, " in goroutine"); j >= 0 {
				creator = creator[:j]
			}
		}
		count[creator]++
	}
	type kv struct {
		k string
		v int
	}
	var list []kv
	for k, v := range count {
		list = append(list, kv{k, v})
	}
	slices.SortFunc(list, func(a, b kv) int { return b.v - a.v })
	out := []string{fmt.Sprintf("| %d | (all) |", total)}
	for _, e := range list {
		out = append(out, fmt.Sprintf("| %d | `%s` |", e.v, e.k))
	}
	return out
}
