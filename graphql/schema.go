// Package graphql adapts the asset registry and the incident engine to the GraphQL API
// of CONTRACT.md: schema, resolvers, authentication and authorisation, limits.
package graphql

import (
	"context"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Assets is what the API reads of the asset registry.
type Assets interface {
	List(f assets.Filter, offset, limit int) ([]*assets.Asset, int)
	Get(id string) (*assets.Asset, bool)
	History(ctx context.Context, a *assets.Asset, first int) ([]assets.Change, error)
}

// Incidents is what the API uses of the incident engine.
type Incidents interface {
	List(f incidents.Filter, offset, limit int) ([]*incidents.Incident, int)
	Get(id string) (*incidents.Incident, bool)
	Acknowledge(ctx context.Context, id, actor, note string) (*incidents.Incident, error)
	Resolve(ctx context.Context, id, actor, note string) (*incidents.Incident, error)
}

// Reporter applies observation batches from collectors.
type Reporter interface {
	Report(ctx context.Context, collector string, obs []observation.Observation) (*observation.ReportResult, error)
}

// Authenticator resolves bearer tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*auth.Principal, error)
}

// Deps are the domain services the API adapts.
type Deps struct {
	Assets    Assets
	Incidents Incidents
	Reporter  Reporter
	Tokens    TokenAdmin
	Audit     Auditor
	// Problems, Advisories and Rogue may be nil: their fields then answer UNAVAILABLE.
	Problems   ProblemService
	Advisories AdvisoryService
	Rogue      RogueService
}

// MaxPageSize bounds `first` on every connection.
const MaxPageSize = 500

func enumOf[T ~string](name, desc string, values []T) *gql.Enum {
	cfg := gql.EnumValueConfigMap{}
	for _, v := range values {
		cfg[string(v)] = &gql.EnumValueConfig{Value: string(v)}
	}
	return gql.NewEnum(gql.EnumConfig{Name: name, Description: desc, Values: cfg})
}

var (
	assetClassEnum    = enumOf("AssetClass", "Device class.", assets.Classes)
	assetStatusEnum   = enumOf("AssetStatus", "Operational status of an asset.", assets.Statuses)
	priorityEnum      = enumOf("Priority", "ITIL priority, P1 most urgent.", incidents.Priorities)
	incidentStateEnum = enumOf("IncidentState", "Incident lifecycle state.",
		[]incidents.State{incidents.StateOpen, incidents.StateAcknowledged, incidents.StateResolved})
)

// nonNullList is [T!]!.
func nonNullList(t gql.Type) gql.Type { return gql.NewNonNull(gql.NewList(gql.NewNonNull(t))) }

var pageInfoType = gql.NewObject(gql.ObjectConfig{
	Name: "PageInfo",
	Fields: gql.Fields{
		"hasNextPage": {Type: gql.NewNonNull(gql.Boolean)},
		"endCursor":   {Type: gql.String},
	},
})

var locationType = gql.NewObject(gql.ObjectConfig{
	Name: "Location",
	Fields: gql.Fields{
		"building": {Type: gql.String}, "floor": {Type: gql.String}, "unit": {Type: gql.String},
		"careArea": {Type: gql.String}, "room": {Type: gql.String}, "bed": {Type: gql.String},
	},
})

var assetChangeType = gql.NewObject(gql.ObjectConfig{
	Name:        "AssetChange",
	Description: "One field-level change of an asset, append-only.",
	Fields: gql.Fields{
		"at":        {Type: gql.NewNonNull(timeScalar)},
		"source":    {Type: gql.NewNonNull(gql.String)},
		"actor":     {Type: gql.NewNonNull(gql.String)},
		"requestId": {Type: gql.String},
		"field":     {Type: gql.NewNonNull(gql.String)},
		"before":    {Type: gql.String, Resolve: emptyNil(func(c assets.Change) string { return c.Before })},
		"after":     {Type: gql.String, Resolve: emptyNil(func(c assets.Change) string { return c.After })},
	},
})

var incidentEventType = gql.NewObject(gql.ObjectConfig{
	Name: "IncidentEvent",
	Fields: gql.Fields{
		"at":    {Type: gql.NewNonNull(timeScalar)},
		"kind":  {Type: gql.NewNonNull(gql.String)},
		"actor": {Type: gql.NewNonNull(gql.String)},
		"note":  {Type: gql.String},
	},
})

var rejectionType = gql.NewObject(gql.ObjectConfig{
	Name: "RejectedObservation",
	Fields: gql.Fields{
		"id":     {Type: gql.NewNonNull(gql.String)},
		"reason": {Type: gql.NewNonNull(gql.String)},
	},
})

var reportResultType = gql.NewObject(gql.ObjectConfig{
	Name: "ReportResult",
	Fields: gql.Fields{
		"accepted":   {Type: gql.NewNonNull(gql.Int), Description: "Observations applied now."},
		"duplicates": {Type: gql.NewNonNull(gql.Int), Description: "Observations already applied (replays)."},
		"rejected":   {Type: nonNullList(rejectionType), Description: "Invalid observations; resending will not help."},
		"assetIds":   {Type: gql.NewList(gql.ID), Description: "The asset of each observation, in batch order (null when rejected)."},
	},
})

// emptyNil resolves a string field of T to null when empty.
func emptyNil[T any](f func(T) string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		v, ok := p.Source.(T)
		if !ok {
			return nil, nil
		}
		if s := f(v); s != "" {
			return s, nil
		}
		return nil, nil
	}
}

// Input types for collectors. Enum-like fields are strings validated per observation,
// so one bad observation (or a newer collector) is rejected alone, not the batch.
var (
	addressInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "AddressInput",
		Fields: gql.InputObjectConfigFieldMap{
			"ip": {Type: gql.NewNonNull(gql.String)}, "port": {Type: gql.Int},
		},
	})
	identityInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "IdentityInput",
		Fields: gql.InputObjectConfigFieldMap{
			"eui64": {Type: gql.String}, "manufacturer": {Type: gql.String}, "model": {Type: gql.String},
			"serial": {Type: gql.String}, "macs": {Type: gql.NewList(gql.NewNonNull(gql.String))},
			"sysName": {Type: gql.String}, "sysObjectID": {Type: gql.String}, "sysDescr": {Type: gql.String},
			"firmware": {Type: gql.String}, "software": {Type: gql.String}, "mdcCode": {Type: gql.String},
			"class": {Type: gql.String}, "hl7App": {Type: gql.String},
		},
	})
	locationInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "LocationInput",
		Fields: gql.InputObjectConfigFieldMap{
			"building": {Type: gql.String}, "floor": {Type: gql.String}, "unit": {Type: gql.String},
			"careArea": {Type: gql.String}, "room": {Type: gql.String}, "bed": {Type: gql.String},
			"raw": {Type: gql.String},
		},
	})
	neighborInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "NeighborInput",
		Fields: gql.InputObjectConfigFieldMap{
			"kind": {Type: gql.NewNonNull(gql.String)}, "ip": {Type: gql.String}, "mac": {Type: gql.String},
			"sysName": {Type: gql.String}, "hl7App": {Type: gql.String}, "port": {Type: gql.String},
		},
	})
	observationInput = gql.NewInputObject(gql.InputObjectConfig{
		Name:        "ObservationInput",
		Description: "What a collector saw about one device at one moment (DESIGN §3).",
		Fields: gql.InputObjectConfigFieldMap{
			"id":                 {Type: gql.NewNonNull(gql.String)},
			"collector":          {Type: gql.NewNonNull(gql.String)},
			"site":               {Type: gql.String},
			"observedAt":         {Type: gql.NewNonNull(timeScalar)},
			"validUntil":         {Type: timeScalar},
			"source":             {Type: gql.NewNonNull(gql.String), Description: "SNMP_POLL, SNMP_SWEEP, SNMP_TRAP or HL7."},
			"kind":               {Type: gql.String, Description: "DISCOVERED, CHANGE, REFRESH or EVENT."},
			"address":            {Type: addressInput},
			"identity":           {Type: identityInput},
			"location":           {Type: locationInput},
			"neighbors":          {Type: gql.NewList(gql.NewNonNull(neighborInput))},
			"state":              {Type: gql.NewNonNull(gql.String), Description: "UP, DOWN or DEGRADED."},
			"condition":          {Type: gql.String},
			"conditions":         {Type: gql.NewList(gql.NewNonNull(gql.String)), Description: "Full set of active conditions of this source; null for a delta."},
			"detail":             {Type: gql.String},
			"patientConnected":   {Type: gql.Boolean},
			"upstreamAnsweredAt": {Type: timeScalar, Description: "On a DOWN: when the device's upstream switch last answered, given only when that was after the device stopped answering (no correlation wait is needed)."},
		},
	})
	observationBatchInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "ObservationBatch",
		Fields: gql.InputObjectConfigFieldMap{
			"collector":    {Type: gql.NewNonNull(gql.String)},
			"observations": {Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(observationInput)))},
		},
	})
	assetFilterInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "AssetFilter",
		Fields: gql.InputObjectConfigFieldMap{
			"class": {Type: assetClassEnum}, "status": {Type: assetStatusEnum}, "site": {Type: gql.String},
			"careArea": {Type: gql.String}, "ip": {Type: gql.String}, "serialNumber": {Type: gql.String},
			"search": {Type: gql.String},
		},
	})
	incidentFilterInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "IncidentFilter",
		Fields: gql.InputObjectConfigFieldMap{
			"state": {Type: incidentStateEnum}, "priority": {Type: priorityEnum}, "assetId": {Type: gql.ID},
			"site": {Type: gql.String}, "careArea": {Type: gql.String}, "open": {Type: gql.Boolean},
			"suppressed": {Type: gql.Boolean, Description: "true: only incidents suppressed by a root cause (a resolved one: when it resolved); false: only the others, what someone has to act on."},
		},
	})
)
