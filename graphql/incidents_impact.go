package graphql

import (
	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

// impactSource is what the impact fields read of the engine: what a root incident took
// down, by device and by incident.
type impactSource interface {
	Impact(id string) incidents.Impact
}

// impact resolves a figure of what an incident took down as a root cause.
func impact(f func(incidents.Impact) any) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		x, ok := deps(p.Context).Incidents.(impactSource)
		if !ok {
			return nil, errorf(CodeUnavailable, "the incident engine does not offer this")
		}
		return f(x.Impact(p.Source.(*incidents.Incident).ID)), nil
	}
}

// A root incident's figures come in devices and in incidents, named so: one device
// may have two incidents under one root (SNMP unreachable and HL7 heartbeat lost), so
// a switch that took down 33 devices may carry 56 incidents.
func init() {
	ExtendIncident("suppressedIncidentCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Open incidents suppressed by this one (their root cause) now. Same as suppressedCount.",
			Resolve: impact(func(im incidents.Impact) any { return im.SuppressedIncidents })}
	})
	ExtendIncident("suppressedDeviceCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Other devices with an open incident suppressed by this one now (its own device's other conditions count as incidents only).",
			Resolve: impact(func(im incidents.Impact) any { return im.SuppressedDevices })}
	})
	ExtendIncident("impactedIncidentCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Incidents ever linked to this one as their root cause. Same as impactedCount.",
			Resolve: impact(func(im incidents.Impact) any { return im.Incidents })}
	})
	ExtendIncident("impactedDeviceCount", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Int), Description: "Devices this one took down: other devices with an incident ever linked to it as their root cause.",
			Resolve: impact(func(im incidents.Impact) any { return len(im.Devices) })}
	})
	ExtendIncident("impactedDevices", func() *gql.Field {
		return &gql.Field{Type: nonNullList(assetType),
			Description: "The devices counted by impactedDeviceCount, in the order they were taken down (a device removed from the inventory since is left out).",
			Args:        gql.FieldConfigArgument{"first": {Type: gql.Int, DefaultValue: 100}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				first, _ := p.Args["first"].(int)
				if first < 0 || first > MaxPageSize {
					return nil, errorf(CodeBadUserInput, "impactedDevices.first: must be between 0 and %d", MaxPageSize)
				}
				x, ok := deps(p.Context).Incidents.(impactSource)
				if !ok {
					return nil, errorf(CodeUnavailable, "the incident engine does not offer this")
				}
				out := []*assets.Asset{}
				for _, id := range x.Impact(p.Source.(*incidents.Incident).ID).Devices {
					if len(out) == first {
						break
					}
					if a, ok := deps(p.Context).Assets.Get(id); ok {
						out = append(out, a)
					}
				}
				return out, nil
			}}
	})
}
