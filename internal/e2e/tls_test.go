package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/server"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestCollectorVerifiesTheCMDBOverTLS: the cmdb serves HTTPS; a collector that trusts
// the CA delivers, one that does not is refused by certificate verification.
func TestCollectorVerifiesTheCMDBOverTLS(t *testing.T) {
	ca, cert, key := testkit.TLSFiles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testkit.Logger(), TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	secret, _, err := srv.Tokens().Create(ctx, "site-a", auth.RoleCollector, "test")
	if err != nil {
		t.Fatal(err)
	}
	obs := []observation.Observation{{ID: "tls-1", Collector: "site-a", ObservedAt: time.Now(), Source: observation.SourceSNMPPoll,
		State: observation.StateUp, Address: &observation.Address{IP: "10.9.9.9"}, Identity: observation.Identity{SysName: "tls-dev"}, Conditions: []string{}}}

	trusting, err := discovery.NewCMDBClient(discovery.CMDBConfig{URL: srv.URL() + "/graphql", Token: discovery.Secret(secret), CAFile: ca}, "site-a")
	if err != nil {
		t.Fatal(err)
	}
	res, err := trusting.Report(ctx, obs)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("over TLS with the CA: %v %+v", err, res)
	}
	untrusting, _ := discovery.NewCMDBClient(discovery.CMDBConfig{URL: srv.URL() + "/graphql", Token: discovery.Secret(secret)}, "site-a")
	if _, err := untrusting.Report(ctx, obs); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
}
