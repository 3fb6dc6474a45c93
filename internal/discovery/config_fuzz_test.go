package discovery

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes give a config or a clear error, never a panic, and an
// accepted config is internally consistent.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("site: s\ncmdb: {url: http://h/graphql, token: t}\n"))
	f.Add([]byte("site: [\n"))
	f.Add([]byte("snmp: {ranges: [{cidr: 10.0.0.0/8}]}"))
	f.Add([]byte("site: s\ncmdb: {url: http://h/graphql, token: t}\nsnmp: {poll_interval: -1s}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if cfg.Site == "" || cfg.CMDB.URL == "" || cfg.SNMP.PollInterval <= 0 || cfg.SNMP.DownAfter < 1 {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
		for _, r := range cfg.SNMP.Ranges {
			if !r.Prefix().IsValid() {
				t.Fatalf("range %q accepted without a prefix", r.CIDR)
			}
		}
		if s := fmt.Sprintf("%v", cfg); strings.Contains(s, string(cfg.CMDB.Token)) && cfg.CMDB.Token != "" && len(cfg.CMDB.Token) > 3 {
			t.Fatalf("token printed")
		}
	})
}
