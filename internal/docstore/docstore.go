// Package docstore keeps collections of documents by id, in MongoDB (the shared store,
// embedded FerretDB or an external deployment) or in memory (logic tests, replays).
//
// It is the one shape behind the small collections the cmdb mirrors in memory under a
// mutex (maintenance windows, advisories, recalls, the rogue allow list and sightings,
// problems and their keys) and the storage of incidents: each service keeps its working
// set in memory and writes through a Collection, and its tests swap the MongoDB
// collection for the in-memory twin without a store process.
//
// Documents are read and written whole, by _id; the only other query is Since, for the
// change feed between replicas. That is all the embedded FerretDB answers without
// scanning in Go (internal/store), and all the in-memory twin must mimic. The twin
// keeps each document as its BSON encoding, so what a test reads back is what MongoDB
// would return: a copy, with the same fields dropped (unexported, omitempty) and times
// at millisecond precision in UTC.
package docstore

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on.
var (
	// ErrExists: a document with that id is already stored (a unique key taken).
	ErrExists = errors.New("document already exists")
	// ErrConflict: the document to replace is missing, or another writer changed it
	// first (its version field is not the one expected).
	ErrConflict = errors.New("document changed concurrently")
)

// Collection is a set of documents of type T (a struct whose _id is the id) by id.
type Collection[T any] interface {
	// All returns every document, in no particular order.
	All(ctx context.Context) ([]T, error)
	// Get returns the document with that id; ok is false when there is none.
	Get(ctx context.Context, id string) (doc T, ok bool, err error)
	// Insert adds a document; ErrExists when the id is taken.
	Insert(ctx context.Context, id string, doc T) error
	// Put writes a document, replacing the one with that id if any.
	Put(ctx context.Context, id string, doc T) error
	// Replace writes over the document with that id. With version > 0 only the stored
	// document whose "version" field equals version is replaced. ErrConflict when
	// nothing was replaced.
	Replace(ctx context.Context, id string, doc T, version int64) error
	// Delete removes the document with that id and reports whether there was one.
	Delete(ctx context.Context, id string) (bool, error)
	// DeleteMany removes the documents with these ids and returns how many there were.
	DeleteMany(ctx context.Context, ids []string) (int64, error)
	// Since returns the documents whose time field is at or after t (the change feed
	// between replicas; MongoDB serves it from an index on the field).
	Since(ctx context.Context, field string, t time.Time) ([]T, error)
}

// Counter hands out numbers that are unique across every writer of a store.
type Counter interface {
	// Add adds n to the named counter (created at 0) and returns its new value.
	Add(ctx context.Context, name string, n int64) (int64, error)
}
