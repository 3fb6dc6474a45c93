// Package auth owns API tokens and roles: tokens are random, shown once, and stored
// only as their SHA-256 hash.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Role is what a token may do.
type Role string

// Roles (DESIGN §9).
const (
	RoleViewer      Role = "viewer"
	RoleBiomed      Role = "biomed"
	RoleServiceDesk Role = "servicedesk"
	RoleAdmin       Role = "admin"
	RoleCollector   Role = "collector"
)

// Roles lists every role.
var Roles = []Role{RoleViewer, RoleBiomed, RoleServiceDesk, RoleAdmin, RoleCollector}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == strings.ToLower(s) {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q is not one of viewer, biomed, servicedesk, admin, collector", s)
}

// Principal is an authenticated caller.
type Principal struct {
	TokenID string
	Name    string
	Role    Role
	// Collector and Site are a collector token's binding: it reports only as that
	// collector (and only for that site, when set). An empty Collector on a collector
	// token means a token from before bindings, bound on its first report.
	Collector string
	Site      string

	hash string // the token's _id, to bind it
}

// Token is a stored token; its _id is the hash of the secret.
type Token struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	Role      Role      `bson:"role"`
	CreatedAt time.Time `bson:"createdAt"`
	CreatedBy string    `bson:"createdBy,omitempty"`
	Revoked   bool      `bson:"revoked,omitempty"`
	// Collector and Site bind a collector token (see Principal).
	Collector string    `bson:"collector,omitempty"`
	Site      string    `bson:"site,omitempty"`
	BoundAt   time.Time `bson:"boundAt,omitempty"`
}

func (t *Token) principal() *Principal {
	return &Principal{TokenID: ShortID(t.ID), Name: t.Name, Role: t.Role, Collector: t.Collector, Site: t.Site, hash: t.ID}
}

// ErrUnauthenticated means no valid token was given.
var ErrUnauthenticated = errors.New("missing, unknown or revoked token")

// Store keeps tokens, with a short cache so a token lookup is not a database
// round trip per request.
type Store struct {
	col   *mongo.Collection
	names *mongo.Collection // token_names: one claim per active name
	ttl   time.Duration
	log   *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p   *Principal
	exp time.Time
}

// NewStore returns a token store over the tokens collection.
func NewStore(db *mongo.Database) *Store {
	return &Store{col: db.Collection("tokens"), names: db.Collection("token_names"), ttl: 10 * time.Second,
		cache: map[string]cached{}, log: slog.New(slog.DiscardHandler)}
}

// WithLogger makes the store log what operators must know (a token bound on first use).
func (s *Store) WithLogger(l *slog.Logger) *Store {
	s.log = l.With("component", "auth")
	return s
}

// Hash returns the stored form of a token secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create makes a token and returns its secret, which is never stored. A collector
// token is bound to the collector of its name.
func (s *Store) Create(ctx context.Context, name string, role Role, by string) (string, *Token, error) {
	return s.Issue(ctx, Spec{Name: name, Role: role, By: by})
}

// Spec describes a token to issue.
type Spec struct {
	Name string
	Role Role
	By   string // who asks (audit)
	// Collector binds a collector token to the collector it reports as (default:
	// Name); Site, when set, also to the site its observations carry. Only for
	// RoleCollector.
	Collector, Site string
}

// Issue makes a token and returns its secret, which is never stored. The name must be
// printable, at most MaxNameLen characters, and not that of another active token.
func (s *Store) Issue(ctx context.Context, sp Spec) (string, *Token, error) {
	sp.Name, sp.Collector, sp.Site = strings.TrimSpace(sp.Name), strings.TrimSpace(sp.Collector), strings.TrimSpace(sp.Site)
	if err := CheckName("token name", sp.Name); err != nil {
		return "", nil, err
	}
	if _, err := ParseRole(string(sp.Role)); err != nil {
		return "", nil, specError(err.Error())
	}
	if sp.Role == RoleCollector {
		if sp.Collector == "" {
			sp.Collector = sp.Name
		}
		if err := CheckName("collector", sp.Collector); err != nil {
			return "", nil, err
		}
		if sp.Site != "" {
			if err := CheckName("site", sp.Site); err != nil {
				return "", nil, err
			}
		}
	} else if sp.Collector != "" || sp.Site != "" {
		return "", nil, specError(fmt.Sprintf("a %s token cannot be bound to a collector or site: only collector tokens are", sp.Role))
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret := "mcm_" + base64.RawURLEncoding.EncodeToString(b)
	now := time.Now().UTC()
	t := &Token{ID: Hash(secret), Name: sp.Name, Role: sp.Role, CreatedAt: now, CreatedBy: sp.By, Collector: sp.Collector, Site: sp.Site}
	if t.Collector != "" {
		t.BoundAt = now
	}
	if err := s.claimName(ctx, t.Name, t.ID); err != nil {
		return "", nil, err
	}
	if _, err := s.col.InsertOne(ctx, t); err != nil {
		s.releaseName(ctx, t.Name, t.ID)
		return "", nil, fmt.Errorf("storing token %q: %w", sp.Name, err)
	}
	return secret, t, nil
}

// Authenticate resolves a bearer secret to a principal.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 200 {
		return nil, ErrUnauthenticated
	}
	h := Hash(secret)
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Before(c.exp) {
		if c.p == nil {
			return nil, ErrUnauthenticated
		}
		return c.p, nil
	}
	var t Token
	err := s.col.FindOne(ctx, bson.M{"_id": h}).Decode(&t)
	var p *Principal
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return nil, fmt.Errorf("looking up token: %w", err)
	case !t.Revoked:
		p = t.principal()
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache) // bounded: a flood of random tokens must not grow memory
	}
	s.cache[h] = cached{p: p, exp: now.Add(s.ttl)}
	s.mu.Unlock()
	if p == nil {
		return nil, ErrUnauthenticated
	}
	return p, nil
}

// Forget empties the lookup cache, so that the next request of every token reads it
// again: replicas sharing a store call it on each change-feed poll, which bounds how
// long a token revoked through another replica still works here.
func (s *Store) Forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// List returns every token (hashes shortened: they identify, never authenticate).
func (s *Store) List(ctx context.Context) ([]Token, error) {
	cur, err := s.col.Find(ctx, bson.M{})
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	var out []Token
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return out, nil
}

// ShortID is the public id of a token: a prefix of its hash. It identifies a token
// in lists and audit records; it cannot authenticate.
func ShortID(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// ErrNoToken means no token has that id.
var ErrNoToken = errors.New("no such token")

// Revoke revokes the token whose short id is id. It takes effect at once on this
// replica, and on others at their next change-feed poll (at most the cache TTL,
// 10 s, without one).
func (s *Store) Revoke(ctx context.Context, id string) (*Token, error) {
	toks, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if ShortID(t.ID) != id || id == "" {
			continue
		}
		if _, err := s.col.UpdateOne(ctx, bson.M{"_id": t.ID}, bson.M{"$set": bson.M{"revoked": true}}); err != nil {
			return nil, fmt.Errorf("revoking token %s: %w", id, err)
		}
		s.releaseName(ctx, t.Name, t.ID)
		s.mu.Lock()
		delete(s.cache, t.ID)
		s.mu.Unlock()
		t.Revoked = true
		return &t, nil
	}
	return nil, fmt.Errorf("token %q: %w", id, ErrNoToken)
}

// HasAdmin reports whether any unrevoked admin token exists.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	toks, err := s.List(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range toks {
		if t.Role == RoleAdmin && !t.Revoked {
			return true, nil
		}
	}
	return false, nil
}

// Bootstrap makes sure an admin can get in: on a fresh data dir with no admin token in
// the store it creates one and writes it to <dataDir>/admin.token (mode 0600). It
// returns the file path and whether a token was created.
func Bootstrap(ctx context.Context, s *Store, dataDir string) (string, bool, error) {
	path := filepath.Join(dataDir, "admin.token")
	if secret, err := ReadTokenFile(path); err == nil && secret != "" {
		// The file may predate this store (a new --mongo-uri): make sure its token is
		// known, unless an admin revoked it on purpose.
		n, err := s.col.CountDocuments(ctx, bson.M{"_id": Hash(secret)})
		if err != nil {
			return "", false, fmt.Errorf("checking bootstrap token: %w", err)
		}
		if n == 0 {
			t := &Token{ID: Hash(secret), Name: "bootstrap-admin", Role: RoleAdmin, CreatedAt: time.Now().UTC(), CreatedBy: "bootstrap"}
			if _, err := s.col.InsertOne(ctx, t); err != nil {
				return "", false, fmt.Errorf("restoring bootstrap token: %w", err)
			}
		}
		return path, false, nil
	}
	has, err := s.HasAdmin(ctx)
	if err != nil {
		return "", false, err
	}
	if has {
		return "", false, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("data dir: %w", err)
	}
	secret, _, err := s.Create(ctx, "bootstrap-admin", RoleAdmin, "bootstrap")
	if err != nil {
		return "", false, err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("writing %s: %w", path, err)
	}
	return path, true, nil
}

// ReadTokenFile reads a token written by Bootstrap.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
