package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// isFerretDB reports whether the server behind a --mongo-uri is FerretDB (for example
// `cmdb store`). It then gets the FerretDB layout (append-only asset versions, 64
// partitions), so what an embedded cmdb wrote stays readable, and no secondary index
// is asked for: FerretDB v1.24 drops the connection when an existing one is created.
func isFerretDB(ctx context.Context, s *Store) bool {
	var info bson.M
	if err := s.DB.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false
	}
	_, ok := info["ferretdbVersion"]
	return ok
}

// Layout returns the layout recorded for a logical collection, recording def on first
// use: data keeps the layout it was written with whichever process opens it later.
func (s *Store) Layout(ctx context.Context, name, def string) (string, error) {
	meta := s.DB.Collection("meta")
	id := "layout:" + name
	if _, err := meta.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$setOnInsert": bson.M{"layout": def}},
		options.UpdateOne().SetUpsert(true)); err != nil {
		return "", fmt.Errorf("recording layout of %s: %w", name, err)
	}
	var doc struct {
		Layout string `bson:"layout"`
	}
	if err := meta.FindOne(ctx, bson.M{"_id": id}).Decode(&doc); err != nil {
		return "", fmt.Errorf("reading layout of %s: %w", name, err)
	}
	return doc.Layout, nil
}
