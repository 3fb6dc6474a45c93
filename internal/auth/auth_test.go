package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestTokenLifecycleOnTheStore(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	s := auth.NewStore(st.DB)

	secret, tok, err := s.Create(ctx, "icu-biomed", auth.RoleBiomed, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "mcm_") || len(secret) < 40 {
		t.Fatalf("secret %q: want mcm_ and 32 random bytes", secret)
	}
	// Only the hash is stored: no document holds the secret anywhere.
	raw, err := st.DB.Collection("tokens").Find(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := raw.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0]["_id"] != auth.Hash(secret) || tok.ID != auth.Hash(secret) {
		t.Fatalf("stored tokens %v, want one with _id = hash of the secret", docs)
	}
	for k, v := range docs[0] {
		if s, ok := v.(string); ok && strings.Contains(s, secret) {
			t.Fatalf("field %s stores the secret", k)
		}
	}

	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Name != "icu-biomed" || p.Role != auth.RoleBiomed || p.TokenID != auth.ShortID(tok.ID) {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "mcm_wrong", secret + "x", strings.Repeat("a", 500)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("authenticate(%.20q) = %v, want ErrUnauthenticated", bad, err)
		}
	}

	if _, err := s.Revoke(ctx, "nope"); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("revoke unknown id: %v", err)
	}
	if _, err := s.Revoke(ctx, auth.ShortID(tok.ID)); err != nil {
		t.Fatal(err)
	}
	// Revocation is immediate on this replica, cache or not.
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token still authenticates: %v", err)
	}
	// Another replica with the token cached sees the revocation once it forgets.
	other := auth.NewStore(st.DB)
	if _, err := other.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token authenticates on another replica: %v", err)
	}
	toks, err := s.List(ctx)
	if err != nil || len(toks) != 1 || !toks[0].Revoked {
		t.Fatalf("list after revoke: %+v, %v", toks, err)
	}
}

func TestRevocationReachesAReplicaThatCachedTheToken(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	a, b := auth.NewStore(st.DB), auth.NewStore(st.DB)
	secret, tok, err := a.Create(ctx, "noc", auth.RoleViewer, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, auth.ShortID(tok.ID)); err != nil {
		t.Fatal(err)
	}
	// b still has it cached (at most the cache TTL); the change feed makes it forget.
	if _, err := b.Authenticate(ctx, secret); err != nil {
		t.Fatalf("cached token refused before Forget: %v (the cache is what keeps lookups off the store)", err)
	}
	b.Forget()
	if _, err := b.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token authenticates after Forget: %v", err)
	}
}

func TestBootstrapWritesOneAdminTokenFile(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	s := auth.NewStore(st.DB)
	dir := filepath.Join(t.TempDir(), "data")

	path, created, err := auth.Bootstrap(ctx, s, dir)
	if err != nil || !created || path != filepath.Join(dir, "admin.token") {
		t.Fatalf("bootstrap: %q %v %v", path, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	secret, err := auth.ReadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Authenticate(ctx, secret); err != nil || p.Role != auth.RoleAdmin {
		t.Fatalf("bootstrap token: %+v %v", p, err)
	}

	// A second start keeps the same token.
	if _, created, err := auth.Bootstrap(ctx, s, dir); err != nil || created {
		t.Fatalf("second bootstrap created=%v err=%v", created, err)
	}
	again, _ := auth.ReadTokenFile(path)
	if again != secret {
		t.Fatal("second bootstrap replaced the token file")
	}

	// The same data dir against a new, empty store (a new --mongo-uri) restores the
	// file's token there instead of minting another.
	st2 := testkit.Store(t)
	s2 := auth.NewStore(st2.DB)
	if _, created, err := auth.Bootstrap(ctx, s2, dir); err != nil || created {
		t.Fatalf("bootstrap on a new store: created=%v err=%v", created, err)
	}
	if p, err := s2.Authenticate(ctx, secret); err != nil || p.Role != auth.RoleAdmin {
		t.Fatalf("file token on the new store: %+v %v", p, err)
	}

	// A store that already has an admin and no file: nothing is written.
	dir3 := filepath.Join(t.TempDir(), "data3")
	if path, created, err := auth.Bootstrap(ctx, s, dir3); err != nil || created || path != "" {
		t.Fatalf("bootstrap with an existing admin: %q %v %v", path, created, err)
	}
	if _, err := os.Stat(filepath.Join(dir3, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("admin.token written although an admin exists: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range auth.Roles {
		got, err := auth.ParseRole(strings.ToUpper(string(r)))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := auth.ParseRole("root"); err == nil || !strings.Contains(err.Error(), `"root"`) {
		t.Fatalf("ParseRole(root) = %v, want an error naming it", err)
	}
}
