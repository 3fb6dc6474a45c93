package graphql

import (
	"context"
	"time"

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

// audited records every call of a mutation, allowed or not, with its outcome; unless
// the resolver handed its audit entry to work that outlives the request (takeAudit).
func audited(name string, build func() *gql.Field) func() *gql.Field {
	return func() *gql.Field {
		f := build()
		inner := f.Resolve
		f.Resolve = func(p gql.ResolveParams) (any, error) {
			taken := false
			p.Context = context.WithValue(p.Context, auditTakenKey{}, &taken)
			v, err := inner(p)
			d := deps(p.Context)
			if taken || d == nil || d.Audit == nil {
				return v, err
			}
			e := auditEntry(p.Context, name)
			e.OK = err == nil
			e.Target, e.Summary = summarize(name, p.Args)
			if err != nil {
				e.Error = err.Error()
			}
			recordAudit(p.Context, d.Audit, e)
			return v, err
		}
		return f
	}
}

type auditTakenKey struct{}

// takeAudit tells the audited wrapper that the resolver's work records the call's
// audit entry itself, later (an import job, when it ends with its counts).
func takeAudit(ctx context.Context) {
	if t, ok := ctx.Value(auditTakenKey{}).(*bool); ok {
		*t = true
	}
}

// auditEntry starts the audit entry of a call: who, from where, which request.
func auditEntry(ctx context.Context, operation string) audit.Entry {
	e := audit.Entry{Operation: operation, Remote: remoteAddr(ctx), RequestID: RequestID(ctx)}
	if pr := auth.FromContext(ctx); pr != nil {
		e.Actor, e.Role, e.TokenID = pr.Name, string(pr.Role), pr.TokenID
	}
	return e
}

// recordAudit stores an entry even when the request's context has ended (its time
// limit ran out, the client left): the trail must not depend on the caller's patience.
func recordAudit(ctx context.Context, a Auditor, e audit.Entry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	a.Record(ctx, e)
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
