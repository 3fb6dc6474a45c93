package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/medcmdb/medcmdb/internal/discovery"
)

func TestComposeFile(t *testing.T) {
	dir, _ := filepath.Abs("../compose")
	raw, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"COLLECTOR_TOKEN_MAIN_CAMPUS": "check-token-1", "COLLECTOR_TOKEN_NORTH_CLINIC": "check-token-2"}
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: raw}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("medcmdb", true) })
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	want := []string{"mongo-1", "mongo-2", "mongo-3", "mongo-init", "cmdb-1", "cmdb-2", "proxy", "prometheus", "grafana"}
	for _, s := range want {
		if _, err := project.GetService(s); err != nil {
			t.Errorf("service %s: %v", s, err)
		}
	}
	collectors := 0
	tokens := map[string]string{} // token -> collector: one token per collector (tokens are bound)
	for name, s := range project.Services {
		if strings.HasPrefix(name, "collector-") {
			collectors++
			tok, comm := s.Environment["COLLECTOR_TOKEN"], s.Environment["SNMP_COMMUNITY"]
			if tok == nil || *tok == "" || comm == nil {
				t.Errorf("%s: environment %v, want its own COLLECTOR_TOKEN and the SNMP settings", name, s.Environment)
			} else if other, dup := tokens[*tok]; dup {
				t.Errorf("%s and %s share a token: a collector token reports only as its own collector", name, other)
			} else {
				tokens[*tok] = name
			}
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeBind && strings.HasSuffix(v.Source, ".yaml") {
					checkCollectorFile(t, v.Source)
				}
			}
		}
		if strings.HasPrefix(name, "cmdb-") && !strings.Contains(strings.Join(s.Command, " "), "0.0.0.0:8080") {
			t.Errorf("%s does not listen on the container network", name)
		}
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %s beyond loopback", name, p.Published)
			}
		}
	}
	if collectors < 2 {
		t.Errorf("want a collector per site (2), got %d", collectors)
	}
	// Every bind-mounted file must exist.
	for name, s := range project.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts missing %s", name, v.Source)
				}
			}
		}
	}
}

func checkCollectorFile(t *testing.T, path string) {
	t.Helper()
	t.Setenv("COLLECTOR_TOKEN", "check-token")
	t.Setenv("SNMP_COMMUNITY", "check-community")
	if _, err := discovery.LoadConfig(path); err != nil {
		t.Errorf("%v", err)
	}
}

// TestProxySticksTokensToReplicas: the proxy in front of the cmdb replicas routes by
// bearer token, so a collector's reports keep reaching the replica that judges when
// its devices expire, and fails over to the other.
func TestProxySticksTokensToReplicas(t *testing.T) {
	raw, err := os.ReadFile("../compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(stripComments(raw))
	start := strings.Index(conf, "upstream cmdb {")
	if start < 0 {
		t.Fatal("nginx.conf: no upstream cmdb")
	}
	block := conf[start : start+strings.Index(conf[start:], "}")]
	if !strings.Contains(block, "hash $http_authorization consistent;") {
		t.Errorf("upstream cmdb does not hash on the bearer token:\n%s", block)
	}
	if n := strings.Count(block, "server cmdb-"); n < 2 {
		t.Errorf("upstream cmdb has %d replicas, want 2", n)
	}
	if !strings.Contains(conf, "proxy_next_upstream error timeout") {
		t.Error("no failover to the other replica (proxy_next_upstream)")
	}
}
