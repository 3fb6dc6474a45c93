package graphql

import (
	"context"
	"io"
	"strconv"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// AssetRegistry is what the asset fields beyond the core contract use of the asset
// registry: paginated history, relations, risk, recalls, edits and bulk import.
// *assets.Service implements it; everything is served from its in-memory working set
// except history, which reads sealed buckets by _id.
type AssetRegistry interface {
	Assets
	HistoryBefore(ctx context.Context, a *assets.Asset, before, first int) ([]assets.Change, error)
	Dependents(id string) []string
	Risk(a *assets.Asset) assets.Risk
	RecallsFor(a *assets.Asset) []*assets.Recall
	Recalls() []*assets.Recall
	Health(f assets.Filter, by []assets.GroupBy) []assets.HealthGroup
	Update(ctx context.Context, id string, e assets.Edit, actor, requestID string) (*assets.Asset, error)
	Relate(ctx context.Context, id string, kind assets.RelationKind, target, port, actor, requestID string) (*assets.Asset, error)
	Unrelate(ctx context.Context, id string, kind assets.RelationKind, target, actor, requestID string) (*assets.Asset, error)
	AddRecall(ctx context.Context, r assets.Recall, actor string) (*assets.Recall, error)
	RemoveRecall(ctx context.Context, id, actor string) error
	ImportCSV(ctx context.Context, r io.Reader, actor, requestID string) (*assets.ImportResult, error)
	ExportCSV(w io.Writer, f assets.Filter) error
}

func registry(ctx context.Context) (AssetRegistry, error) {
	if r, ok := deps(ctx).Assets.(AssetRegistry); ok {
		return r, nil
	}
	return nil, errorf(CodeInternal, "the asset registry does not support this field")
}

var (
	relationKindEnum = enumOf("RelationKind", "How an asset depends on another.", assets.RelationKinds)
	groupByEnum      = enumOf("AssetGroupBy", "A dimension of the health summary.", []assets.GroupBy{assets.BySite, assets.ByCareArea, assets.ByClass})

	riskType = gql.NewObject(gql.ObjectConfig{
		Name: "AssetRisk",
		Description: "Fennigkoh–Smith style equipment-management number: function + physical risk + " +
			"maintenance + incident history; 12 or more is in the managed programme.",
		Fields: gql.Fields{
			"function":        {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r assets.Risk) any { return r.Function })},
			"physicalRisk":    {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r assets.Risk) any { return r.PhysicalRisk })},
			"maintenance":     {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r assets.Risk) any { return r.Maintenance })},
			"incidentHistory": {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r assets.Risk) any { return r.IncidentHistory })},
			"incidents":       {Type: gql.NewNonNull(gql.Int), Description: "Incidents in the last 365 days.", Resolve: field(func(r assets.Risk) any { return r.Incidents })},
			"score":           {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r assets.Risk) any { return r.Score })},
			"managed":         {Type: gql.NewNonNull(gql.Boolean), Resolve: field(func(r assets.Risk) any { return r.Managed })},
		},
	})

	recallType = gql.NewObject(gql.ObjectConfig{
		Name:        "Recall",
		Description: "A recall or safety notice for a manufacturer and model; shown on every matching asset.",
		Fields: gql.Fields{
			"id":           {Type: gql.NewNonNull(gql.ID), Resolve: field(func(r *assets.Recall) any { return r.ID })},
			"manufacturer": {Type: gql.NewNonNull(gql.String), Resolve: field(func(r *assets.Recall) any { return r.Manufacturer })},
			"model":        {Type: gql.NewNonNull(gql.String), Resolve: field(func(r *assets.Recall) any { return r.Model })},
			"reference":    {Type: gql.NewNonNull(gql.String), Resolve: field(func(r *assets.Recall) any { return r.Reference })},
			"title":        {Type: gql.String, Resolve: field(func(r *assets.Recall) any { return orNil(r.Title) })},
			"url":          {Type: gql.String, Resolve: field(func(r *assets.Recall) any { return orNil(r.URL) })},
			"issuedAt":     {Type: timeScalar, Resolve: field(func(r *assets.Recall) any { return r.IssuedAt })},
			"createdBy":    {Type: gql.NewNonNull(gql.String), Resolve: field(func(r *assets.Recall) any { return r.CreatedBy })},
			"createdAt":    {Type: gql.NewNonNull(timeScalar), Resolve: field(func(r *assets.Recall) any { return r.CreatedAt })},
		},
	})

	healthGroupType = gql.NewObject(gql.ObjectConfig{
		Name:        "AssetHealthGroup",
		Description: "Asset counts per status for one group (dimensions not grouped by are null).",
		Fields: gql.Fields{
			"site":     {Type: gql.String, Resolve: field(func(g assets.HealthGroup) any { return orNil(g.Site) })},
			"careArea": {Type: gql.String, Resolve: field(func(g assets.HealthGroup) any { return orNil(g.CareArea) })},
			"class": {Type: assetClassEnum, Resolve: field(func(g assets.HealthGroup) any {
				return orNil(string(g.Class))
			})},
			"total":       {Type: gql.NewNonNull(gql.Int), Resolve: field(func(g assets.HealthGroup) any { return g.Total })},
			"operational": {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusOperational)},
			"degraded":    {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusDegraded)},
			"down":        {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusDown)},
			"unknown":     {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusUnknown)},
			"maintenance": {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusMaintenance)},
			"retired":     {Type: gql.NewNonNull(gql.Int), Resolve: statusCount(assets.StatusRetired)},
		},
	})

	importErrorType = gql.NewObject(gql.ObjectConfig{
		Name: "ImportRowError",
		Fields: gql.Fields{
			"line":    {Type: gql.NewNonNull(gql.Int), Resolve: field(func(e assets.RowError) any { return e.Line })},
			"message": {Type: gql.NewNonNull(gql.String), Resolve: field(func(e assets.RowError) any { return e.Message })},
		},
	})
	importResultType = gql.NewObject(gql.ObjectConfig{
		Name:        "ImportResult",
		Description: "What an import did; each bad row is listed and changed nothing.",
		Fields: gql.Fields{
			"created":   {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *assets.ImportResult) any { return r.Created })},
			"updated":   {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *assets.ImportResult) any { return r.Updated })},
			"unchanged": {Type: gql.NewNonNull(gql.Int), Resolve: field(func(r *assets.ImportResult) any { return r.Unchanged })},
			"errors":    {Type: nonNullList(importErrorType), Resolve: field(func(r *assets.ImportResult) any { return r.Errors })},
		},
	})
)

// relationType is built lazily: its asset field refers to assetType.
var relationType *gql.Object

func relationObject() *gql.Object {
	if relationType != nil {
		return relationType
	}
	relationType = gql.NewObject(gql.ObjectConfig{
		Name:        "AssetRelation",
		Description: "An edge between two assets; asset is the other end (the upstream for upstream, the dependent for dependents).",
		Fields: gql.FieldsThunk(func() gql.Fields {
			return gql.Fields{
				"kind":    {Type: gql.NewNonNull(relationKindEnum), Resolve: field(func(r relationView) any { return string(r.Kind) })},
				"port":    {Type: gql.String, Resolve: field(func(r relationView) any { return orNil(r.Port) })},
				"source":  {Type: gql.NewNonNull(gql.String), Resolve: field(func(r relationView) any { return r.Source })},
				"since":   {Type: timeScalar, Resolve: field(func(r relationView) any { return r.Since })},
				"assetId": {Type: gql.NewNonNull(gql.ID), Resolve: field(func(r relationView) any { return r.other })},
				"asset": {Type: assetType, Resolve: func(p gql.ResolveParams) (any, error) {
					r := p.Source.(relationView)
					if a, ok := deps(p.Context).Assets.Get(r.other); ok {
						return a, nil
					}
					return nil, nil
				}},
			}
		}),
	})
	return relationType
}

// relationView is a relation seen from one end.
type relationView struct {
	assets.Relation
	other string
}

func statusCount(st assets.Status) gql.FieldResolveFn {
	return field(func(g assets.HealthGroup) any { return g.Counts[st] })
}

func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.DateOnly)
}

// History cursors are entry sequence numbers, stable while new entries arrive.
func historyCursor(seq int) string { return "h" + strconv.Itoa(seq) }

func parseHistoryCursor(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s[min(1, len(s)):])
	if len(s) < 2 || s[0] != 'h' || err != nil || n < 0 {
		return 0, errorf(CodeBadUserInput, "history.after: invalid cursor %q", s)
	}
	return n, nil
}

func init() {
	assetFilterInput.AddFieldConfig("building", &gql.InputObjectFieldConfig{Type: gql.String})
	assetFilterInput.AddFieldConfig("unit", &gql.InputObjectFieldConfig{Type: gql.String})
	assetFilterInput.AddFieldConfig("assetTag", &gql.InputObjectFieldConfig{Type: gql.String})
	assetFilterInput.AddFieldConfig("owner", &gql.InputObjectFieldConfig{Type: gql.String})
	assetFilterInput.AddFieldConfig("supportGroup", &gql.InputObjectFieldConfig{Type: gql.String})
	assetFilterInput.AddFieldConfig("pmOverdue", &gql.InputObjectFieldConfig{Type: gql.Boolean, Description: "Planned maintenance overdue."})
	assetFilterInput.AddFieldConfig("recalled", &gql.InputObjectFieldConfig{Type: gql.Boolean, Description: "A recall concerns its manufacturer and model."})
	assetChangeType.AddFieldConfig("cursor", &gql.Field{Type: gql.NewNonNull(gql.String),
		Description: "Pass as history(after:) to read older entries.",
		Resolve:     field(func(c assets.Change) any { return historyCursor(c.Seq) })})
	assetChangeType.AddFieldConfig("seq", &gql.Field{Type: gql.NewNonNull(gql.Int),
		Description: "Position in the asset's history; 0 is the creation record.",
		Resolve:     field(func(c assets.Change) any { return c.Seq })})

	type af = func(*assets.Asset) any
	simple := func(name string, t gql.Output, f af) {
		ExtendAsset(name, func() *gql.Field { return &gql.Field{Type: t, Resolve: field(f)} })
	}
	simple("assetTag", gql.String, func(a *assets.Asset) any { return orNil(a.Biomed.AssetTag) })
	simple("owner", gql.String, func(a *assets.Asset) any { return orNil(a.Biomed.Owner) })
	simple("supportGroup", gql.String, func(a *assets.Asset) any { return orNil(a.Biomed.SupportGroup) })
	simple("installDate", gql.String, func(a *assets.Asset) any { return date(a.Biomed.InstallDate) })
	simple("warrantyEnd", gql.String, func(a *assets.Asset) any { return date(a.Biomed.WarrantyEnd) })
	simple("pmIntervalDays", gql.Int, func(a *assets.Asset) any {
		if a.Biomed.PMIntervalDays == 0 {
			return nil
		}
		return a.Biomed.PMIntervalDays
	})
	simple("lastPM", gql.String, func(a *assets.Asset) any { return date(a.Biomed.LastPM) })
	simple("nextPMDue", gql.String, func(a *assets.Asset) any { return date(a.Biomed.NextPMDue()) })
	simple("pmOverdue", gql.NewNonNull(gql.Boolean), func(a *assets.Asset) any { return a.PMOverdue(nowFunc()) })
	simple("notes", gql.String, func(a *assets.Asset) any { return orNil(a.Biomed.Notes) })
	simple("retiredAt", timeScalar, func(a *assets.Asset) any { return a.Biomed.RetiredAt })
	simple("mergedFrom", nonNullList(gql.ID), func(a *assets.Asset) any { return nonNilStrings(a.MergedFrom) })

	ExtendAsset("riskScore", func() *gql.Field {
		return &gql.Field{Type: gql.Int, Description: "The equipment-management number (risk.score).",
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return p.Source.(*assets.Asset).RiskScore, nil
				}
				return r.Risk(p.Source.(*assets.Asset)).Score, nil
			}}
	})
	ExtendAsset("risk", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(riskType), Resolve: func(p gql.ResolveParams) (any, error) {
			r, err := registry(p.Context)
			if err != nil {
				return nil, err
			}
			return r.Risk(p.Source.(*assets.Asset)), nil
		}}
	})
	ExtendAsset("recalls", func() *gql.Field {
		return &gql.Field{Type: nonNullList(recallType), Resolve: func(p gql.ResolveParams) (any, error) {
			r, err := registry(p.Context)
			if err != nil {
				return nil, err
			}
			list := r.RecallsFor(p.Source.(*assets.Asset))
			if list == nil {
				list = []*assets.Recall{}
			}
			return list, nil
		}}
	})
	ExtendAsset("upstream", func() *gql.Field {
		return &gql.Field{Type: nonNullList(relationObject()), Description: "What this asset depends on.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				a := p.Source.(*assets.Asset)
				out := make([]relationView, 0, len(a.Upstream))
				for _, r := range a.Upstream {
					out = append(out, relationView{Relation: r, other: r.Target})
				}
				return out, nil
			}}
	})
	ExtendAsset("dependents", func() *gql.Field {
		return &gql.Field{Type: nonNullList(relationObject()), Description: "What depends on this asset.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return nil, err
				}
				a := p.Source.(*assets.Asset)
				out := []relationView{}
				for _, id := range r.Dependents(a.ID) {
					d, ok := r.Get(id)
					if !ok {
						continue
					}
					for _, rel := range d.Upstream {
						if rel.Target == a.ID {
							out = append(out, relationView{Relation: rel, other: d.ID})
						}
					}
				}
				return out, nil
			}}
	})
	ExtendAsset("history", func() *gql.Field {
		return &gql.Field{
			Type:        nonNullList(assetChangeType),
			Description: "Field-level changes, newest first; after: the cursor of the last entry read.",
			Args:        gql.FieldConfigArgument{"first": {Type: gql.Int, DefaultValue: 50}, "after": {Type: gql.String}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				x := p.Source.(*assets.Asset)
				first, _ := p.Args["first"].(int)
				if first < 0 || first > MaxPageSize {
					return nil, errorf(CodeBadUserInput, "history.first: must be between 0 and %d", MaxPageSize)
				}
				after, _ := p.Args["after"].(string)
				before, err := parseHistoryCursor(after)
				if err != nil {
					return nil, err
				}
				var cs []assets.Change
				if r, rerr := registry(p.Context); rerr == nil {
					cs, err = r.HistoryBefore(p.Context, x, before, first)
				} else if before < 0 {
					cs, err = deps(p.Context).Assets.History(p.Context, x, first)
				}
				if err != nil {
					return nil, internal(err)
				}
				if cs == nil {
					cs = []assets.Change{}
				}
				return cs, nil
			},
		}
	})
}
