package store

import (
	"context"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkEmbeddedRoundTrip measures calls through the driver and the embedded
// store's listener (a Unix socket since issue 16; loopback TCP before): a ping (the
// transport alone) and a read by _id in a 100-document collection:
//
//	go test -run '^$' -bench EmbeddedRoundTrip -benchtime 5000x ./internal/store
func BenchmarkEmbeddedRoundTrip(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: b.TempDir(), Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	c := s.DB.Collection("bench")
	for i := range 100 {
		if _, err := c.InsertOne(ctx, bson.M{"_id": strconv.Itoa(i), "v": i}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ping", func(b *testing.B) {
		for range b.N {
			if err := s.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("find-by-id", func(b *testing.B) {
		for i := range b.N {
			if err := c.FindOne(ctx, bson.M{"_id": strconv.Itoa(i % 100)}).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
