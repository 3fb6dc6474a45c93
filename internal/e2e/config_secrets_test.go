package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestCheckConfigNeverPrintsSecrets (issue 16 item 10): a one-line flow entry that
// carries a community, a passphrase, a token or a webhook secret and has a type
// error gets an error that names the line, with every secret hidden, whether the
// secret is written in the file or comes from the environment. Both binaries.
func TestCheckConfigNeverPrintsSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	secrets := []string{"s3cret-community", "auth-pass-phrase-1", "priv-pass-phrase-2", "mcm_token-in-the-file",
		"mcm_token-from-the-env", "webhook-secret-0123456789", "Bearer header-t0ken", "url-pa55word", "env-webhook-secret-9876543210"}
	env := append(os.Environ(), "MEDCMDB_TEST_TOKEN=mcm_token-from-the-env", "MEDCMDB_TEST_WEBHOOK_SECRET=env-webhook-secret-9876543210")
	for _, c := range []struct {
		bin, file, body, where string
	}{
		{"collector", "community.yaml", `site: main
cmdb: {url: "http://127.0.0.1:1/graphql", token: mcm_token-in-the-file}
snmp:
  credentials:
    - {name: public-v2, version: 2c, community: s3cret-community, retries: many}
`, "line 5"},
		{"collector", "usm.yaml", `site: main
cmdb: {url: "http://127.0.0.1:1/graphql", token: "${MEDCMDB_TEST_TOKEN}"}
snmp:
  credentials: [{name: v3, version: 3, username: biomed, auth_protocol: SHA, auth_passphrase: auth-pass-phrase-1, priv_protocol: AES, priv_passphrase: "priv-pass-phrase-2", timeout: often}]
`, "line 4"},
		{"collector", "token.yaml", `site: main
cmdb: {url: "http://u:url-pa55word@127.0.0.1:1/graphql", token: ${MEDCMDB_TEST_TOKEN}, timeout: [1]}
`, "line 2"},
		{"collector", "misspelt.yaml", `site: main
cmdb: {url: "http://127.0.0.1:1/graphql", tokn: mcm_token-in-the-file}
`, "line 2"},
		{"cmdb", "policy.yaml", `webhooks:
  - {name: desk, kind: generic, url: "https://u:url-pa55word@desk.example/hook", secret: webhook-secret-0123456789, headers: {Authorization: "Bearer header-t0ken"}, min_priority: [P1]}
`, "line 2"},
		{"cmdb", "policy-env.yaml", `webhooks: [{name: desk, kind: generic, url: "https://desk.example/hook", secret: "${MEDCMDB_TEST_WEBHOOK_SECRET}", timeout: soon}]
`, "line 1"},
	} {
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, testkit.Binary(t, c.bin), "check-config", "--config", path)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		out := string(b)
		if err == nil {
			t.Errorf("%s check-config %s passed:\n%s", c.bin, c.file, out)
			continue
		}
		if !strings.Contains(out, c.where) {
			t.Errorf("%s check-config %s: %q does not say %s", c.bin, c.file, out, c.where)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s check-config %s prints the secret %q: %s", c.bin, c.file, s, out)
			}
		}
	}
}
