package graphql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
)

// TokenAdmin manages API tokens.
type TokenAdmin interface {
	Issue(ctx context.Context, sp auth.Spec) (string, *auth.Token, error)
	List(ctx context.Context) ([]auth.Token, error)
	Revoke(ctx context.Context, id string) (*auth.Token, error)
	// BindCollector binds a collector token from before bindings on its first report.
	BindCollector(ctx context.Context, p *auth.Principal, collector, site string) (*auth.Principal, bool, error)
}

// Auditor records and lists audited actions.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
	List(ctx context.Context, q audit.Query, offset, limit int) ([]audit.Entry, int, error)
}

var roleEnum = func() *gql.Enum {
	cfg := gql.EnumValueConfigMap{}
	for _, r := range auth.Roles {
		cfg[strings.ToUpper(string(r))] = &gql.EnumValueConfig{Value: string(r)}
	}
	return gql.NewEnum(gql.EnumConfig{Name: "Role", Description: "What a token may do.", Values: cfg})
}()

var apiTokenType = gql.NewObject(gql.ObjectConfig{
	Name:        "ApiToken",
	Description: "A stored token. Its secret is never shown again after creation.",
	Fields: gql.Fields{
		"id":        {Type: gql.NewNonNull(gql.ID), Resolve: field(func(t auth.Token) any { return auth.ShortID(t.ID) })},
		"name":      {Type: gql.NewNonNull(gql.String), Resolve: field(func(t auth.Token) any { return t.Name })},
		"role":      {Type: gql.NewNonNull(roleEnum), Resolve: field(func(t auth.Token) any { return string(t.Role) })},
		"createdAt": {Type: gql.NewNonNull(timeScalar), Resolve: field(func(t auth.Token) any { return t.CreatedAt })},
		"createdBy": {Type: gql.String, Resolve: field(func(t auth.Token) any { return orNil(t.CreatedBy) })},
		"revoked":   {Type: gql.NewNonNull(gql.Boolean), Resolve: field(func(t auth.Token) any { return t.Revoked })},
		"collector": {Type: gql.String, Description: "A collector token reports only as this collector (null: not bound yet; bound on its first report).",
			Resolve: field(func(t auth.Token) any { return orNil(t.Collector) })},
		"site": {Type: gql.String, Description: "A collector token bound to a site reports only observations of that site.",
			Resolve: field(func(t auth.Token) any { return orNil(t.Site) })},
	},
})

var createdTokenType = gql.NewObject(gql.ObjectConfig{
	Name: "CreatedToken",
	Fields: gql.Fields{
		"token": {Type: gql.NewNonNull(gql.String), Description: "The secret: shown this once, store it now."},
		"info":  {Type: gql.NewNonNull(apiTokenType)},
	},
})

var auditEntryType = gql.NewObject(gql.ObjectConfig{
	Name: "AuditEntry",
	Fields: gql.Fields{
		"id":        {Type: gql.NewNonNull(gql.ID), Resolve: field(func(e audit.Entry) any { return e.ID })},
		"at":        {Type: gql.NewNonNull(timeScalar), Resolve: field(func(e audit.Entry) any { return e.At })},
		"actor":     {Type: gql.NewNonNull(gql.String), Resolve: field(func(e audit.Entry) any { return e.Actor })},
		"role":      {Type: gql.NewNonNull(gql.String), Resolve: field(func(e audit.Entry) any { return e.Role })},
		"tokenId":   {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.TokenID) })},
		"operation": {Type: gql.NewNonNull(gql.String), Resolve: field(func(e audit.Entry) any { return e.Operation })},
		"target":    {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.Target) })},
		"summary":   {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.Summary) })},
		"remote":    {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.Remote) })},
		"requestId": {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.RequestID) })},
		"ok":        {Type: gql.NewNonNull(gql.Boolean), Resolve: field(func(e audit.Entry) any { return e.OK })},
		"error":     {Type: gql.String, Resolve: field(func(e audit.Entry) any { return orNil(e.Error) })},
	},
})

func init() {
	admin := []auth.Role{auth.RoleAdmin}
	RegisterQuery("tokens", func() *gql.Field {
		return &gql.Field{Type: nonNullList(apiTokenType), Resolve: func(p gql.ResolveParams) (any, error) {
			toks, err := deps(p.Context).Tokens.List(p.Context)
			if err != nil {
				return nil, internal(err)
			}
			if toks == nil {
				toks = []auth.Token{}
			}
			return toks, nil
		}}
	}, admin...)
	RegisterMutation("createToken", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(createdTokenType),
			Args: gql.FieldConfigArgument{
				"name": {Type: gql.NewNonNull(gql.String)}, "role": {Type: gql.NewNonNull(roleEnum)},
				"collector": {Type: gql.String, Description: "Collector tokens: the collector it reports as (default: name)."},
				"site":      {Type: gql.String, Description: "Collector tokens: the only site its observations may carry (default: any)."},
			},
			Resolve: func(p gql.ResolveParams) (any, error) {
				secret, t, err := deps(p.Context).Tokens.Issue(p.Context, auth.Spec{
					Name: str(p.Args, "name"), Role: auth.Role(str(p.Args, "role")), By: actor(p.Context),
					Collector: str(p.Args, "collector"), Site: str(p.Args, "site"),
				})
				if errors.Is(err, auth.ErrBadSpec) || errors.Is(err, auth.ErrDuplicateName) {
					return nil, errorf(CodeBadUserInput, "%v", err)
				}
				if err != nil {
					return nil, internal(err)
				}
				return map[string]any{"token": secret, "info": *t}, nil
			}}
	}, admin...)
	RegisterMutation("revokeToken", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(apiTokenType), Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				t, err := deps(p.Context).Tokens.Revoke(p.Context, str(p.Args, "id"))
				if errors.Is(err, auth.ErrNoToken) {
					return nil, errorf(CodeNotFound, "%v", err)
				}
				if err != nil {
					return nil, internal(err)
				}
				return *t, nil
			}}
	}, admin...)
	RegisterQuery("auditLog", func() *gql.Field {
		conn := gql.NewObject(gql.ObjectConfig{Name: "AuditConnection", Fields: gql.Fields{
			"totalCount": {Type: gql.NewNonNull(gql.Int), Resolve: func(p gql.ResolveParams) (any, error) { return p.Source.(connection).TotalCount, nil }},
			"nodes":      {Type: nonNullList(auditEntryType), Resolve: func(p gql.ResolveParams) (any, error) { return p.Source.(connection).Nodes, nil }},
			"pageInfo": {Type: gql.NewNonNull(pageInfoType), Resolve: func(p gql.ResolveParams) (any, error) {
				pi := p.Source.(connection).PageInfo
				return map[string]any{"hasNextPage": pi.HasNextPage, "endCursor": orNil(pi.EndCursor)}, nil
			}},
		}})
		return &gql.Field{Type: gql.NewNonNull(conn),
			Args: gql.FieldConfigArgument{
				"actor": {Type: gql.String}, "operation": {Type: gql.String}, "since": {Type: timeScalar},
				"first": {Type: gql.Int, DefaultValue: 50}, "after": {Type: gql.String},
			},
			Resolve: func(p gql.ResolveParams) (any, error) {
				off, lim, err := page(p.Args)
				if err != nil {
					return nil, err
				}
				q := audit.Query{Actor: str(p.Args, "actor"), Operation: str(p.Args, "operation")}
				if t, ok := p.Args["since"].(time.Time); ok {
					q.Since = t
				}
				list, total, err := deps(p.Context).Audit.List(p.Context, q, off, lim)
				if err != nil {
					return nil, internal(err)
				}
				return makeConnection(list, total, off), nil
			}}
	}, admin...)
}

// secretArgs are argument names whose values never reach the audit log.
var secretArgs = []string{"token", "secret", "password", "passphrase", "community"}

// summarize describes a mutation's arguments for the audit log: bounded, and without
// secrets, observation contents or free text that could carry patient data.
func summarize(field string, args map[string]any) (target, summary string) {
	if field == "reportObservations" {
		b, _ := args["batch"].(map[string]any)
		obs, _ := b["observations"].([]any)
		return str(b, "collector"), fmt.Sprintf("%d observation(s)", len(obs))
	}
	target = str(args, "id")
	var parts []string
	for k, v := range args {
		if k == "id" {
			continue
		}
		lk := strings.ToLower(k)
		hidden := false
		for _, s := range secretArgs {
			hidden = hidden || strings.Contains(lk, s)
		}
		switch {
		case hidden:
			parts = append(parts, k+"=<secret>")
		case k == "note":
			// Notes are free text: record that one was given, not what it says.
			parts = append(parts, fmt.Sprintf("note=(%d chars)", len(fmt.Sprint(v))))
		case k == "csv":
			// An import file carries notes too: its size, not its text.
			parts = append(parts, fmt.Sprintf("csv=(%d bytes)", len(fmt.Sprint(v))))
		default:
			s := fmt.Sprint(v)
			if len(s) > 120 {
				s = s[:120] + "…"
			}
			parts = append(parts, k+"="+s)
		}
	}
	return target, strings.Join(parts, " ")
}
