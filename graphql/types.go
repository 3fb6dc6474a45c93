package graphql

import (
	"sync"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// field resolves from the source value of type T.
func field[T any](f func(T) any) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		v, ok := p.Source.(T)
		if !ok {
			return nil, nil
		}
		return f(v), nil
	}
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var (
	assetType    *gql.Object
	incidentType *gql.Object
)

func init() {
	assetType = gql.NewObject(gql.ObjectConfig{
		Name:        "Asset",
		Description: "One real device, however many sources saw it.",
		Fields: gql.FieldsThunk(func() gql.Fields {
			a := func(f func(*assets.Asset) any) gql.FieldResolveFn { return field(f) }
			return buildFields(gql.Fields{
				"id":              {Type: gql.NewNonNull(gql.ID), Resolve: a(func(x *assets.Asset) any { return x.ID })},
				"name":            {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.Name) })},
				"class":           {Type: gql.NewNonNull(assetClassEnum), Resolve: a(func(x *assets.Asset) any { return string(x.Class) })},
				"status":          {Type: gql.NewNonNull(assetStatusEnum), Resolve: a(func(x *assets.Asset) any { return string(x.Status) })},
				"manufacturer":    {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.Manufacturer) })},
				"model":           {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.Model) })},
				"serialNumber":    {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SerialNumber) })},
				"firmwareVersion": {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.FirmwareVersion) })},
				"softwareVersion": {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SoftwareVersion) })},
				"sysObjectID":     {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SysObjectID) })},
				"sysDescr":        {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SysDescr) })},
				"sysName":         {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SysName) })},
				"sysLocation":     {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.SysLocation) })},
				"eui64":           {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.EUI64) })},
				"ipAddresses":     {Type: nonNullList(gql.String), Resolve: a(func(x *assets.Asset) any { return nonNilStrings(x.IPAddresses) })},
				"macAddresses":    {Type: nonNullList(gql.String), Resolve: a(func(x *assets.Asset) any { return nonNilStrings(x.MACAddresses) })},
				"site":            {Type: gql.String, Resolve: a(func(x *assets.Asset) any { return orNil(x.Site) })},
				"location": {Type: locationType, Resolve: a(func(x *assets.Asset) any {
					if x.Location.IsZero() {
						return nil
					}
					l := x.Location
					return map[string]any{"building": orNil(l.Building), "floor": orNil(l.Floor), "unit": orNil(l.Unit),
						"careArea": orNil(l.CareArea), "room": orNil(l.Room), "bed": orNil(l.Bed)}
				})},
				"sources":          {Type: nonNullList(gql.String), Resolve: a(func(x *assets.Asset) any { return nonNilStrings(x.Sources) })},
				"firstSeenAt":      {Type: gql.NewNonNull(timeScalar), Resolve: a(func(x *assets.Asset) any { return x.FirstSeenAt })},
				"lastSeenAt":       {Type: timeScalar, Resolve: a(func(x *assets.Asset) any { return x.LastSeenAt })},
				"patientConnected": {Type: gql.NewNonNull(gql.Boolean), Resolve: a(func(x *assets.Asset) any { return x.PatientConnected })},
				"activeConditions": {Type: nonNullList(gql.String), Resolve: a(func(x *assets.Asset) any { return nonNilStrings(x.ActiveConditions()) })},
				"incidents": {
					Type: nonNullList(incidentType),
					Args: gql.FieldConfigArgument{"open": {Type: gql.Boolean}},
					Resolve: func(p gql.ResolveParams) (any, error) {
						x := p.Source.(*assets.Asset)
						f := incidents.Filter{AssetID: x.ID}
						if v, ok := p.Args["open"].(bool); ok {
							f.Open = &v
						}
						list, _ := deps(p.Context).Incidents.List(f, 0, MaxPageSize)
						if list == nil {
							list = []*incidents.Incident{}
						}
						return list, nil
					},
				},
			}, assetBuilders)
		}),
	})

	incidentType = gql.NewObject(gql.ObjectConfig{
		Name:        "Incident",
		Description: "One failure of one asset, clinically weighted.",
		Fields: gql.FieldsThunk(func() gql.Fields {
			i := func(f func(*incidents.Incident) any) gql.FieldResolveFn { return field(f) }
			return buildFields(gql.Fields{
				"id":     {Type: gql.NewNonNull(gql.ID), Resolve: i(func(x *incidents.Incident) any { return x.ID })},
				"number": {Type: gql.NewNonNull(gql.String), Resolve: i(func(x *incidents.Incident) any { return x.Number })},
				"title":  {Type: gql.NewNonNull(gql.String), Resolve: i(func(x *incidents.Incident) any { return x.Title })},
				"asset": {Type: assetType, Resolve: func(p gql.ResolveParams) (any, error) {
					a, ok := deps(p.Context).Assets.Get(p.Source.(*incidents.Incident).AssetID)
					if !ok {
						return nil, nil
					}
					return a, nil
				}},
				"condition":      {Type: gql.NewNonNull(gql.String), Resolve: i(func(x *incidents.Incident) any { return x.Condition })},
				"priority":       {Type: gql.NewNonNull(priorityEnum), Resolve: i(func(x *incidents.Incident) any { return string(x.Priority) })},
				"impact":         {Type: gql.NewNonNull(gql.Int), Description: "1 low, 2 medium, 3 high.", Resolve: i(func(x *incidents.Incident) any { return x.Impact })},
				"urgency":        {Type: gql.NewNonNull(gql.Int), Description: "1 low, 2 medium, 3 high.", Resolve: i(func(x *incidents.Incident) any { return x.Urgency })},
				"priorityReason": {Type: gql.NewNonNull(gql.String), Resolve: i(func(x *incidents.Incident) any { return x.PriorityReason })},
				"state":          {Type: gql.NewNonNull(incidentStateEnum), Resolve: i(func(x *incidents.Incident) any { return string(x.State) })},
				"suppressed":     {Type: gql.NewNonNull(gql.Boolean), Resolve: i(func(x *incidents.Incident) any { return x.Suppressed })},
				"suppressedBy": {Type: incidentType, Resolve: func(p gql.ResolveParams) (any, error) {
					x := p.Source.(*incidents.Incident)
					if x.SuppressedBy == "" {
						return nil, nil
					}
					r, ok := deps(p.Context).Incidents.Get(x.SuppressedBy)
					if !ok {
						return nil, nil
					}
					return r, nil
				}},
				"openedAt":       {Type: gql.NewNonNull(timeScalar), Resolve: i(func(x *incidents.Incident) any { return x.OpenedAt })},
				"acknowledgedAt": {Type: timeScalar, Resolve: i(func(x *incidents.Incident) any { return x.AcknowledgedAt })},
				"resolvedAt":     {Type: timeScalar, Resolve: i(func(x *incidents.Incident) any { return x.ResolvedAt })},
				"ackDueAt":       {Type: timeScalar, Resolve: i(func(x *incidents.Incident) any { return x.AckDueAt })},
				"resolveDueAt":   {Type: timeScalar, Resolve: i(func(x *incidents.Incident) any { return x.ResolveDueAt })},
				"slaBreached":    {Type: gql.NewNonNull(gql.Boolean), Resolve: i(func(x *incidents.Incident) any { return x.SLABreached(nowFunc()) })},
				"site":           {Type: gql.String, Resolve: i(func(x *incidents.Incident) any { return orNil(x.Site) })},
				"careArea":       {Type: gql.String, Resolve: i(func(x *incidents.Incident) any { return orNil(x.CareArea) })},
				"timeline": {Type: nonNullList(incidentEventType), Resolve: i(func(x *incidents.Incident) any {
					out := make([]map[string]any, len(x.Timeline))
					for k, e := range x.Timeline {
						out[k] = map[string]any{"at": e.At, "kind": e.Kind, "actor": e.Actor, "note": orNil(e.Note)}
					}
					return out
				})},
			}, incidentBuilders)
		}),
	})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var (
	schemaOnce sync.Once
	schema     gql.Schema
	schemaErr  error
)

// Schema returns the API schema (built once; resolvers take their services from the
// request context).
func Schema() (gql.Schema, error) {
	schemaOnce.Do(func() { schema, schemaErr = buildSchema() })
	return schema, schemaErr
}

func buildSchema() (gql.Schema, error) {
	query := gql.NewObject(gql.ObjectConfig{Name: "Query", Fields: buildFields(nil, queryBuilders)})
	mutation := gql.NewObject(gql.ObjectConfig{Name: "Mutation", Fields: buildFields(nil, mutationBuilders)})
	s, err := gql.NewSchema(gql.SchemaConfig{Query: query, Mutation: mutation, Types: []gql.Type{timeScalar}})
	if err == nil {
		stopWhenCancelled(s)
	}
	return s, err
}

// pageArgs are the arguments of a connection field.
func pageArgs(filter gql.Input) gql.FieldConfigArgument {
	return gql.FieldConfigArgument{
		"filter": {Type: filter},
		"first":  {Type: gql.Int, DefaultValue: 50},
		"after":  {Type: gql.String},
	}
}

func init() {
	var assetConn, incidentConn *gql.Object
	connections := func() {
		if assetConn == nil {
			assetConn = connectionType("AssetConnection", assetType)
			incidentConn = connectionType("IncidentConnection", incidentType)
		}
	}
	RegisterQuery("assets", func() *gql.Field {
		connections()
		return &gql.Field{Type: gql.NewNonNull(assetConn), Args: pageArgs(assetFilterInput),
			Resolve: func(p gql.ResolveParams) (any, error) {
				off, lim, err := page(p.Args)
				if err != nil {
					return nil, err
				}
				nodes, total := deps(p.Context).Assets.List(assetFilter(p.Args), off, lim)
				return makeConnection(nodes, total, off), nil
			}}
	}, readers...)
	RegisterQuery("asset", func() *gql.Field {
		return &gql.Field{Type: assetType, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				a, ok := deps(p.Context).Assets.Get(str(p.Args, "id"))
				if !ok {
					return nil, nil
				}
				return a, nil
			}}
	}, readers...)
	RegisterQuery("incidents", func() *gql.Field {
		connections()
		return &gql.Field{Type: gql.NewNonNull(incidentConn), Args: incidentsArgs(), Resolve: resolveIncidents}
	}, readers...)
	RegisterQuery("incident", func() *gql.Field {
		return &gql.Field{Type: incidentType, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				i, ok := deps(p.Context).Incidents.Get(str(p.Args, "id"))
				if !ok {
					return nil, nil
				}
				return i, nil
			}}
	}, readers...)

	RegisterMutation("reportObservations", func() *gql.Field {
		return &gql.Field{
			Type: gql.NewNonNull(reportResultType),
			Args: gql.FieldConfigArgument{"batch": {Type: gql.NewNonNull(observationBatchInput)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				collector, obs, err := decodeBatch(p.Args)
				if err != nil {
					return nil, err
				}
				if err := checkReporter(p.Context, collector, obs); err != nil {
					return nil, err
				}
				res, err := deps(p.Context).Reporter.Report(p.Context, collector, obs)
				if err != nil {
					return nil, internal(err)
				}
				rej := make([]map[string]any, len(res.Rejected))
				for k, r := range res.Rejected {
					rej[k] = map[string]any{"id": r.ID, "reason": r.Reason}
				}
				ids := make([]any, len(res.AssetIDs))
				for k, id := range res.AssetIDs {
					if id != "" {
						ids[k] = id
					}
				}
				return map[string]any{"accepted": res.Accepted, "duplicates": res.Duplicates, "rejected": rej, "assetIds": ids}, nil
			},
		}
	}, reporter...)
	noteArgs := gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "note": {Type: gql.String}}
	RegisterMutation("acknowledgeIncident", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(incidentType), Args: noteArgs,
			Resolve: func(p gql.ResolveParams) (any, error) {
				note, err := noteArg(p.Args)
				if err != nil {
					return nil, err
				}
				i, err := deps(p.Context).Incidents.Acknowledge(p.Context, str(p.Args, "id"), actor(p.Context), note)
				return i, internal(err)
			}}
	}, deskers...)
	RegisterMutation("resolveIncident", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(incidentType), Args: noteArgs,
			Resolve: func(p gql.ResolveParams) (any, error) {
				note, err := noteArg(p.Args)
				if err != nil {
					return nil, err
				}
				i, err := deps(p.Context).Incidents.Resolve(p.Context, str(p.Args, "id"), actor(p.Context), note)
				return i, internal(err)
			}}
	}, deskers...)
}
