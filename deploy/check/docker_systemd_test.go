package check

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	var stages, lastUser string
	nFrom := 0
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "from":
			nFrom++
			stages += n.Original + "\n"
			lastUser = ""
		case "user":
			lastUser = n.Next.Value
		}
	}
	if nFrom < 2 {
		t.Errorf("want a multi-stage build, got %d stage(s)", nFrom)
	}
	if lastUser == "" || strings.HasPrefix(lastUser, "0") || strings.HasPrefix(lastUser, "root") {
		t.Errorf("final stage must run as a non-root user, got %q", lastUser)
	}
}

func TestSystemdUnits(t *testing.T) {
	units, _ := filepath.Glob("../systemd/*.service")
	if len(units) < 2 {
		t.Fatalf("want cmdb and collector units, got %v", units)
	}
	for _, u := range units {
		sections := map[string]map[string]string{}
		cur := ""
		f, err := os.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
				cur = strings.Trim(line, "[]")
				sections[cur] = map[string]string{}
			case strings.Contains(line, "=") && cur != "":
				k, v, _ := strings.Cut(line, "=")
				sections[cur][k] = v
			default:
				t.Errorf("%s:%d: not a unit-file line: %q", u, n, line)
			}
		}
		f.Close()
		for _, s := range []string{"Unit", "Service", "Install"} {
			if sections[s] == nil {
				t.Errorf("%s: no [%s] section", u, s)
			}
		}
		svc := sections["Service"]
		if !strings.HasPrefix(svc["ExecStart"], "/usr/local/bin/") {
			t.Errorf("%s: ExecStart %q", u, svc["ExecStart"])
		}
		if svc["User"] == "" || svc["User"] == "root" {
			t.Errorf("%s: must run as a dedicated user", u)
		}
	}
}
