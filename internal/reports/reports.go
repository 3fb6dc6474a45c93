// Package reports computes service-desk figures over incidents: counts, mean time to
// acknowledge (MTTA) and to restore (MTTR), SLA compliance and reopen rate, grouped by
// priority, site, care area, class or model, over a time range; as rows for the API,
// as CSV, and as Prometheus gauges over fixed windows for the dashboards.
//
// Everything is computed from the incident engine's in-memory incidents when asked:
// the engine holds every incident the retention keeps, and a pass over a year of
// incidents takes milliseconds, so no second copy of the numbers can drift.
package reports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// GroupBy says how incidents are grouped.
type GroupBy string

// Groupings.
const (
	ByNone     GroupBy = "NONE"
	ByPriority GroupBy = "PRIORITY"
	BySite     GroupBy = "SITE"
	ByCareArea GroupBy = "CARE_AREA"
	ByClass    GroupBy = "CLASS"
	ByModel    GroupBy = "MODEL"
)

// Groupings lists every grouping.
var Groupings = []GroupBy{ByNone, ByPriority, BySite, ByCareArea, ByClass, ByModel}

// Row is the figures of one group.
type Row struct {
	Key       string `json:"key"`
	Incidents int    `json:"incidents"`
	Open      int    `json:"open"`
	// Suppressed incidents were consequences of an upstream failure: counted, but
	// nobody was asked to acknowledge or restore them, so they are left out of MTTA,
	// MTTR and SLA compliance.
	Suppressed   int `json:"suppressed"`
	Acknowledged int `json:"acknowledged"`
	Resolved     int `json:"resolved"`
	ackSum       time.Duration
	resSum       time.Duration
	// SLAMeasured counts incidents whose SLA outcome is known (resolved, or already
	// breached); SLAMet those that met both targets.
	SLAMeasured int `json:"slaMeasured"`
	SLAMet      int `json:"slaMet"`
	// Reopened incidents came back after an auto-resolution (the same ticket).
	Reopened int `json:"reopened"`
}

// MTTA is the mean time to acknowledge (0 when nothing was acknowledged).
func (r *Row) MTTA() time.Duration { return mean(r.ackSum, r.Acknowledged) }

// MTTR is the mean time to restore (0 when nothing was resolved).
func (r *Row) MTTR() time.Duration { return mean(r.resSum, r.Resolved) }

// SLACompliance is the share of measured incidents that met their SLA, 0..1; ok is
// false when none was measured.
func (r *Row) SLACompliance() (float64, bool) {
	if r.SLAMeasured == 0 {
		return 0, false
	}
	return float64(r.SLAMet) / float64(r.SLAMeasured), true
}

// ReopenRate is the share of incidents that reopened, 0..1 (0 without incidents).
func (r *Row) ReopenRate() float64 {
	if r.Incidents == 0 {
		return 0
	}
	return float64(r.Reopened) / float64(r.Incidents)
}

func mean(sum time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (sum / time.Duration(n)).Round(time.Second)
}

// Report is the figures of a time range.
type Report struct {
	From, To time.Time
	GroupBy  GroupBy
	Rows     []*Row // by descending incident count, then key
	Total    *Row
}

// Models names the model of an asset ("Acme P100"), for grouping by model.
type Models func(assetID string) string

// Compute builds the report of the incidents opened in [from, to), as of now.
func Compute(list []*incidents.Incident, models Models, from, to, now time.Time, by GroupBy) (*Report, error) {
	if !slices.Contains(Groupings, by) {
		return nil, fmt.Errorf("group by %q: not one of %v", by, Groupings)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("report range: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	rep := &Report{From: from, To: to, GroupBy: by, Total: &Row{Key: "total"}}
	rows := map[string]*Row{}
	if by == ByPriority { // every priority, even without incidents
		for _, p := range incidents.Priorities {
			rows[string(p)] = &Row{Key: string(p)}
		}
	}
	for _, i := range list {
		if i.OpenedAt.Before(from) || !i.OpenedAt.Before(to) {
			continue
		}
		k := key(i, by, models)
		r := rows[k]
		if r == nil {
			r = &Row{Key: k}
			rows[k] = r
		}
		add(r, i, now)
		add(rep.Total, i, now)
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, r)
	}
	slices.SortFunc(rep.Rows, func(a, b *Row) int {
		if by == ByPriority {
			return strings.Compare(a.Key, b.Key)
		}
		if a.Incidents != b.Incidents {
			return b.Incidents - a.Incidents
		}
		return strings.Compare(a.Key, b.Key)
	})
	return rep, nil
}

func key(i *incidents.Incident, by GroupBy, models Models) string {
	var k string
	switch by {
	case ByPriority:
		k = string(i.Priority)
	case BySite:
		k = i.Site
	case ByCareArea:
		k = strings.ToUpper(i.CareArea)
	case ByClass:
		k = i.Class
	case ByModel:
		if models != nil {
			k = models(i.AssetID)
		}
	default:
		return "total"
	}
	if k == "" {
		return "(none)"
	}
	return k
}

// add counts one incident into a row.
func add(r *Row, i *incidents.Incident, now time.Time) {
	r.Incidents++
	if i.Open() {
		r.Open++
	}
	if slices.ContainsFunc(i.Timeline, func(e incidents.Event) bool { return e.Kind == incidents.EventRecurred }) {
		r.Reopened++
	}
	if i.Suppressed || (i.RootID != "" && !i.Notified) {
		r.Suppressed++
		return
	}
	if i.AcknowledgedAt != nil {
		r.Acknowledged++
		r.ackSum += i.AcknowledgedAt.Sub(i.OpenedAt)
	}
	if i.ResolvedAt != nil {
		r.Resolved++
		r.resSum += i.ResolvedAt.Sub(i.OpenedAt)
	}
	breached := i.SLABreached(now)
	if i.ResolvedAt != nil || breached {
		r.SLAMeasured++
		if !breached {
			r.SLAMet++
		}
	}
}

// CSVHeader is the first line of the CSV export.
var CSVHeader = []string{"from", "to", "group_by", "key", "incidents", "open", "suppressed", "acknowledged", "resolved",
	"mtta_seconds", "mttr_seconds", "sla_measured", "sla_met", "sla_compliance_pct", "reopened", "reopen_rate_pct"}

// CSV renders the report, one line per group and a last line for the total.
func (rep *Report) CSV() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(CSVHeader)
	pct := func(f float64, ok bool) string {
		if !ok {
			return ""
		}
		return strconv.FormatFloat(100*f, 'f', 1, 64)
	}
	for _, r := range append(slices.Clone(rep.Rows), rep.Total) {
		c, ok := r.SLACompliance()
		_ = w.Write([]string{rep.From.UTC().Format(time.RFC3339), rep.To.UTC().Format(time.RFC3339), string(rep.GroupBy), csvSafe(r.Key),
			strconv.Itoa(r.Incidents), strconv.Itoa(r.Open), strconv.Itoa(r.Suppressed), strconv.Itoa(r.Acknowledged), strconv.Itoa(r.Resolved),
			strconv.FormatInt(int64(r.MTTA()/time.Second), 10), strconv.FormatInt(int64(r.MTTR()/time.Second), 10),
			strconv.Itoa(r.SLAMeasured), strconv.Itoa(r.SLAMet), pct(c, ok), strconv.Itoa(r.Reopened), pct(r.ReopenRate(), r.Incidents > 0)})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// csvSafe keeps a spreadsheet from reading a key (a site or model name someone typed)
// as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
