package graphql

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/auth"
)

// Biomedical engineers and admins edit assets.
var editors = []auth.Role{auth.RoleBiomed, auth.RoleAdmin}

// MaxImportBytes bounds the CSV text of one importAssets call (also bounded by the
// request body limit).
const MaxImportBytes = 15 << 20

var (
	assetLocationInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "AssetLocationInput",
		Fields: gql.InputObjectConfigFieldMap{
			"building": {Type: gql.String}, "floor": {Type: gql.String}, "unit": {Type: gql.String},
			"careArea": {Type: gql.String}, "room": {Type: gql.String}, "bed": {Type: gql.String},
		},
	})
	assetInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "AssetInput",
		Description: "A manual edit: fields left out stay as they are, an empty string clears one. " +
			"Manual values win over every discovery source until released (release: [field names]). Dates are YYYY-MM-DD.",
		Fields: gql.InputObjectConfigFieldMap{
			"name": {Type: gql.String}, "class": {Type: assetClassEnum}, "manufacturer": {Type: gql.String},
			"model": {Type: gql.String}, "serialNumber": {Type: gql.String}, "eui64": {Type: gql.String},
			"firmwareVersion": {Type: gql.String}, "site": {Type: gql.String}, "location": {Type: assetLocationInput},
			"assetTag": {Type: gql.String}, "owner": {Type: gql.String}, "supportGroup": {Type: gql.String},
			"notes": {Type: gql.String}, "installDate": {Type: gql.String}, "warrantyEnd": {Type: gql.String},
			"lastPM": {Type: gql.String}, "pmIntervalDays": {Type: gql.Int},
			"macAddresses": {Type: gql.NewList(gql.NewNonNull(gql.String))},
			"status":       {Type: assetStatusEnum, Description: "RETIRED or MAINTENANCE stick; any other value hands the status back to discovery."},
			"release":      {Type: gql.NewList(gql.NewNonNull(gql.String)), Description: "Field names handed back to discovery, e.g. location.room."},
		},
	})
	recallInput = gql.NewInputObject(gql.InputObjectConfig{
		Name: "RecallInput",
		Fields: gql.InputObjectConfigFieldMap{
			"manufacturer": {Type: gql.NewNonNull(gql.String)}, "model": {Type: gql.NewNonNull(gql.String)},
			"reference": {Type: gql.NewNonNull(gql.String)}, "title": {Type: gql.String}, "url": {Type: gql.String},
			"issuedAt": {Type: gql.String, Description: "YYYY-MM-DD"},
		},
	})
)

// editFromInput converts AssetInput to an edit.
func editFromInput(in map[string]any) (assets.Edit, error) {
	var e assets.Edit
	s := func(k string) *string {
		v, ok := in[k].(string)
		if !ok {
			return nil
		}
		return &v
	}
	e.Name, e.Manufacturer, e.Model, e.SerialNumber = s("name"), s("manufacturer"), s("model"), s("serialNumber")
	e.EUI64, e.FirmwareVersion, e.Site = s("eui64"), s("firmwareVersion"), s("site")
	e.AssetTag, e.Owner, e.SupportGroup, e.Notes = s("assetTag"), s("owner"), s("supportGroup"), s("notes")
	if c := s("class"); c != nil {
		cl := assets.Class(*c)
		e.Class = &cl
	}
	if st := s("status"); st != nil {
		v := assets.Status(*st)
		e.Status = &v
	}
	if l, ok := in["location"].(map[string]any); ok {
		ls := func(k string) *string {
			v, ok := l[k].(string)
			if !ok {
				return nil
			}
			return &v
		}
		e.Building, e.Floor, e.Unit, e.CareArea, e.Room, e.Bed = ls("building"), ls("floor"), ls("unit"), ls("careArea"), ls("room"), ls("bed")
	}
	for _, d := range []struct {
		k   string
		dst **time.Time
	}{{"installDate", &e.InstallDate}, {"warrantyEnd", &e.WarrantyEnd}, {"lastPM", &e.LastPM}} {
		v := s(d.k)
		if v == nil {
			continue
		}
		var t time.Time
		if *v != "" {
			var err error
			if t, err = time.Parse(time.DateOnly, *v); err != nil {
				return e, errorf(CodeBadUserInput, "%s %q: want YYYY-MM-DD", d.k, *v)
			}
		}
		*d.dst = &t
	}
	if n, ok := in["pmIntervalDays"].(int); ok {
		e.PMIntervalDays = &n
	}
	if list, ok := in["macAddresses"].([]any); ok {
		macs := make([]string, 0, len(list))
		for _, m := range list {
			ms, _ := m.(string)
			macs = append(macs, ms)
		}
		e.MACs = &macs
	}
	if list, ok := in["release"].([]any); ok {
		for _, f := range list {
			fs, _ := f.(string)
			e.Release = append(e.Release, fs)
		}
	}
	return e, nil
}

// assetError maps asset-registry errors to API errors.
func assetError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, assets.ErrNotFound):
		return errorf(CodeNotFound, "%v", err)
	case errors.Is(err, assets.ErrInvalid), errors.Is(err, assets.ErrIdentityConflict):
		return errorf(CodeBadUserInput, "%v", err)
	}
	return internal(err)
}

// editField builds a mutation that runs fn on the registry and returns an asset.
func editField(args gql.FieldConfigArgument, fn func(ctx context.Context, r AssetRegistry, args map[string]any) (*assets.Asset, error)) func() *gql.Field {
	return func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(assetType), Args: args, Resolve: func(p gql.ResolveParams) (any, error) {
			r, err := registry(p.Context)
			if err != nil {
				return nil, err
			}
			a, err := fn(p.Context, r, p.Args)
			if err != nil {
				return nil, assetError(err)
			}
			return a, nil
		}}
	}
}

func init() {
	RegisterQuery("assetHealth", func() *gql.Field {
		return &gql.Field{
			Type:        nonNullList(healthGroupType),
			Description: "Asset counts per status, grouped by site, care area and/or class (default: all three).",
			Args: gql.FieldConfigArgument{
				"filter":  {Type: assetFilterInput},
				"groupBy": {Type: gql.NewList(gql.NewNonNull(groupByEnum))},
			},
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return nil, err
				}
				var by []assets.GroupBy
				if list, ok := p.Args["groupBy"].([]any); ok {
					for _, g := range list {
						s, _ := g.(string)
						by = append(by, assets.GroupBy(s))
					}
				}
				return r.Health(assetFilter(p.Args), by), nil
			},
		}
	}, readers...)
	RegisterQuery("recalls", func() *gql.Field {
		return &gql.Field{Type: nonNullList(recallType), Resolve: func(p gql.ResolveParams) (any, error) {
			r, err := registry(p.Context)
			if err != nil {
				return nil, err
			}
			return r.Recalls(), nil
		}}
	}, readers...)
	RegisterQuery("assetsCSV", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.String), Description: "The assets matching filter as CSV (the import format).",
			Args: gql.FieldConfigArgument{"filter": {Type: assetFilterInput}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return nil, err
				}
				var buf bytes.Buffer
				if err := r.ExportCSV(&buf, assetFilter(p.Args)); err != nil {
					return nil, internal(err)
				}
				return buf.String(), nil
			}}
	}, readers...)

	RegisterMutation("updateAsset", editField(
		gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "input": {Type: gql.NewNonNull(assetInput)}},
		func(ctx context.Context, r AssetRegistry, args map[string]any) (*assets.Asset, error) {
			in, _ := args["input"].(map[string]any)
			e, err := editFromInput(in)
			if err != nil {
				return nil, err
			}
			return r.Update(ctx, str(args, "id"), e, actor(ctx), RequestID(ctx))
		}), editors...)
	RegisterMutation("retireAsset", editField(
		gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "note": {Type: gql.String}},
		func(ctx context.Context, r AssetRegistry, args map[string]any) (*assets.Asset, error) {
			st := assets.StatusRetired
			e := assets.Edit{Status: &st}
			if note, err := noteArg(args); err != nil {
				return nil, err
			} else if note != "" {
				a, ok := r.Get(str(args, "id"))
				if ok {
					n := strings.TrimSpace(a.Biomed.Notes + "\nRetired: " + note)
					e.Notes = &n
				}
			}
			return r.Update(ctx, str(args, "id"), e, actor(ctx), RequestID(ctx))
		}), editors...)
	relArgs := gql.FieldConfigArgument{
		"id":       {Type: gql.NewNonNull(gql.ID), Description: "The dependent asset."},
		"kind":     {Type: gql.NewNonNull(relationKindEnum)},
		"upstream": {Type: gql.NewNonNull(gql.ID), Description: "The asset it depends on."},
		"port":     {Type: gql.String},
	}
	RegisterMutation("addAssetRelation", editField(relArgs,
		func(ctx context.Context, r AssetRegistry, args map[string]any) (*assets.Asset, error) {
			return r.Relate(ctx, str(args, "id"), assets.RelationKind(str(args, "kind")), str(args, "upstream"), str(args, "port"), actor(ctx), RequestID(ctx))
		}), editors...)
	RegisterMutation("removeAssetRelation", editField(relArgs,
		func(ctx context.Context, r AssetRegistry, args map[string]any) (*assets.Asset, error) {
			return r.Unrelate(ctx, str(args, "id"), assets.RelationKind(str(args, "kind")), str(args, "upstream"), actor(ctx), RequestID(ctx))
		}), editors...)

	RegisterMutation("addRecall", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(recallType), Args: gql.FieldConfigArgument{"input": {Type: gql.NewNonNull(recallInput)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return nil, err
				}
				in, _ := p.Args["input"].(map[string]any)
				rc := assets.Recall{Manufacturer: str(in, "manufacturer"), Model: str(in, "model"), Reference: str(in, "reference"),
					Title: str(in, "title"), URL: str(in, "url")}
				if v := str(in, "issuedAt"); v != "" {
					if rc.IssuedAt, err = time.Parse(time.DateOnly, v); err != nil {
						return nil, errorf(CodeBadUserInput, "issuedAt %q: want YYYY-MM-DD", v)
					}
				}
				out, err := r.AddRecall(p.Context, rc, actor(p.Context))
				return out, assetError(err)
			}}
	}, editors...)
	RegisterMutation("removeRecall", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(gql.Boolean), Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, err := registry(p.Context)
				if err != nil {
					return nil, err
				}
				if err := r.RemoveRecall(p.Context, str(p.Args, "id"), actor(p.Context)); err != nil {
					return nil, assetError(err)
				}
				return true, nil
			}}
	}, editors...)
	RegisterMutation("importAssets", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(importResultType),
			Description: "Imports assets from CSV (see assetsCSV for the columns); each bad row is reported and changes nothing. " +
				"Runs as an import job awaited within the request: if the request's time runs out, the job goes on " +
				"(the error names it; read assetImport). Large files: startAssetImport.",
			Args: gql.FieldConfigArgument{"csv": {Type: gql.NewNonNull(gql.String)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				return importNow(p.Context, str(p.Args, "csv"))
			}}
	}, editors...)
}
