package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// TestUnavailable: what the driver says when nothing listens is "unavailable" (retry
// later); a refusal by a store that answers, or the caller's own deadline, is not.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + addr).SetServerSelectionTimeout(300 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	_, err = client.Database("x").Collection("y").InsertOne(context.Background(), bson.M{"a": 1})
	if err == nil || !store.Unavailable(err) {
		t.Fatalf("insert with no server: %v, Unavailable=false", err)
	}
	if !store.Unavailable(fmt.Errorf("saving asset a1: %w", err)) {
		t.Fatal("a wrapped selection error is not Unavailable")
	}
	for _, e := range []error{nil, errors.New("boom"), context.DeadlineExceeded, context.Canceled, mongo.ErrNoDocuments} {
		if store.Unavailable(e) {
			t.Errorf("Unavailable(%v) = true", e)
		}
	}
}
