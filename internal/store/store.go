// Package store owns the MongoDB plumbing: connecting to an external deployment, or
// starting the embedded FerretDB and connecting to it through the same driver, so
// production and the zero-setup default share one code path.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Options says which store to open.
type Options struct {
	// URI of an external MongoDB; empty starts the embedded FerretDB.
	URI string
	// DataDir holds the embedded store's SQLite files (under DataDir/db).
	DataDir  string
	Database string
	Logger   *slog.Logger
	// Socket is the embedded store's Unix socket. Empty: <DataDir>/run/store.sock, or,
	// when that path is too long for a socket address, a socket in a fresh private
	// directory under the temp dir. Its directory must let no other user in (0700).
	Socket string
	// TLS adds a TCP listener to the embedded store that requires TLS client
	// certificates (for `cmdb store`); nil: the Unix socket only.
	TLS *TLSListener
}

// Store is an open database.
type Store struct {
	Client *mongo.Client
	DB     *mongo.Database
	// Embedded: this process runs the store (FerretDB in-process), so it is the only
	// writer: no other replica can race it.
	Embedded bool
	// FerretDB: the server is FerretDB (embedded, or `cmdb store` behind --mongo-uri).
	// It answers only single-key {_id} filters without scanning in Go and its updates
	// scan the table, which decides how data is laid out (see Layout).
	FerretDB bool
	// URI is the address the driver connected to (the embedded listener when embedded).
	URI string

	stopEmbedded func()
}

// Open connects to the configured store, starting the embedded one if needed.
func Open(ctx context.Context, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Database == "" {
		o.Database = "cmdb"
	}
	s := &Store{URI: o.URI}
	if o.URI == "" {
		e, err := startEmbedded(o, log)
		if err != nil {
			return nil, err
		}
		s.URI, s.stopEmbedded, s.Embedded = e.URI, e.Stop, true
	}
	opts := options.Client().ApplyURI(s.URI).
		SetAppName("medcmdb").
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second)
	if s.Embedded {
		// FerretDB serialises SQLite writes; a few connections are all it can use.
		opts.SetMaxPoolSize(16)
		// Each connection costs the embedded FerretDB three goroutines and its buffers
		// in this process: let the pool shrink back after a burst (found by the soak).
		opts.SetMaxConnIdleTime(2 * time.Minute)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("store %s: %w", redactURI(s.URI), err)
	}
	s.Client = client
	s.DB = client.Database(o.Database)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("store %s: %w", redactURI(s.URI), err)
	}
	s.FerretDB = s.Embedded || isFerretDB(pctx, s)
	if s.FerretDB && !s.Embedded {
		log.Info("the store at --mongo-uri is FerretDB: using the FerretDB layout, with several writers")
	}
	log.Info("store connected", "uri", redactURI(s.URI), "embedded", s.Embedded, "database", o.Database)
	return s, nil
}

// Ping reports whether the store answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.Client == nil {
		return errors.New("store not connected")
	}
	return s.Client.Ping(ctx, readpref.Primary())
}

// Close disconnects and stops the embedded store.
func (s *Store) Close(ctx context.Context) {
	if s.Client != nil {
		_ = s.Client.Disconnect(ctx)
	}
	if s.stopEmbedded != nil {
		s.stopEmbedded()
	}
}

// sqliteCacheKiB bounds the page cache of each SQLite connection of the embedded store.
// FerretDB never closes an idle connection, and modernc.org/sqlite holds each cache
// outside the Go heap, filling it as pages are read: at SQLite's default of 2,000 KiB
// the cmdb's resident memory crept up for as long as the caches were filling. The
// working set is served from memory, so the store's reads are few and the file pages
// stay in the OS cache (bench/soak.md, bench/cmdb.md).
const sqliteCacheKiB = 512

// Embedded is a running embedded store.
type Embedded struct {
	// URI reaches it through its Unix socket (Socket).
	URI    string
	Socket string
	// TLSAddr is the TCP address of its TLS listener, if it has one.
	TLSAddr string
	// Stop stops it and removes its socket.
	Stop func()
}

// startEmbedded runs FerretDB with the SQLite handler. It listens on a Unix socket in
// a private directory and on nothing else, unless o.TLS asks for a TCP listener with
// client certificates: the store has no authentication, so any local user who could
// connect could read the tokens and write an admin token of their own.
func startEmbedded(o Options, log *slog.Logger) (*Embedded, error) {
	if o.DataDir == "" {
		return nil, errors.New("embedded store: data dir is required")
	}
	if o.TLS != nil {
		if err := o.TLS.validate(); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(filepath.Join(o.DataDir, "db"))
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	sock, err := placeSocket(o.Socket, o.DataDir, log)
	if err != nil {
		unlock()
		return nil, err
	}
	release := func() {
		if sock.cleanup != nil {
			sock.cleanup()
		}
		unlock()
	}
	if err := clearStaleSocket(sock.path); err != nil {
		release()
		return nil, err
	}
	lc := ferretdb.ListenerConfig{Unix: sock.path}
	if o.TLS != nil {
		// FerretDB requires and verifies client certificates when given a CA file.
		lc.TLS, lc.TLSCertFile, lc.TLSKeyFile, lc.TLSCAFile = o.TLS.Listen, o.TLS.CertFile, o.TLS.KeyFile, o.TLS.ClientCAFile
	}
	// FerretDB logs every connection at Info; only its warnings matter to an operator.
	flog := slog.New(quietHandler{log.With("component", "ferretdb").Handler()})
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  lc,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=cache_size(" + strconv.Itoa(-sqliteCacheKiB) + ")",
		Logger:    flog,
	})
	if err != nil {
		release()
		return nil, fmt.Errorf("embedded store in %s: %w", dir, err)
	}
	// The directory already keeps others out; the socket's own mode says the same, in
	// case the directory is ever loosened.
	if err := os.Chmod(sock.path, 0o600); err != nil {
		log.Warn("embedded store: cannot restrict the socket's mode", "socket", sock.path, "err", err)
	}
	e := &Embedded{URI: SocketURI(sock.path), Socket: sock.path}
	if o.TLS != nil {
		// MongoDBURI prefers the TLS listener and blocks until it is bound.
		if u, err := url.Parse(f.MongoDBURI()); err == nil {
			e.TLSAddr = u.Host
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	e.Stop = func() {
		cancel()
		<-done
		release()
	}
	return e, nil
}

// StartEmbedded runs the embedded store alone (for `cmdb store`).
func StartEmbedded(o Options) (*Embedded, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return startEmbedded(o, log)
}

// quietHandler drops records below Warn, and FerretDB's wire-protocol dumps of
// commands it does not implement (the driver's endSessions at every disconnect):
// they are protocol debugging, not news for an operator.
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && (strings.HasPrefix(r.Message, "Response header") || strings.HasPrefix(r.Message, "Response message") ||
		strings.HasPrefix(r.Message, "Request header") || strings.HasPrefix(r.Message, "Request message")) {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}
func (q quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(a)}
}
func (q quietHandler) WithGroup(n string) slog.Handler { return quietHandler{q.Handler.WithGroup(n)} }

// EnsureIndexes creates indexes; creating an existing index is a no-op. One command
// per index: FerretDB v1.24 panics on a createIndexes command carrying several (seen
// when cmdb processes share `cmdb store` through --mongo-uri).
func EnsureIndexes(ctx context.Context, c *mongo.Collection, models ...mongo.IndexModel) error {
	for _, m := range models {
		if _, err := c.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("creating indexes on %s: %w", c.Name(), err)
		}
	}
	return nil
}

// IsDuplicateKey reports whether err is a unique-key violation.
func IsDuplicateKey(err error) bool { return mongo.IsDuplicateKeyError(err) }

// Key is a shorthand for an ascending single-field index spec.
func Key(fields ...string) bson.D {
	d := bson.D{}
	for _, f := range fields {
		d = append(d, bson.E{Key: f, Value: 1})
	}
	return d
}
