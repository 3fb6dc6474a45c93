package graphql

import (
	"context"
	"errors"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/advisories"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/rogue"
)

// AdvisoryService is what the advisory fields use; *advisories.Service implements it.
type AdvisoryService interface {
	List() []*advisories.Advisory
	Add(ctx context.Context, a advisories.Advisory, actor string) (*advisories.Advisory, error)
	Remove(ctx context.Context, id, actor string) error
	For(a *assets.Asset) []*advisories.Advisory
	Assets(reg advisories.Registry, a *advisories.Advisory) (affected, unverified []*assets.Asset)
}

// RogueService is what the rogue-device fields use; *rogue.Detector implements it.
type RogueService interface {
	Entries() []*rogue.Entry
	Add(ctx context.Context, r incidents.AllowRule, actor string) (*rogue.Entry, error)
	Remove(ctx context.Context, id, actor string) error
	Rogues(reg rogue.Registry) []*assets.Asset
	Rogue(a *assets.Asset) bool
}

func advisoryService(ctx context.Context) (AdvisoryService, error) {
	if d := deps(ctx); d != nil && d.Advisories != nil {
		return d.Advisories, nil
	}
	return nil, errorf(CodeUnavailable, "advisories are not available on this server")
}

func rogueService(ctx context.Context) (RogueService, error) {
	if d := deps(ctx); d != nil && d.Rogue != nil {
		return d.Rogue, nil
	}
	return nil, errorf(CodeUnavailable, "rogue-device detection is not available on this server")
}

// eachAsset walks the API's asset registry page by page.
type eachAsset struct{ a Assets }

func (e eachAsset) Each(fn func(*assets.Asset)) {
	for off := 0; ; off += 1000 {
		list, total := e.a.List(assets.Filter{}, off, 1000)
		for _, x := range list {
			fn(x)
		}
		if off+len(list) >= total || len(list) == 0 {
			return
		}
	}
}

var (
	advisorySourceEnum   = enumOf("AdvisorySource", "Who issued an advisory.", advisories.Sources)
	advisorySeverityEnum = enumOf("AdvisorySeverity", "Severity of an advisory.", advisories.Severities)

	advisoryType = gql.NewObject(gql.ObjectConfig{
		Name:        "Advisory",
		Description: "A vendor or regulator advisory for a manufacturer, model and firmware range; it marks every affected asset.",
		Fields: gql.FieldsThunk(func() gql.Fields {
			f := func(fn func(*advisories.Advisory) any) gql.FieldResolveFn { return field(fn) }
			assetsOf := func(pick func(aff, unv []*assets.Asset) []*assets.Asset) gql.FieldResolveFn {
				return func(p gql.ResolveParams) (any, error) {
					svc, err := advisoryService(p.Context)
					if err != nil {
						return nil, err
					}
					out := pick(svc.Assets(eachAsset{deps(p.Context).Assets}, p.Source.(*advisories.Advisory)))
					if out == nil {
						out = []*assets.Asset{}
					}
					return out, nil
				}
			}
			return gql.Fields{
				"id":           {Type: gql.NewNonNull(gql.ID), Resolve: f(func(a *advisories.Advisory) any { return a.ID })},
				"source":       {Type: gql.NewNonNull(advisorySourceEnum), Resolve: f(func(a *advisories.Advisory) any { return a.Source })},
				"publisher":    {Type: gql.String, Resolve: f(func(a *advisories.Advisory) any { return orNil(a.Publisher) })},
				"reference":    {Type: gql.NewNonNull(gql.String), Resolve: f(func(a *advisories.Advisory) any { return a.Reference })},
				"title":        {Type: gql.NewNonNull(gql.String), Resolve: f(func(a *advisories.Advisory) any { return a.Title })},
				"url":          {Type: gql.String, Resolve: f(func(a *advisories.Advisory) any { return orNil(a.URL) })},
				"severity":     {Type: gql.NewNonNull(advisorySeverityEnum), Resolve: f(func(a *advisories.Advisory) any { return a.Severity })},
				"manufacturer": {Type: gql.NewNonNull(gql.String), Resolve: f(func(a *advisories.Advisory) any { return a.Manufacturer })},
				"model":        {Type: gql.NewNonNull(gql.String), Description: `"*" for every model of the manufacturer.`, Resolve: f(func(a *advisories.Advisory) any { return a.Model })},
				"firmware": {Type: gql.NewNonNull(gql.String), Description: `Affected firmware range, e.g. ">= 2.0, < 2.4.1"; "" means every version.`,
					Resolve: f(func(a *advisories.Advisory) any { return a.Firmware })},
				"remediation": {Type: gql.String, Resolve: f(func(a *advisories.Advisory) any { return orNil(a.Remediation) })},
				"publishedAt": {Type: timeScalar, Resolve: f(func(a *advisories.Advisory) any {
					if a.PublishedAt.IsZero() {
						return nil
					}
					return a.PublishedAt
				})},
				"createdBy": {Type: gql.NewNonNull(gql.String), Resolve: f(func(a *advisories.Advisory) any { return a.CreatedBy })},
				"createdAt": {Type: gql.NewNonNull(timeScalar), Resolve: f(func(a *advisories.Advisory) any { return a.CreatedAt })},
				"affectedAssets": {Type: nonNullList(assetType), Description: "Assets of that make and model reporting a firmware in the range.",
					Resolve: assetsOf(func(aff, _ []*assets.Asset) []*assets.Asset { return aff })},
				"unverifiedAssets": {Type: nonNullList(assetType), Description: "Assets of that make and model whose firmware is unknown: check them by hand.",
					Resolve: assetsOf(func(_, unv []*assets.Asset) []*assets.Asset { return unv })},
			}
		}),
	})

	advisoryInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "AdvisoryInput",
		Fields: gql.InputObjectConfigFieldMap{
			"source": {Type: gql.NewNonNull(advisorySourceEnum)}, "publisher": {Type: gql.String},
			"reference": {Type: gql.NewNonNull(gql.String)}, "title": {Type: gql.NewNonNull(gql.String)},
			"url": {Type: gql.String}, "severity": {Type: gql.NewNonNull(advisorySeverityEnum)},
			"manufacturer": {Type: gql.NewNonNull(gql.String)}, "model": {Type: gql.NewNonNull(gql.String)},
			"firmware":    {Type: gql.String, Description: `Range: ">= 2.0, < 2.4.1", "< 1.8 || >= 3.0, < 3.0.7", "2.3.x"; empty: every version.`},
			"remediation": {Type: gql.String}, "publishedAt": {Type: timeScalar},
		},
	})

	rogueEntryType = gql.NewObject(gql.ObjectConfig{
		Name:        "RogueAllowEntry",
		Description: "Approves devices on clinical ranges by MAC, OUI or sysObjectID prefix; ids policy:N come from the policy file.",
		Fields: gql.Fields{
			"id":                {Type: gql.NewNonNull(gql.ID), Resolve: field(func(e *rogue.Entry) any { return e.ID })},
			"mac":               {Type: gql.String, Resolve: field(func(e *rogue.Entry) any { return orNil(e.MAC) })},
			"oui":               {Type: gql.String, Resolve: field(func(e *rogue.Entry) any { return orNil(e.OUI) })},
			"sysObjectIDPrefix": {Type: gql.String, Resolve: field(func(e *rogue.Entry) any { return orNil(e.SysObjectIDPrefix) })},
			"note":              {Type: gql.String, Resolve: field(func(e *rogue.Entry) any { return orNil(e.Note) })},
			"createdBy":         {Type: gql.NewNonNull(gql.String), Resolve: field(func(e *rogue.Entry) any { return e.CreatedBy })},
		},
	})

	rogueEntryInput = gql.NewInputObject(gql.InputObjectConfig{
		Name:        "RogueAllowInput",
		Description: "Exactly one of mac, oui (three octets) or sysObjectIDPrefix.",
		Fields: gql.InputObjectConfigFieldMap{
			"mac": {Type: gql.String}, "oui": {Type: gql.String}, "sysObjectIDPrefix": {Type: gql.String}, "note": {Type: gql.String},
		},
	})
)

func advisoryErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, advisories.ErrNotFound), errors.Is(err, rogue.ErrNotFound):
		return errorf(CodeNotFound, "%v", err)
	case errors.Is(err, advisories.ErrInvalid), errors.Is(err, incidents.ErrInvalidRule):
		return errorf(CodeBadUserInput, "%v", err)
	}
	return internal(err)
}

func init() {
	biomeds := []auth.Role{auth.RoleBiomed, auth.RoleAdmin}
	// Collectors tell the cmdb which observations come from clinical ranges.
	observationInput.AddFieldConfig("clinical", &gql.InputObjectFieldConfig{Type: gql.Boolean,
		Description: "The device answered on a range marked clinical in the collector's configuration."})

	ExtendAsset("advisories", func() *gql.Field {
		return &gql.Field{Type: nonNullList(advisoryType), Description: "Advisories whose make, model and firmware range match this asset.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := advisoryService(p.Context)
				if err != nil {
					return []*advisories.Advisory{}, nil
				}
				list := svc.For(p.Source.(*assets.Asset))
				if list == nil {
					list = []*advisories.Advisory{}
				}
				return list, nil
			}}
	})
	ExtendAsset("rogue", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Description: "Seen on a clinical range, unknown (class OTHER) and not on the allow list.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := rogueService(p.Context)
				if err != nil {
					return false, nil
				}
				return svc.Rogue(p.Source.(*assets.Asset)), nil
			}}
	})

	RegisterQuery("advisories", func() *gql.Field {
		return &gql.Field{Type: nonNullList(advisoryType), Description: "Every advisory, oldest first.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := advisoryService(p.Context)
				if err != nil {
					return nil, err
				}
				list := svc.List()
				if list == nil {
					list = []*advisories.Advisory{}
				}
				return list, nil
			}}
	}, biomeds...)
	RegisterMutation("addAdvisory", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(advisoryType), Args: gql.FieldConfigArgument{"input": {Type: gql.NewNonNull(advisoryInput)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := advisoryService(p.Context)
				if err != nil {
					return nil, err
				}
				in, _ := p.Args["input"].(map[string]any)
				a := advisories.Advisory{Source: str(in, "source"), Publisher: str(in, "publisher"), Reference: str(in, "reference"),
					Title: str(in, "title"), URL: str(in, "url"), Severity: str(in, "severity"), Manufacturer: str(in, "manufacturer"),
					Model: str(in, "model"), Firmware: str(in, "firmware"), Remediation: str(in, "remediation")}
				if t, ok := in["publishedAt"].(time.Time); ok {
					a.PublishedAt = t
				}
				out, err := svc.Add(p.Context, a, actor(p.Context))
				return out, advisoryErr(err)
			}}
	}, biomeds...)
	RegisterMutation("removeAdvisory", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := advisoryService(p.Context)
				if err != nil {
					return nil, err
				}
				if err := svc.Remove(p.Context, str(p.Args, "id"), actor(p.Context)); err != nil {
					return nil, advisoryErr(err)
				}
				return true, nil
			}}
	}, biomeds...)

	RegisterQuery("rogueDevices", func() *gql.Field {
		return &gql.Field{Type: nonNullList(assetType), Description: "Unknown devices on clinical ranges, not on the allow list.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := rogueService(p.Context)
				if err != nil {
					return nil, err
				}
				list := svc.Rogues(deps(p.Context).Assets)
				if list == nil {
					list = []*assets.Asset{}
				}
				return list, nil
			}}
	}, readers...)
	RegisterQuery("rogueAllowList", func() *gql.Field {
		return &gql.Field{Type: nonNullList(rogueEntryType), Resolve: func(p gql.ResolveParams) (any, error) {
			svc, err := rogueService(p.Context)
			if err != nil {
				return nil, err
			}
			list := svc.Entries()
			if list == nil {
				list = []*rogue.Entry{}
			}
			return list, nil
		}}
	}, readers...)
	RegisterMutation("addRogueAllow", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(rogueEntryType), Args: gql.FieldConfigArgument{"input": {Type: gql.NewNonNull(rogueEntryInput)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := rogueService(p.Context)
				if err != nil {
					return nil, err
				}
				in, _ := p.Args["input"].(map[string]any)
				out, err := svc.Add(p.Context, incidents.AllowRule{MAC: str(in, "mac"), OUI: str(in, "oui"),
					SysObjectIDPrefix: str(in, "sysObjectIDPrefix"), Note: str(in, "note")}, actor(p.Context))
				return out, advisoryErr(err)
			}}
	}, biomeds...)
	RegisterMutation("removeRogueAllow", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				svc, err := rogueService(p.Context)
				if err != nil {
					return nil, err
				}
				if err := svc.Remove(p.Context, str(p.Args, "id"), actor(p.Context)); err != nil {
					return nil, advisoryErr(err)
				}
				return true, nil
			}}
	}, biomeds...)
}
