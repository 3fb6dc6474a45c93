package docstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// memCollection is a Collection in memory with the semantics of a MongoDB collection
// shared by several writers: unique ids, versioned replaces, documents returned in
// insertion order (MongoDB's natural order, which callers must not rely on anyway).
type memCollection[T any] struct {
	name string

	mu    sync.Mutex
	docs  map[string]bson.Raw
	order []string
}

// Mem returns an empty in-memory collection; name appears in errors.
func Mem[T any](name string) Collection[T] {
	return &memCollection[T]{name: name, docs: map[string]bson.Raw{}}
}

// encode marshals doc and checks that its _id is id, as MongoDB would store it.
func (m *memCollection[T]) encode(id string, doc T) (bson.Raw, error) {
	b, err := bson.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", m.name, id, err)
	}
	raw := bson.Raw(b)
	got, ok := raw.Lookup("_id").StringValueOK()
	if !ok || got != id {
		return nil, fmt.Errorf("encoding %s %s: the document's _id is %q", m.name, id, got)
	}
	return raw, nil
}

func (m *memCollection[T]) decode(raw bson.Raw) (T, error) {
	var doc T
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return doc, fmt.Errorf("decoding %s: %w", m.name, err)
	}
	return doc, nil
}

func (m *memCollection[T]) All(context.Context) ([]T, error) {
	return m.filter(func(bson.Raw) bool { return true })
}

func (m *memCollection[T]) filter(keep func(bson.Raw) bool) ([]T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]T, 0, len(m.order))
	for _, id := range m.order {
		raw := m.docs[id]
		if !keep(raw) {
			continue
		}
		doc, err := m.decode(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

func (m *memCollection[T]) Get(_ context.Context, id string) (T, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.docs[id]
	if !ok {
		var zero T
		return zero, false, nil
	}
	doc, err := m.decode(raw)
	return doc, err == nil, err
}

func (m *memCollection[T]) Insert(_ context.Context, id string, doc T) error {
	raw, err := m.encode(id, doc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.docs[id]; ok {
		return fmt.Errorf("inserting %s %s: %w", m.name, id, ErrExists)
	}
	m.docs[id] = raw
	m.order = append(m.order, id)
	return nil
}

func (m *memCollection[T]) Put(_ context.Context, id string, doc T) error {
	raw, err := m.encode(id, doc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.docs[id]; !ok {
		m.order = append(m.order, id)
	}
	m.docs[id] = raw
	return nil
}

func (m *memCollection[T]) Replace(_ context.Context, id string, doc T, version int64) error {
	raw, err := m.encode(id, doc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.docs[id]
	if ok && version > 0 {
		v, isInt := cur.Lookup("version").AsInt64OK()
		ok = isInt && v == version
	}
	if !ok {
		return fmt.Errorf("writing %s %s at version %d: %w", m.name, id, version, ErrConflict)
	}
	m.docs[id] = raw
	return nil
}

func (m *memCollection[T]) Delete(_ context.Context, id string) (bool, error) {
	n, err := m.DeleteMany(context.Background(), []string{id})
	return n > 0, err
}

func (m *memCollection[T]) DeleteMany(_ context.Context, ids []string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := map[string]bool{}
	for _, id := range ids {
		if _, ok := m.docs[id]; ok {
			gone[id] = true
			delete(m.docs, id)
		}
	}
	if len(gone) > 0 {
		m.order = slices.DeleteFunc(m.order, func(id string) bool { return gone[id] })
	}
	return int64(len(gone)), nil
}

func (m *memCollection[T]) Since(_ context.Context, field string, t time.Time) ([]T, error) {
	return m.filter(func(raw bson.Raw) bool {
		v, ok := raw.Lookup(field).DateTimeOK()
		return ok && v >= t.UnixMilli()
	})
}

// memCounter keeps counters in memory.
type memCounter struct {
	mu  sync.Mutex
	seq map[string]int64
}

// MemCounter returns counters kept in memory, all at 0.
func MemCounter() Counter { return &memCounter{seq: map[string]int64{}} }

func (m *memCounter) Add(_ context.Context, name string, n int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq[name] += n
	return m.seq[name], nil
}
