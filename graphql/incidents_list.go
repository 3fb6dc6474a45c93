package graphql

import (
	"encoding/base64"
	"strconv"
	"strings"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// The incident list's order. PRIORITY is what a NOC reads first; NEWEST is the order
// of the API before it was added, for scripts that page through history.
var incidentOrderEnum = gql.NewEnum(gql.EnumConfig{
	Name:        "IncidentOrder",
	Description: "How `incidents` sorts.",
	Values: gql.EnumValueConfigMap{
		"PRIORITY": {Value: incidents.OrderPriority, Description: "Unresolved first: P1 first, and within a priority the one open longest first " +
			"(its SLA is due soonest); then resolved ones, most recently opened first. The default. Cursors are keys: " +
			"incidents opened or resolved while you page shift no page."},
		"NEWEST": {Value: incidents.OrderNewest, Description: "Most recently opened first. Cursors are offsets."},
	},
})

// incidentsArgs are the arguments of Query.incidents.
func incidentsArgs() gql.FieldConfigArgument {
	args := pageArgs(incidentFilterInput)
	args["orderBy"] = &gql.ArgumentConfig{Type: incidentOrderEnum, DefaultValue: incidents.OrderPriority}
	return args
}

// resolveIncidents answers Query.incidents.
func resolveIncidents(p gql.ResolveParams) (any, error) {
	first := 50
	if v, ok := p.Args["first"].(int); ok {
		first = v
	}
	if first < 0 || first > MaxPageSize {
		return nil, errorf(CodeBadUserInput, "first: must be between 0 and %d", MaxPageSize)
	}
	f := incidentFilter(p.Args)
	f.Order, _ = p.Args["orderBy"].(incidents.Order)
	after, _ := p.Args["after"].(string)
	offset := 0
	if k, ok, err := decodeIncidentKey(after); err != nil {
		return nil, err
	} else if ok && f.Order == incidents.OrderPriority {
		f.After = &k
	} else if offset, err = decodeCursor(after); err != nil {
		return nil, err
	}
	// One more than asked says whether there is a next page.
	nodes, total := deps(p.Context).Incidents.List(f, offset, first+1)
	more := len(nodes) > first
	nodes = nodes[:min(len(nodes), first)]
	c := makeConnection(nodes, total, offset)
	c.PageInfo.HasNextPage = more
	if f.Order == incidents.OrderPriority && len(nodes) > 0 {
		c.PageInfo.EndCursor = encodeIncidentKey(incidents.PriorityKey(nodes[len(nodes)-1]))
	}
	return c, nil
}

// Keyset cursors: "k:<resolved 0|1>:<rank>:<unix nanos>:<id>", base64url.
func encodeIncidentKey(k incidents.SortKey) string {
	r := "0"
	if k.Resolved {
		r = "1"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("k:" + r + ":" + strconv.Itoa(k.Rank) + ":" + strconv.FormatInt(k.At, 10) + ":" + k.ID))
}

// decodeIncidentKey reads a keyset cursor; ok is false for anything else (an offset
// cursor, or none), which the caller then reads as an offset.
func decodeIncidentKey(s string) (incidents.SortKey, bool, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if s == "" || err != nil || !strings.HasPrefix(string(b), "k:") {
		return incidents.SortKey{}, false, nil
	}
	bad := errorf(CodeBadUserInput, "after: invalid cursor")
	parts := strings.SplitN(string(b[2:]), ":", 4)
	if len(parts) != 4 || (parts[0] != "0" && parts[0] != "1") {
		return incidents.SortKey{}, false, bad
	}
	rank, err1 := strconv.Atoi(parts[1])
	at, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || rank < 0 || rank >= len(incidents.Priorities) {
		return incidents.SortKey{}, false, bad
	}
	return incidents.SortKey{Resolved: parts[0] == "1", Rank: rank, At: at, ID: parts[3]}, true, nil
}
