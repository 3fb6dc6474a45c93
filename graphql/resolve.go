package graphql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/store"
)

type depsKey struct{}

func withDeps(ctx context.Context, d *Deps) context.Context {
	return context.WithValue(ctx, depsKey{}, d)
}

func deps(ctx context.Context) *Deps {
	d, _ := ctx.Value(depsKey{}).(*Deps)
	return d
}

// nowFunc is the clock used for computed fields (SLA breach).
var nowFunc = time.Now

// Who may call each root field. Anything not listed is admin-only.
var (
	readers  = []auth.Role{auth.RoleViewer, auth.RoleBiomed, auth.RoleServiceDesk, auth.RoleAdmin}
	deskers  = []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}
	reporter = []auth.Role{auth.RoleCollector, auth.RoleAdmin}
)

// FieldRoles maps each root field to the roles allowed to call it; Register* fill it.
var FieldRoles = map[string][]auth.Role{}

// allow wraps a root resolver with the role check of FieldRoles.
func allow(field string, fn gql.FieldResolveFn) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		pr := auth.FromContext(p.Context)
		if pr == nil {
			return nil, errorf(CodeUnauthenticated, "authentication required: send Authorization: Bearer <token>")
		}
		roles, ok := FieldRoles[field]
		if !ok {
			roles = []auth.Role{auth.RoleAdmin}
		}
		if !slices.Contains(roles, pr.Role) {
			return nil, errorf(CodeForbidden, "role %s may not use %s", pr.Role, field)
		}
		return fn(p)
	}
}

func actor(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return "user:" + p.Name
	}
	return "unknown"
}

// Cursors are opaque offsets.
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "o:") {
		return 0, errorf(CodeBadUserInput, "after: invalid cursor")
	}
	n, err := strconv.Atoi(string(b[2:]))
	if err != nil || n < 0 {
		return 0, errorf(CodeBadUserInput, "after: invalid cursor")
	}
	return n, nil
}

// page reads first/after and returns offset and limit.
func page(args map[string]any) (int, int, error) {
	first := 50
	if v, ok := args["first"].(int); ok {
		first = v
	}
	if first < 0 || first > MaxPageSize {
		return 0, 0, errorf(CodeBadUserInput, "first: must be between 0 and %d", MaxPageSize)
	}
	after, _ := args["after"].(string)
	off, err := decodeCursor(after)
	if err != nil {
		return 0, 0, err
	}
	return off, first, nil
}

// connection is the resolved shape of AssetConnection and IncidentConnection.
type connection struct {
	TotalCount int
	Nodes      any
	PageInfo   pageInfo
}

type pageInfo struct {
	HasNextPage bool
	EndCursor   string
}

func makeConnection[T any](nodes []T, total, offset int) connection {
	end := offset + len(nodes)
	pi := pageInfo{HasNextPage: end < total}
	if len(nodes) > 0 {
		pi.EndCursor = encodeCursor(end)
	}
	if nodes == nil {
		nodes = []T{}
	}
	return connection{TotalCount: total, Nodes: nodes, PageInfo: pi}
}

func connectionType(name string, node gql.Type) *gql.Object {
	return gql.NewObject(gql.ObjectConfig{
		Name: name,
		Fields: gql.Fields{
			"totalCount": {Type: gql.NewNonNull(gql.Int), Resolve: func(p gql.ResolveParams) (any, error) {
				return p.Source.(connection).TotalCount, nil
			}},
			"nodes": {Type: nonNullList(node), Resolve: func(p gql.ResolveParams) (any, error) {
				return p.Source.(connection).Nodes, nil
			}},
			"pageInfo": {Type: gql.NewNonNull(pageInfoType), Resolve: func(p gql.ResolveParams) (any, error) {
				pi := p.Source.(connection).PageInfo
				var end any
				if pi.EndCursor != "" {
					end = pi.EndCursor
				}
				return map[string]any{"hasNextPage": pi.HasNextPage, "endCursor": end}, nil
			}},
		},
	})
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// assetFilter converts the AssetFilter input (fields added in assets_types.go too).
func assetFilter(args map[string]any) assets.Filter {
	m, _ := args["filter"].(map[string]any)
	f := assets.Filter{
		Class: assets.Class(str(m, "class")), Status: assets.Status(str(m, "status")),
		Site: str(m, "site"), CareArea: str(m, "careArea"), IP: str(m, "ip"),
		SerialNumber: str(m, "serialNumber"), Search: str(m, "search"),
		Building: str(m, "building"), Unit: str(m, "unit"), AssetTag: str(m, "assetTag"),
		Owner: str(m, "owner"), SupportGroup: str(m, "supportGroup"),
	}
	if v, ok := m["pmOverdue"].(bool); ok {
		f.PMOverdue = &v
	}
	if v, ok := m["recalled"].(bool); ok {
		f.Recalled = &v
	}
	return f
}

// incidentFilter converts the IncidentFilter input.
func incidentFilter(args map[string]any) incidents.Filter {
	m, _ := args["filter"].(map[string]any)
	f := incidents.Filter{
		State: incidents.State(str(m, "state")), Priority: incidents.Priority(str(m, "priority")),
		AssetID: str(m, "assetId"), Site: str(m, "site"), CareArea: str(m, "careArea"),
	}
	if v, ok := m["open"].(bool); ok {
		f.Open = &v
	}
	if v, ok := m["suppressed"].(bool); ok {
		f.Suppressed = &v
	}
	return f
}

// decodeBatch turns the ObservationBatch input into observations. The input was
// already coerced to the schema, so a JSON round trip onto the wire type is exact.
func decodeBatch(args map[string]any) (string, []observation.Observation, error) {
	b, _ := args["batch"].(map[string]any)
	collector := str(b, "collector")
	raw, err := json.Marshal(b["observations"])
	if err != nil {
		return "", nil, errorf(CodeBadUserInput, "batch: %v", err)
	}
	var obs []observation.Observation
	if err := json.Unmarshal(raw, &obs); err != nil {
		return "", nil, errorf(CodeBadUserInput, "batch: %v", err)
	}
	return collector, obs, nil
}

// internal turns a domain error into a GraphQL error with a code.
func internal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, incidents.ErrNotFound):
		return errorf(CodeNotFound, "%v", err)
	case errors.Is(err, incidents.ErrInvalidState):
		return errorf(CodeBadUserInput, "%v", err)
	case CodeOf(err) != "":
		return err
	case store.Unavailable(err):
		return &Error{Code: CodeUnavailable, Msg: "the store is unavailable: nothing was changed, try again later", cause: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errorf(CodeUnavailable, "request timed out: %v", err)
	}
	return errorf(CodeInternal, "%v", err)
}

func noteArg(args map[string]any) (string, error) {
	note, _ := args["note"].(string)
	if len(note) > 4000 {
		return "", errorf(CodeBadUserInput, "note: longer than 4000 characters")
	}
	return note, nil
}

func notFound(kind, id string) error { return errorf(CodeNotFound, "%s %q not found", kind, id) }
