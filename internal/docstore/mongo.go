package docstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/store"
)

// mongoCollection is a Collection in MongoDB: one collection, or a partitioned one
// whose documents are spread by a hash of their id (store.Partitioned).
type mongoCollection[T any] struct {
	name string
	pick func(id string) *mongo.Collection
	all  []*mongo.Collection
}

// Mongo returns the collection c of the store.
func Mongo[T any](c *mongo.Collection) Collection[T] {
	return &mongoCollection[T]{name: c.Name(), pick: func(string) *mongo.Collection { return c }, all: []*mongo.Collection{c}}
}

// Partitioned returns a collection split into partitions (store.Partitioned).
func Partitioned[T any](name string, p *store.Partitioned) Collection[T] {
	return &mongoCollection[T]{name: name, pick: p.For, all: p.All()}
}

func (m *mongoCollection[T]) All(ctx context.Context) ([]T, error) {
	return m.find(ctx, bson.M{})
}

func (m *mongoCollection[T]) find(ctx context.Context, filter bson.M) ([]T, error) {
	var out []T
	for _, c := range m.all {
		cur, err := c.Find(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.name, err)
		}
		var part []T
		err = cur.All(ctx, &part)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.name, err)
		}
		out = append(out, part...)
	}
	return out, nil
}

func (m *mongoCollection[T]) Get(ctx context.Context, id string) (T, bool, error) {
	var doc T
	err := m.pick(id).FindOne(ctx, bson.M{"_id": id}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, fmt.Errorf("reading %s %s: %w", m.name, id, err)
	}
	return doc, true, nil
}

func (m *mongoCollection[T]) Insert(ctx context.Context, id string, doc T) error {
	if _, err := m.pick(id).InsertOne(ctx, doc); err != nil {
		if store.IsDuplicateKey(err) {
			return fmt.Errorf("inserting %s %s: %w", m.name, id, ErrExists)
		}
		return fmt.Errorf("inserting %s %s: %w", m.name, id, err)
	}
	return nil
}

func (m *mongoCollection[T]) Put(ctx context.Context, id string, doc T) error {
	if _, err := m.pick(id).ReplaceOne(ctx, bson.M{"_id": id}, doc, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("writing %s %s: %w", m.name, id, err)
	}
	return nil
}

func (m *mongoCollection[T]) Replace(ctx context.Context, id string, doc T, version int64) error {
	filter := bson.M{"_id": id}
	if version > 0 {
		filter["version"] = version
	}
	res, err := m.pick(id).ReplaceOne(ctx, filter, doc)
	if err != nil {
		return fmt.Errorf("writing %s %s: %w", m.name, id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("writing %s %s at version %d: %w", m.name, id, version, ErrConflict)
	}
	return nil
}

func (m *mongoCollection[T]) Delete(ctx context.Context, id string) (bool, error) {
	res, err := m.pick(id).DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return false, fmt.Errorf("deleting %s %s: %w", m.name, id, err)
	}
	return res.DeletedCount > 0, nil
}

// DeleteMany deletes a batch per partition.
func (m *mongoCollection[T]) DeleteMany(ctx context.Context, ids []string) (int64, error) {
	byCol := map[*mongo.Collection][]string{}
	for _, id := range ids {
		c := m.pick(id)
		byCol[c] = append(byCol[c], id)
	}
	var n int64
	var errs []error
	for _, c := range m.all {
		list := byCol[c]
		if len(list) == 0 {
			continue
		}
		res, err := c.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": list}})
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting %d documents from %s: %w", len(list), c.Name(), err))
			continue
		}
		n += res.DeletedCount
	}
	return n, errors.Join(errs...)
}

func (m *mongoCollection[T]) Since(ctx context.Context, field string, t time.Time) ([]T, error) {
	return m.find(ctx, bson.M{field: bson.M{"$gte": t}})
}

// mongoCounter keeps counters as documents {_id: name, seq} of one collection.
type mongoCounter struct{ col *mongo.Collection }

// MongoCounter returns the counters kept in collection c.
func MongoCounter(c *mongo.Collection) Counter { return mongoCounter{c} }

func (m mongoCounter) Add(ctx context.Context, name string, n int64) (int64, error) {
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	inc := func() error {
		return m.col.FindOneAndUpdate(ctx, bson.M{"_id": name}, bson.M{"$inc": bson.M{"seq": n}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	}
	err := inc()
	if store.IsDuplicateKey(err) {
		// Two replicas both tried to create the counter; the loser's retry finds it
		// (seen once in incidents' TestTwoEnginesOneStoreNoDuplicate).
		err = inc()
	}
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	return doc.Seq, nil
}
