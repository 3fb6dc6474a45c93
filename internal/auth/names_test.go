package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"north-collector", true}, {"Équipe biomédicale 3", true}, {strings.Repeat("é", 100), true},
		{"", false}, {strings.Repeat("x", 101), false}, {"a\nb", false}, {"a\x00b", false}, {"a\x7fb", false},
		{"\u202eexe.pdf", false}, {"zero\u200bwidth", false}, {"a\xffb", false}, {"a\u0085b", false},
	} {
		err := auth.CheckName("token name", c.name)
		if (err == nil) != c.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, auth.ErrBadSpec) {
			t.Errorf("CheckName(%q) = %v, not ErrBadSpec", c.name, err)
		}
	}
}

// Two creations of one name at once (two replicas, two admins) give one token: the
// name claim's unique _id decides.
func TestOneActiveTokenPerName(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	a, b := auth.NewStore(st.DB), auth.NewStore(st.DB)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { _, _, errs[i] = s.Create(ctx, "noc-wall", auth.RoleViewer, "test") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, auth.ErrDuplicateName):
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d tokens named noc-wall created at once, want 1 (%v)", ok, errs)
	}
	toks, _ := a.List(ctx)
	var id string
	for _, tk := range toks {
		id = auth.ShortID(tk.ID)
	}
	if len(toks) != 1 {
		t.Fatalf("stored %d tokens", len(toks))
	}
	// Revoking frees the name; a token from before name claims counts as active too.
	if _, err := a.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Create(ctx, "noc-wall", auth.RoleViewer, "test"); err != nil {
		t.Fatalf("create after revoking the holder: %v", err)
	}
	if _, err := st.DB.Collection("tokens").InsertOne(ctx, bson.M{"_id": "legacyhash", "name": "old", "role": "viewer", "createdAt": time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Create(ctx, "old", auth.RoleViewer, "test"); !errors.Is(err, auth.ErrDuplicateName) {
		t.Fatalf("create over an active token from before claims: %v", err)
	}
	// Reissue replaces whatever holds the name.
	secret, _, err := a.Reissue(ctx, auth.Spec{Name: "old", Role: auth.RoleAdmin, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.Authenticate(ctx, secret); err != nil || p.Role != auth.RoleAdmin {
		t.Fatalf("reissued token: %+v %v", p, err)
	}
	toks, _ = a.List(ctx)
	active := 0
	for _, tk := range toks {
		if tk.Name == "old" && !tk.Revoked {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d active tokens named old after Reissue", active)
	}
}

func TestCollectorBinding(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	s := auth.NewStore(st.DB)
	if _, _, err := s.Issue(ctx, auth.Spec{Name: "desk", Role: auth.RoleServiceDesk, Site: "North"}); !errors.Is(err, auth.ErrBadSpec) {
		t.Fatalf("a desk token bound to a site: %v", err)
	}
	secret, tok, err := s.Issue(ctx, auth.Spec{Name: "north-collector", Role: auth.RoleCollector})
	if err != nil || tok.Collector != "north-collector" || tok.BoundAt.IsZero() {
		t.Fatalf("collector token: %+v %v, want bound to its name", tok, err)
	}
	p, _ := s.Authenticate(ctx, secret)
	if p.Collector != "north-collector" || p.Site != "" {
		t.Fatalf("principal %+v", p)
	}

	// A token from before bindings: bound by its first report, once.
	legacy := "mcm_legacy"
	if _, err := st.DB.Collection("tokens").InsertOne(ctx, bson.M{"_id": auth.Hash(legacy), "name": "old-col", "role": "collector", "createdAt": time.Now()}); err != nil {
		t.Fatal(err)
	}
	p, err = s.Authenticate(ctx, legacy)
	if err != nil || p.Collector != "" {
		t.Fatalf("legacy principal %+v %v", p, err)
	}
	other := auth.NewStore(st.DB)
	q, _ := other.Authenticate(ctx, legacy) // another replica, unbound in its cache
	np, bound, err := s.BindCollector(ctx, p, "col-a", "Main")
	if err != nil || !bound || np.Collector != "col-a" || np.Site != "Main" {
		t.Fatalf("first binding: %+v %v %v", np, bound, err)
	}
	if p, _ := s.Authenticate(ctx, legacy); p.Collector != "col-a" {
		t.Fatalf("cache after binding: %+v", p)
	}
	np, bound, err = other.BindCollector(ctx, q, "vm", "")
	if err != nil || bound || np.Collector != "col-a" {
		t.Fatalf("second binding from another replica: %+v bound=%v %v, want the stored col-a", np, bound, err)
	}
	if _, _, err := s.BindCollector(ctx, p, "bad\nname", ""); !errors.Is(err, auth.ErrBadSpec) {
		t.Fatalf("binding to a bad name: %v", err)
	}
	toks, _ := s.List(ctx)
	for _, tk := range toks {
		if tk.Name == "old-col" {
			if _, err := s.Revoke(ctx, auth.ShortID(tk.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := s.BindCollector(ctx, q, "col-b", ""); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("binding a revoked token: %v", err)
	}
}
