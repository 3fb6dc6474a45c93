package graphql

import (
	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// identityConflicter lists the identifiers an asset shares with other assets.
type identityConflicter interface {
	IdentityConflicts(a *assets.Asset) []assets.IdentityConflict
}

var identityConflictType = gql.NewObject(gql.ObjectConfig{
	Name: "IdentityConflict",
	Description: "An identifier this asset shares with other assets: one device recorded twice (merge them) " +
		"or two devices that claim one identity (fix one). Shown, never a reason to refuse an edit.",
	Fields: gql.FieldsThunk(func() gql.Fields {
		return gql.Fields{
			"identifier": {Type: gql.NewNonNull(gql.String), Description: "eui64, manufacturer+serial, mac or assetTag.",
				Resolve: field(func(c assets.IdentityConflict) any { return c.Identifier })},
			"value": {Type: gql.NewNonNull(gql.String), Description: "This asset's value of it.",
				Resolve: field(func(c assets.IdentityConflict) any { return c.Value })},
			"assetIds": {Type: nonNullList(gql.ID), Description: "The other assets that hold it.",
				Resolve: field(func(c assets.IdentityConflict) any { return c.Assets })},
			"assets": {Type: nonNullList(assetType), Description: "The other assets that hold it.",
				Resolve: func(p gql.ResolveParams) (any, error) {
					c, _ := p.Source.(assets.IdentityConflict)
					out := make([]*assets.Asset, 0, len(c.Assets))
					for _, id := range c.Assets {
						if a, ok := deps(p.Context).Assets.Get(id); ok {
							out = append(out, a)
						}
					}
					return out, nil
				}},
		}
	}),
})

func init() {
	ExtendAsset("identityConflicts", func() *gql.Field {
		return &gql.Field{Type: nonNullList(identityConflictType),
			Description: "Strong identifiers (EUI-64, manufacturer+serial, MAC) and the asset tag that other assets hold too.",
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, ok := deps(p.Context).Assets.(identityConflicter)
				if !ok {
					return []assets.IdentityConflict{}, nil
				}
				return r.IdentityConflicts(p.Source.(*assets.Asset)), nil
			}}
	})
}
