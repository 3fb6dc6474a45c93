package yamlstrict

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestRedactLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`poll_interval: often`, `poll_interval: often`},
		{`community: s3cret`, `community: <secret>`},
		{`- {name: v2, version: 2c, community: s3cret, retries: x}`, `- {name: v2, version: 2c, community: <secret>, retries: x}`},
		{`{name: v3, auth_passphrase: "pa, ss: word", priv_passphrase: 'it''s', port: 1}`, `{name: v3, auth_passphrase: <secret>, priv_passphrase: <secret>, port: 1}`},
		{`cmdb: {url: "https://u:pw@cmdb/graphql?x=1&token=abc", token: mcm_xyz, timeout: 5}`, `cmdb: {url: "https://u:<secret>@cmdb/graphql?x=1&token=<secret>", token: <secret>, timeout: 5}`},
		{`headers: {Authorization: "Bearer t0k", X-Custom: v}`, `headers: <secret>`},
		{`- {name: desk, headers: {X-Custom: v}, secret: abcdefabcdefabcdef, kind: generic}`, `- {name: desk, headers: <secret>, secret: <secret>, kind: generic}`},
		{`"community": "s3cret" # the old one`, `"community": <secret> # the old one`},
		{`token:`, `token:`},
		{`# community: s3cret`, `# community: <secret>`},
		{`{comunity: s3cret, retries: 1}`, `{comunity: s3cret, retries: 1}`},
	} {
		if got := RedactLine(c.in); got != c.want {
			t.Errorf("RedactLine(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if got := RedactLine(`{comunity: s3cret, retries: 1}`, "comunity"); strings.Contains(got, "s3cret") {
		t.Errorf("the misspelt key named by the error is not hidden: %s", got)
	}
}

// A one-line flow entry with a secret and a type error: the error names the line but
// not the secret, whether it is written in the file or comes from the environment.
func TestDecodeErrorsHideSecrets(t *testing.T) {
	type cred struct {
		Name      string `yaml:"name"`
		Community string `yaml:"community"`
		Retries   int    `yaml:"retries"`
		Token     string `yaml:"token"`
	}
	var v struct {
		Creds []cred `yaml:"credentials"`
	}
	t.Setenv("YS_TOKEN", "mcm_from-the-environment")
	for _, doc := range []string{
		"credentials:\n  - {name: a, community: s3cret-community, retries: many}\n",
		"credentials: [{name: a, token: ${YS_TOKEN}, retries: many}]\n",
		"credentials: [{name: a, retries: ${YS_TOKEN}}]\n", // the secret is the bad value itself
		"credentials:\n  - {name: a, comunity: s3cret-community}\n",
		"credentials: [{name: a, token: \"${YS_TOKEN}\", community: s3cret-community\n",
	} {
		_, err := DecodeEnv([]byte(doc), &v)
		if err == nil {
			t.Fatalf("%q decoded", doc)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") || strings.Contains(msg, "from-the-environment") {
			t.Errorf("%q: error repeats a secret: %s", doc, msg)
		}
		if !strings.Contains(msg, "line ") {
			t.Errorf("%q: error does not say where: %s", doc, msg)
		}
	}
}

// FuzzRedactLine: any line is handled without panic, and a secret-looking key's
// string value, as YAML itself reads the line, does not survive redaction.
func FuzzRedactLine(f *testing.F) {
	for _, s := range []string{
		`- {name: v2, version: 2c, community: s3cret, retries: x}`,
		`{auth_passphrase: "a\"b, c", priv_passphrase: 'it''s', n: [1, {token: t0ken}]}`,
		`token: "unterminated`, `{community: [a, b], x: {y: 'z'}`, `cmdb: {url: "https://u:p@h/?token=abc"}`,
		`? community : s3cret`, `community:s3cret`, `community :  s3cret # c`, `&a token: *b`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > 1024 || strings.ContainsAny(line, "\r\n") {
			return
		}
		got := RedactLine(line, "extra")
		if len(got) > len(line)*9+16 {
			t.Fatalf("output of %d bytes for %d", len(got), len(line))
		}
		var doc any
		if yaml.Unmarshal([]byte(line), &doc) != nil {
			return
		}
		for _, v := range secretValues(doc, false) {
			if len(v) >= 4 && strings.Count(line, v) == 1 && !strings.Contains("<secret>", v) && strings.Contains(got, v) {
				t.Fatalf("RedactLine(%q) = %q keeps the secret %q", line, got, v)
			}
		}
	})
}

// secretValues returns the string values under secret-looking keys of a decoded
// document (or under any key, inside one).
func secretValues(doc any, under bool) []string {
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			out = append(out, secretValues(v, under || secretKey(k, []string{"extra"}))...)
		}
	case []any:
		for _, v := range d {
			out = append(out, secretValues(v, under)...)
		}
	case string:
		if under {
			out = append(out, d)
		}
	}
	return out
}
