package graphql

import (
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/reports"
)

var (
	reportGroupByEnum = enumOf("ReportGroupBy", "How the incident report groups incidents.", reports.Groupings)

	reportRowType = gql.NewObject(gql.ObjectConfig{
		Name:        "IncidentReportRow",
		Description: "Figures of the incidents of one group opened in the report's range. Suppressed incidents count, but not in MTTA, MTTR or SLA.",
		Fields: gql.Fields{
			"key":          {Type: gql.NewNonNull(gql.String), Resolve: field(func(r *reports.Row) any { return r.Key })},
			"incidents":    {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Incidents })},
			"open":         {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Open })},
			"suppressed":   {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Suppressed })},
			"acknowledged": {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Acknowledged })},
			"resolved":     {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Resolved })},
			"mttaSeconds": {Type: gql.Float, Description: "Mean time to acknowledge; null when nothing was acknowledged.",
				Resolve: field(func(r *reports.Row) any { return seconds(r.MTTA(), r.Acknowledged) })},
			"mttrSeconds": {Type: gql.Float, Description: "Mean time to restore; null when nothing was resolved.",
				Resolve: field(func(r *reports.Row) any { return seconds(r.MTTR(), r.Resolved) })},
			"slaMeasured": {Type: gql.NewNonNull(gql.Int), Description: "Incidents whose SLA outcome is known (resolved, or already breached).",
				Resolve: field(func(r *reports.Row) any { return r.SLAMeasured })},
			"slaMet": {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.SLAMet })},
			"slaCompliancePct": {Type: gql.Float, Description: "slaMet / slaMeasured in percent; null when nothing was measured.",
				Resolve: field(func(r *reports.Row) any {
					if v, ok := r.SLACompliance(); ok {
						return 100 * v
					}
					return nil
				})},
			"reopened":      {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *reports.Row) any { return r.Reopened })},
			"reopenRatePct": {Type: gql.NewNonNull(gql.Float), Resolve: field(func(r *reports.Row) any { return 100 * r.ReopenRate() })},
		},
	})

	reportType = gql.NewObject(gql.ObjectConfig{
		Name: "IncidentReport",
		Fields: gql.Fields{
			"from":    {Type: gql.NewNonNull(timeScalar), Resolve: field(func(r *reports.Report) any { return r.From })},
			"to":      {Type: gql.NewNonNull(timeScalar), Resolve: field(func(r *reports.Report) any { return r.To })},
			"groupBy": {Type: gql.NewNonNull(reportGroupByEnum), Resolve: field(func(r *reports.Report) any { return string(r.GroupBy) })},
			"rows":    {Type: nonNullList(reportRowType), Resolve: field(func(r *reports.Report) any { return r.Rows })},
			"total":   {Type: gql.NewNonNull(reportRowType), Resolve: field(func(r *reports.Report) any { return r.Total })},
		},
	})
)

func seconds(d time.Duration, n int) any {
	if n == 0 {
		return nil
	}
	return d.Seconds()
}

var reportArgs = gql.FieldConfigArgument{
	"from":    {Type: gql.NewNonNull(timeScalar)},
	"to":      {Type: timeScalar, Description: "Default: now."},
	"groupBy": {Type: reportGroupByEnum, DefaultValue: string(reports.ByPriority)},
}

// report computes the report the arguments ask for.
func report(p gql.ResolveParams) (*reports.Report, error) {
	from, ok := p.Args["from"].(time.Time)
	if !ok {
		return nil, errorf(CodeBadUserInput, "from: not an RFC 3339 time")
	}
	now := nowFunc()
	to := now
	if t, ok := p.Args["to"].(time.Time); ok {
		to = t
	} else if p.Args["to"] != nil {
		return nil, errorf(CodeBadUserInput, "to: not an RFC 3339 time")
	}
	by, _ := p.Args["groupBy"].(string)
	d := deps(p.Context)
	list, _ := d.Incidents.List(incidents.Filter{}, 0, 1<<31-1)
	models := func(id string) string {
		if a, ok := d.Assets.Get(id); ok {
			return strings.TrimSpace(a.Manufacturer + " " + a.Model)
		}
		return ""
	}
	rep, err := reports.Compute(list, models, from, to, now, reports.GroupBy(by))
	if err != nil {
		return nil, errorf(CodeBadUserInput, "%v", err)
	}
	return rep, nil
}

func init() {
	RegisterQuery("incidentReport", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(reportType), Args: reportArgs,
			Description: "MTTA, MTTR, SLA compliance, reopen rate and counts of the incidents opened in [from, to), grouped.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				return report(p)
			}}
	}, readers...)
	RegisterQuery("incidentReportCSV", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.String), Args: reportArgs, Description: "incidentReport as CSV, with a total line.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				rep, err := report(p)
				if err != nil {
					return nil, err
				}
				b, err := rep.CSV()
				if err != nil {
					return nil, internal(err)
				}
				return string(b), nil
			}}
	}, readers...)
}
