package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// isFerretDB reports whether the server behind a --mongo-uri is FerretDB (for example
// `cmdb store`). It then gets the embedded store's layout and limits: the data the
// embedded cmdb wrote (append-only asset versions, 64 partitions) stays readable, and
// nothing asks FerretDB v1.24 to create an index that exists already, which makes it
// drop the connection.
func isFerretDB(ctx context.Context, s *Store) bool {
	var info bson.M
	if err := s.DB.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false
	}
	_, ok := info["ferretdbVersion"]
	return ok
}
