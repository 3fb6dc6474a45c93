package graphql

import (
	"context"
	"errors"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// incidentExtras is what the incident fields and mutations of this file need beyond
// the core Incidents interface; the engine provides it.
type incidentExtras interface {
	AddNote(ctx context.Context, id, actor, note string) (*incidents.Incident, error)
	RootStats(id string) incidents.RootStats
	Linked(id string, limit int) []*incidents.Incident
	Maintenance() *incidents.Maintenance
	InMaintenance(i *incidents.Incident) *incidents.Window
}

func extras(ctx context.Context) (incidentExtras, error) {
	if x, ok := deps(ctx).Incidents.(incidentExtras); ok {
		return x, nil
	}
	return nil, errorf(CodeUnavailable, "the incident engine does not offer this")
}

func maintenance(ctx context.Context) (*incidents.Maintenance, error) {
	x, err := extras(ctx)
	if err != nil {
		return nil, err
	}
	m := x.Maintenance()
	if m == nil {
		return nil, errorf(CodeUnavailable, "maintenance windows are not available on this server")
	}
	return m, nil
}

// maintenanceError maps maintenance errors to codes.
func maintenanceError(err error) error {
	if errors.Is(err, incidents.ErrInvalidWindow) {
		return errorf(CodeBadUserInput, "%v", err)
	}
	return internal(err)
}

var maintenanceWindowType = gql.NewObject(gql.ObjectConfig{
	Name:        "MaintenanceWindow",
	Description: "While active, incidents of what it covers are recorded but not notified, and their SLA clocks stand still.",
	Fields: gql.FieldsThunk(func() gql.Fields {
		w := func(f func(*incidents.Window) any) gql.FieldResolveFn { return field(f) }
		return gql.Fields{
			"id":       {Type: gql.NewNonNull(gql.ID), Resolve: w(func(x *incidents.Window) any { return x.ID })},
			"assetId":  {Type: gql.ID, Resolve: w(func(x *incidents.Window) any { return orNil(x.AssetID) })},
			"class":    {Type: assetClassEnum, Resolve: w(func(x *incidents.Window) any { return orNil(x.Class) })},
			"site":     {Type: gql.String, Resolve: w(func(x *incidents.Window) any { return orNil(x.Site) })},
			"careArea": {Type: gql.String, Resolve: w(func(x *incidents.Window) any { return orNil(x.CareArea) })},
			"asset": {Type: assetType, Resolve: func(p gql.ResolveParams) (any, error) {
				x := p.Source.(*incidents.Window)
				if a, ok := deps(p.Context).Assets.Get(x.AssetID); ok && x.AssetID != "" {
					return a, nil
				}
				return nil, nil
			}},
			"start":       {Type: gql.NewNonNull(timeScalar), Resolve: w(func(x *incidents.Window) any { return x.Start })},
			"end":         {Type: gql.NewNonNull(timeScalar), Resolve: w(func(x *incidents.Window) any { return x.End })},
			"reason":      {Type: gql.NewNonNull(gql.String), Resolve: w(func(x *incidents.Window) any { return x.Reason })},
			"createdBy":   {Type: gql.NewNonNull(gql.String), Resolve: w(func(x *incidents.Window) any { return x.CreatedBy })},
			"createdAt":   {Type: gql.NewNonNull(timeScalar), Resolve: w(func(x *incidents.Window) any { return x.CreatedAt })},
			"cancelledAt": {Type: timeScalar, Resolve: w(func(x *incidents.Window) any { return x.CancelledAt })},
			"cancelledBy": {Type: gql.String, Resolve: w(func(x *incidents.Window) any { return orNil(x.CancelledBy) })},
			"active":      {Type: gql.NewNonNull(gql.Boolean), Resolve: w(func(x *incidents.Window) any { return x.ActiveAt(nowFunc()) })},
		}
	}),
})

var maintenanceWindowInput = gql.NewInputObject(gql.InputObjectConfig{
	Name:        "MaintenanceWindowInput",
	Description: "Scope (at least one of assetId, class, site, careArea; all given must match) and time span.",
	Fields: gql.InputObjectConfigFieldMap{
		"assetId":  {Type: gql.ID},
		"class":    {Type: assetClassEnum},
		"site":     {Type: gql.String},
		"careArea": {Type: gql.String},
		"start":    {Type: timeScalar, Description: "Default: now. May lie in the future."},
		"end":      {Type: gql.NewNonNull(timeScalar)},
		"reason":   {Type: gql.NewNonNull(gql.String)},
	},
})

// rootStats resolves a correlation figure of an incident.
func rootStats(f func(incidents.RootStats) any) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		x, err := extras(p.Context)
		if err != nil {
			return nil, err
		}
		return f(x.RootStats(p.Source.(*incidents.Incident).ID)), nil
	}
}

func init() {
	i := func(f func(*incidents.Incident) any) gql.FieldResolveFn { return field(f) }
	ExtendIncident("flapping", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Description: "The condition changed state often enough to count as flapping; one incident stands for the episode.",
			Resolve: i(func(x *incidents.Incident) any { return x.Flapping })}
	})
	ExtendIncident("suppressedCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Open incidents (not devices) suppressed by this one (as their root cause) now; see suppressedDeviceCount for devices.",
			Resolve: rootStats(func(s incidents.RootStats) any { return s.Suppressed })}
	})
	ExtendIncident("impactedCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Incidents (not devices) ever linked to this one as their root cause; see impactedDeviceCount for devices.",
			Resolve: rootStats(func(s incidents.RootStats) any { return s.Impacted })}
	})
	ExtendIncident("worstImpact", func() *gql.Field {
		return &gql.Field{Type: gql.String, Description: `The most critical device this root took down, e.g. "P1: PATIENT_MONITOR in ICU".`,
			Resolve: rootStats(func(s incidents.RootStats) any { return orNil(s.Worst) })}
	})
	ExtendIncident("dependents", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Devices depending on the asset when the incident opened (blast radius).",
			Resolve: i(func(x *incidents.Incident) any { return x.Dependents })}
	})
	ExtendIncident("linkedIncidents", func() *gql.Field {
		return &gql.Field{Type: nonNullList(incidentType), Description: "Incidents linked to this root, newest first.",
			Args: gql.FieldConfigArgument{"first": {Type: gql.Int, DefaultValue: 50}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				first, _ := p.Args["first"].(int)
				if first < 0 || first > MaxPageSize {
					return nil, errorf(CodeBadUserInput, "linkedIncidents.first: must be between 0 and %d", MaxPageSize)
				}
				x, err := extras(p.Context)
				if err != nil {
					return nil, err
				}
				list := x.Linked(p.Source.(*incidents.Incident).ID, first)
				if list == nil {
					list = []*incidents.Incident{}
				}
				return list, nil
			}}
	})
	ExtendIncident("escalationLevel", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Escalation levels of the policy passed so far.",
			Resolve: i(func(x *incidents.Incident) any { return x.EscalationLevel })}
	})
	ExtendIncident("notified", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Description: "The service desk was sent this incident.",
			Resolve: i(func(x *incidents.Incident) any { return x.Notified })}
	})
	ExtendIncident("maintenanceWindow", func() *gql.Field {
		return &gql.Field{Type: maintenanceWindowType, Description: "The maintenance window covering the incident now, if any.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				x, err := extras(p.Context)
				if err != nil {
					return nil, err
				}
				if w := x.InMaintenance(p.Source.(*incidents.Incident)); w != nil {
					return w, nil
				}
				return nil, nil
			}}
	})

	RegisterMutation("addIncidentNote", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(incidentType),
			Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "note": {Type: gql.NewNonNull(gql.String)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				note, err := noteArg(p.Args)
				if err != nil {
					return nil, err
				}
				if strings.TrimSpace(note) == "" {
					return nil, errorf(CodeBadUserInput, "note: must not be empty")
				}
				x, err := extras(p.Context)
				if err != nil {
					return nil, err
				}
				inc, err := x.AddNote(p.Context, str(p.Args, "id"), actor(p.Context), note)
				return inc, internal(err)
			}}
	}, deskers...)

	RegisterQuery("maintenanceWindows", func() *gql.Field {
		return &gql.Field{Type: nonNullList(maintenanceWindowType),
			Description: "Maintenance windows not yet over (scheduled or active); all of them with includeEnded.",
			Args:        gql.FieldConfigArgument{"includeEnded": {Type: gql.Boolean, DefaultValue: false}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				m, err := maintenance(p.Context)
				if err != nil {
					return nil, err
				}
				ended, _ := p.Args["includeEnded"].(bool)
				list := m.List(ended)
				if list == nil {
					list = []*incidents.Window{}
				}
				return list, nil
			}}
	}, readers...)

	RegisterMutation("createMaintenanceWindow", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(maintenanceWindowType),
			Args: gql.FieldConfigArgument{"input": {Type: gql.NewNonNull(maintenanceWindowInput)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				m, err := maintenance(p.Context)
				if err != nil {
					return nil, err
				}
				in, _ := p.Args["input"].(map[string]any)
				w := incidents.Window{
					AssetID: str(in, "assetId"), Class: str(in, "class"), Site: str(in, "site"), CareArea: str(in, "careArea"),
					Reason: str(in, "reason"), CreatedBy: actor(p.Context), Start: nowFunc().UTC(),
				}
				if t, ok := in["start"].(time.Time); ok {
					w.Start = t
				} else if in["start"] != nil {
					return nil, errorf(CodeBadUserInput, "start: not an RFC 3339 time")
				}
				end, ok := in["end"].(time.Time)
				if !ok {
					return nil, errorf(CodeBadUserInput, "end: not an RFC 3339 time")
				}
				w.End = end
				if w.AssetID != "" {
					if _, ok := deps(p.Context).Assets.Get(w.AssetID); !ok {
						return nil, notFound("asset", w.AssetID)
					}
				}
				out, err := m.Create(p.Context, w)
				if err != nil {
					return nil, maintenanceError(err)
				}
				return out, nil
			}}
	}, deskers...)

	RegisterMutation("cancelMaintenanceWindow", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(maintenanceWindowType),
			Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				m, err := maintenance(p.Context)
				if err != nil {
					return nil, err
				}
				out, err := m.Cancel(p.Context, str(p.Args, "id"), actor(p.Context))
				if err != nil {
					return nil, maintenanceError(err)
				}
				return out, nil
			}}
	}, deskers...)
}
