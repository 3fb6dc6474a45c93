package reports_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/reports"
)

// BenchmarkCompute is the cost of one report (and of one dashboard window at scrape
// time) over a year of incidents held in memory; baseline: one pass reading the same
// fields, so the ratio is what grouping and the figures add.
func BenchmarkCompute(b *testing.B) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	list := make([]*incidents.Incident, 100_000)
	for i := range list {
		opened := now.Add(-time.Duration(i) * 5 * time.Minute)
		ack, res := opened.Add(4*time.Minute), opened.Add(50*time.Minute)
		list[i] = &incidents.Incident{ID: fmt.Sprint(i), Priority: incidents.Priorities[i%5], State: incidents.StateResolved,
			OpenedAt: opened, AcknowledgedAt: &ack, ResolvedAt: &res, AckDueAt: opened.Add(5 * time.Minute), ResolveDueAt: opened.Add(time.Hour),
			Site: "main", CareArea: []string{"ICU", "WARD", "ADMIN"}[i%3], Class: "INFUSION_PUMP",
			Timeline: []incidents.Event{{Kind: incidents.EventOpened}, {Kind: incidents.EventAcknowledged}, {Kind: incidents.EventAutoResolved}}}
	}
	b.Run("baseline-pass", func(b *testing.B) {
		for range b.N {
			var n int
			var sum time.Duration
			for _, i := range list {
				if i.OpenedAt.After(now.Add(-400 * 24 * time.Hour)) {
					n++
					sum += i.ResolvedAt.Sub(i.OpenedAt)
				}
			}
			_ = sum / time.Duration(max(n, 1))
		}
	})
	for _, by := range []reports.GroupBy{reports.ByPriority, reports.ByCareArea} {
		b.Run("compute-"+string(by), func(b *testing.B) {
			for range b.N {
				if _, err := reports.Compute(list, nil, now.Add(-400*24*time.Hour), now, now, by); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
