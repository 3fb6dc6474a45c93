package discovery

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const validConfig = `
site: main-campus
cmdb:
  url: http://127.0.0.1:8080/graphql
  token: ${TEST_COLLECTOR_TOKEN}
snmp:
  poll_interval: 30s
  down_after: 3
  credentials:
    - name: public-v2
      version: 2c
      community: s3cret-community
    - name: biomed-v3
      version: 3
      username: biomed
      auth_protocol: SHA256
      auth_passphrase: auth-pass-phrase
      priv_protocol: AES256
      priv_passphrase: priv-pass-phrase
  ranges:
    - cidr: 10.20.0.0/22
      credentials: [biomed-v3, public-v2]
      location: {building: "Tower A", floor: "3", unit: "ICU-3", care_area: ICU}
`

func TestConfigSecretsNeverPrint(t *testing.T) {
	t.Setenv("TEST_COLLECTOR_TOKEN", "tok-abcdef-123")
	cfg, err := ParseConfig([]byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CMDB.Token.Reveal() != "tok-abcdef-123" {
		t.Fatalf("token not expanded: %q", cfg.CMDB.Token.Reveal())
	}
	y, _ := yaml.Marshal(cfg)
	j, _ := json.Marshal(cfg)
	dumps := []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), string(y), string(j)}
	for _, d := range dumps {
		for _, secret := range []string{"tok-abcdef-123", "s3cret-community", "auth-pass-phrase", "priv-pass-phrase"} {
			if strings.Contains(d, secret) {
				t.Errorf("secret %q appears in dump:\n%s", secret, d)
			}
		}
		if !strings.Contains(d, "<secret>") && !strings.Contains(d, `\u003csecret\u003e`) {
			t.Errorf("dump does not show <secret>:\n%s", d)
		}
	}
	if got := cfg.SNMP.Ranges[0].Prefix().String(); got != "10.20.0.0/22" {
		t.Errorf("prefix %s", got)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := "site: s\ncmdb: {url: http://h/graphql, token: t}\n"
	cases := []struct{ yaml, want string }{
		{base + "snmp: {retries: 99}", "snmp.retries: 99 is outside 0..10"},
		{base + "snmp: {down_after: 0}", "snmp.down_after"},
		{base + "snmp: {discovery_schedule: 'every tuesday'}", "snmp.discovery_schedule"},
		{base + "snmp: {credentials: [{name: a, version: 4}]}", `version "4" is not one of`},
		{base + "snmp: {credentials: [{name: a, version: 3, username: u, auth_protocol: SHA999}]}", "auth_protocol"},
		{base + "snmp: {credentials: [{name: a, version: 3, username: u, auth_protocol: SHA, auth_passphrase: short}]}", "at least 8"},
		{base + "snmp: {credentials: [{name: a, version: 2c, community: c}, {name: a, version: 2c, community: c}]}", "used twice"},
		{"site: s\ncmdb: {url: 'ftp://x', token: t}\n", "cmdb.url"},
		{"site: s\ncmdb: {url: http://h/graphql, token: ${SURELY_UNSET_VAR_X}}\n", "SURELY_UNSET_VAR_X"},
		{base + "hl7: {tls_cert: a.pem}", "tls_cert and hl7.tls_key"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v, want it to mention %q", c.yaml, err, c.want)
		}
	}
}

func TestHostsSkipsNetworkAndBroadcast(t *testing.T) {
	cases := map[string][]string{
		"10.0.0.0/30": {"10.0.0.1", "10.0.0.2"},
		"10.0.0.4/31": {"10.0.0.4", "10.0.0.5"},
		"10.0.0.9/32": {"10.0.0.9"},
	}
	for cidr, want := range cases {
		cfg := Range{CIDR: cidr}
		p, _ := parsePrefix(cfg.CIDR)
		var got []string
		for a := range hosts(p) {
			got = append(got, a.String())
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", cidr, got, want)
		}
	}
}
