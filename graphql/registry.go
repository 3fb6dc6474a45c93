package graphql

import (
	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
)

// The schema is assembled from registrations so that each domain (assets, incidents,
// tokens, ...) keeps its fields in its own file: register from an init function.
// Registrations are builder functions, run when the schema is built, so they may
// refer to any type whatever the order in which files initialise.
type fieldBuilder struct {
	name  string
	build func() *gql.Field
}

var (
	queryBuilders    []fieldBuilder
	mutationBuilders []fieldBuilder
	assetBuilders    []fieldBuilder
	incidentBuilders []fieldBuilder
)

// RegisterQuery adds a root query field callable by roles.
func RegisterQuery(name string, build func() *gql.Field, roles ...auth.Role) {
	FieldRoles[name] = roles
	queryBuilders = append(queryBuilders, fieldBuilder{name, guarded(name, build)})
}

// RegisterMutation adds a root mutation field callable by roles. Every call is audited.
func RegisterMutation(name string, build func() *gql.Field, roles ...auth.Role) {
	FieldRoles[name] = roles
	mutationBuilders = append(mutationBuilders, fieldBuilder{name, audited(name, guarded(name, build))})
}

// ExtendAsset adds a field to the Asset object.
func ExtendAsset(name string, build func() *gql.Field) {
	assetBuilders = append(assetBuilders, fieldBuilder{name, build})
}

// ExtendIncident adds a field to the Incident object.
func ExtendIncident(name string, build func() *gql.Field) {
	incidentBuilders = append(incidentBuilders, fieldBuilder{name, build})
}

func guarded(name string, build func() *gql.Field) func() *gql.Field {
	return func() *gql.Field {
		f := build()
		f.Resolve = allow(name, f.Resolve)
		return f
	}
}

// audited records every call of a mutation, allowed or not, with its outcome.
func audited(name string, build func() *gql.Field) func() *gql.Field {
	return func() *gql.Field {
		f := build()
		inner := f.Resolve
		f.Resolve = func(p gql.ResolveParams) (any, error) {
			v, err := inner(p)
			d := deps(p.Context)
			if d == nil || d.Audit == nil {
				return v, err
			}
			e := audit.Entry{Operation: name, OK: err == nil, Remote: remoteAddr(p.Context), RequestID: RequestID(p.Context)}
			if pr := auth.FromContext(p.Context); pr != nil {
				e.Actor, e.Role, e.TokenID = pr.Name, string(pr.Role), pr.TokenID
			}
			e.Target, e.Summary = summarize(name, p.Args)
			if err != nil {
				e.Error = err.Error()
			}
			d.Audit.Record(p.Context, e)
			return v, err
		}
		return f
	}
}

func buildFields(core gql.Fields, bs []fieldBuilder) gql.Fields {
	if core == nil {
		core = gql.Fields{}
	}
	for _, b := range bs {
		core[b.name] = b.build()
	}
	return core
}
