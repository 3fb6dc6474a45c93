package graphql

import (
	"context"
	"errors"
	"strings"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/problems"
)

// ProblemService is what the problem fields use; *problems.Service implements it.
type ProblemService interface {
	List(f problems.Filter, offset, limit int) ([]*problems.Problem, int)
	Get(id string) (*problems.Problem, bool)
	ForIncident(incidentID string) []*problems.Problem
	Link(ctx context.Context, problemID, incidentID, actor string) (*problems.Problem, error)
	Unlink(ctx context.Context, problemID, incidentID, actor string) (*problems.Problem, error)
	Close(ctx context.Context, id, rootCause, actor string) (*problems.Problem, error)
}

func problemService(ctx context.Context) (ProblemService, error) {
	if d := deps(ctx); d != nil && d.Problems != nil {
		return d.Problems, nil
	}
	return nil, errorf(CodeUnavailable, "problems are not available on this server")
}

func problemError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, problems.ErrNotFound):
		return errorf(CodeNotFound, "%v", err)
	case errors.Is(err, problems.ErrInvalid):
		return errorf(CodeBadUserInput, "%v", err)
	}
	return internal(err)
}

var (
	problemScopeEnum = enumOf("ProblemScope", "What recurs: one asset, or one manufacturer and model across assets.",
		[]problems.Scope{problems.ScopeAsset, problems.ScopeModel})
	problemStateEnum = enumOf("ProblemState", "Problem lifecycle state.", []problems.State{problems.StateOpen, problems.StateClosed})

	conditionCountType = gql.NewObject(gql.ObjectConfig{
		Name: "ConditionCount",
		Fields: gql.Fields{
			"condition": {Type: gql.NewNonNull(gql.String), Resolve: field(func(c problems.ConditionCount) any { return c.Condition })},
			"count":     {Type: gql.NewNonNull(gql.Int), Resolve: field(func(c problems.ConditionCount) any { return c.Count })},
		},
	})

	problemType = gql.NewObject(gql.ObjectConfig{
		Name:        "Problem",
		Description: "Recurring incidents on one asset, or on one manufacturer and model across assets (ITIL problem).",
		Fields: gql.FieldsThunk(func() gql.Fields {
			f := func(fn func(*problems.Problem) any) gql.FieldResolveFn { return field(fn) }
			return gql.Fields{
				"id":           {Type: gql.NewNonNull(gql.ID), Resolve: f(func(p *problems.Problem) any { return p.ID })},
				"number":       {Type: gql.NewNonNull(gql.String), Resolve: f(func(p *problems.Problem) any { return p.Number })},
				"title":        {Type: gql.NewNonNull(gql.String), Resolve: f(func(p *problems.Problem) any { return p.Title })},
				"scope":        {Type: gql.NewNonNull(problemScopeEnum), Resolve: f(func(p *problems.Problem) any { return string(p.Scope) })},
				"state":        {Type: gql.NewNonNull(problemStateEnum), Resolve: f(func(p *problems.Problem) any { return string(p.State) })},
				"manufacturer": {Type: gql.String, Resolve: f(func(p *problems.Problem) any { return orNil(p.Manufacturer) })},
				"model":        {Type: gql.String, Resolve: f(func(p *problems.Problem) any { return orNil(p.Model) })},
				"asset": {Type: assetType, Description: "The asset, for an ASSET problem.", Resolve: func(p gql.ResolveParams) (any, error) {
					if a, ok := deps(p.Context).Assets.Get(p.Source.(*problems.Problem).AssetID); ok {
						return a, nil
					}
					return nil, nil
				}},
				"incidentCount": {Type: gql.NewNonNull(gql.Int), Resolve: f(func(p *problems.Problem) any { return p.Count })},
				"assetCount":    {Type: gql.NewNonNull(gql.Int), Resolve: f(func(p *problems.Problem) any { return p.Assets })},
				"conditions":    {Type: nonNullList(conditionCountType), Resolve: f(func(p *problems.Problem) any { return p.Conditions })},
				"firstSeenAt":   {Type: gql.NewNonNull(timeScalar), Description: "Opening of the first linked incident.", Resolve: f(func(p *problems.Problem) any { return p.FirstSeen })},
				"lastSeenAt":    {Type: gql.NewNonNull(timeScalar), Description: "Opening of the last linked incident.", Resolve: f(func(p *problems.Problem) any { return p.LastSeen })},
				"openedAt":      {Type: gql.NewNonNull(timeScalar), Resolve: f(func(p *problems.Problem) any { return p.OpenedAt })},
				"openedBy":      {Type: gql.NewNonNull(gql.String), Resolve: f(func(p *problems.Problem) any { return p.OpenedBy })},
				"closedAt":      {Type: timeScalar, Resolve: f(func(p *problems.Problem) any { return p.ClosedAt })},
				"closedBy":      {Type: gql.String, Resolve: f(func(p *problems.Problem) any { return orNil(p.ClosedBy) })},
				"rootCause":     {Type: gql.String, Resolve: f(func(p *problems.Problem) any { return orNil(p.RootCause) })},
				"incidents": {Type: nonNullList(incidentType), Description: "Linked incidents still kept (retention), newest first.",
					Args: gql.FieldConfigArgument{"first": {Type: gql.Int, DefaultValue: 50}},
					Resolve: func(p gql.ResolveParams) (any, error) {
						first, _ := p.Args["first"].(int)
						if first < 0 || first > MaxPageSize {
							return nil, errorf(CodeBadUserInput, "incidents.first: must be between 0 and %d", MaxPageSize)
						}
						ids := p.Source.(*problems.Problem).IncidentIDs
						out := []*incidents.Incident{}
						for k := len(ids) - 1; k >= 0 && len(out) < first; k-- {
							if i, ok := deps(p.Context).Incidents.Get(ids[k]); ok {
								out = append(out, i)
							}
						}
						return out, nil
					}},
			}
		}),
	})

	problemFilterInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "ProblemFilter",
		Fields: gql.InputObjectConfigFieldMap{
			"state": {Type: problemStateEnum}, "scope": {Type: problemScopeEnum}, "assetId": {Type: gql.ID},
		},
	})

	knowledgeType = gql.NewObject(gql.ObjectConfig{
		Name:        "Knowledge",
		Description: "A runbook link or short instruction the policy attaches to incidents it matches.",
		Fields: gql.Fields{
			"title": {Type: gql.NewNonNull(gql.String), Resolve: field(func(k incidents.Knowledge) any { return k.Title })},
			"url":   {Type: gql.String, Resolve: field(func(k incidents.Knowledge) any { return orNil(k.URL) })},
			"text":  {Type: gql.String, Resolve: field(func(k incidents.Knowledge) any { return orNil(k.Text) })},
			"match": {Type: gql.NewNonNull(gql.String), Description: `Why it applies, e.g. "class VENTILATOR, condition snmp.unreachable".`,
				Resolve: field(func(k incidents.Knowledge) any { return k.Match })},
		},
	})
)

// policyHolder is the engine's policy accessor.
type policyHolder interface{ Policy() *incidents.Policy }

func init() {
	editors := []auth.Role{auth.RoleServiceDesk, auth.RoleBiomed, auth.RoleAdmin}
	problemConnection := connectionType("ProblemConnection", problemType)

	ExtendIncident("knowledge", func() *gql.Field {
		return &gql.Field{Type: nonNullList(knowledgeType), Description: "Runbooks and instructions the policy links to this incident's class, make, model or condition.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				inc := p.Source.(*incidents.Incident)
				ph, ok := deps(p.Context).Incidents.(policyHolder)
				if !ok {
					return []incidents.Knowledge{}, nil
				}
				class, maker, model := inc.Class, "", ""
				if a, ok := deps(p.Context).Assets.Get(inc.AssetID); ok {
					class, maker, model = string(a.Class), a.Manufacturer, a.Model
				}
				return ph.Policy().KnowledgeFor(class, maker, model, inc.Condition), nil
			}}
	})
	ExtendIncident("problems", func() *gql.Field {
		return &gql.Field{Type: nonNullList(problemType), Description: "Problems this incident is linked to.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := problemService(p.Context)
				if err != nil {
					return []*problems.Problem{}, nil
				}
				list := svc.ForIncident(p.Source.(*incidents.Incident).ID)
				if list == nil {
					list = []*problems.Problem{}
				}
				return list, nil
			}}
	})

	RegisterQuery("problems", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(problemConnection), Description: "Problems, newest first.",
			Args: gql.FieldConfigArgument{"filter": {Type: problemFilterInput}, "first": {Type: gql.Int, DefaultValue: 50}, "after": {Type: gql.String}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := problemService(p.Context)
				if err != nil {
					return nil, err
				}
				off, limit, err := page(p.Args)
				if err != nil {
					return nil, err
				}
				m, _ := p.Args["filter"].(map[string]any)
				f := problems.Filter{State: problems.State(str(m, "state")), Scope: problems.Scope(str(m, "scope")), AssetID: str(m, "assetId")}
				list, total := svc.List(f, off, limit)
				return makeConnection(list, total, off), nil
			}}
	}, readers...)
	RegisterQuery("problem", func() *gql.Field {
		return &gql.Field{Type: problemType, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := problemService(p.Context)
				if err != nil {
					return nil, err
				}
				if pr, ok := svc.Get(str(p.Args, "id")); ok {
					return pr, nil
				}
				return nil, nil
			}}
	}, readers...)

	linkArgs := gql.FieldConfigArgument{"problemId": {Type: gql.NewNonNull(gql.ID)}, "incidentId": {Type: gql.NewNonNull(gql.ID)}}
	RegisterMutation("linkIncidentToProblem", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(problemType), Args: linkArgs, Resolve: func(p gql.ResolveParams) (any, error) {
			svc, err := problemService(p.Context)
			if err != nil {
				return nil, err
			}
			out, err := svc.Link(p.Context, str(p.Args, "problemId"), str(p.Args, "incidentId"), actor(p.Context))
			return out, problemError(err)
		}}
	}, editors...)
	RegisterMutation("unlinkIncidentFromProblem", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(problemType), Args: linkArgs, Resolve: func(p gql.ResolveParams) (any, error) {
			svc, err := problemService(p.Context)
			if err != nil {
				return nil, err
			}
			out, err := svc.Unlink(p.Context, str(p.Args, "problemId"), str(p.Args, "incidentId"), actor(p.Context))
			return out, problemError(err)
		}}
	}, editors...)
	RegisterMutation("closeProblem", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(problemType),
			Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "rootCause": {Type: gql.NewNonNull(gql.String)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := problemService(p.Context)
				if err != nil {
					return nil, err
				}
				rc := strings.TrimSpace(str(p.Args, "rootCause"))
				out, err := svc.Close(p.Context, str(p.Args, "id"), rc, actor(p.Context))
				return out, problemError(err)
			}}
	}, editors...)
}
