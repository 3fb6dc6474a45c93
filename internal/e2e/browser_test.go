package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// artifactsDir is where test artifacts (screenshots) go: $MEDCMDB_ARTIFACTS, else
// ./artifacts at the repository root (ignored by git).
func artifactsDir(t *testing.T, sub string) string {
	dir := os.Getenv("MEDCMDB_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(testkit.ModuleRoot(t), "artifacts")
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBoardInBrowser is issue 8's browser acceptance: headless Chromium against a
// running `cmdb demo`: the board loads and shows the simulated devices, an incident is
// acknowledged through the UI and is acknowledged over GraphQL, an asset page shows
// history, and the GraphQL explorer runs a query. Screenshots are kept as artifacts.
func TestBoardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testkit.RequireTool(t, "chromium")
	node := testkit.RequireTool(t, "node")
	npm := testkit.RequireTool(t, "npm")

	// playwright-core (pinned) drives Debian's Chromium; it downloads no browser.
	work := t.TempDir()
	src := filepath.Join(testkit.ModuleRoot(t), "internal", "e2e", "testdata", "browser")
	for _, f := range []string{"package.json", "package-lock.json", "board.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = work
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, b)
	}

	demo := testkit.Start(t, testkit.Binary(t, "cmdb"), "demo", "--devices", "200", "--listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--time-scale", "0.4", "--poll-interval", "2s")
	gqlURL := demo.WaitFor(`graphql:\s+(http://\S+)`, 60*time.Second)
	token := demo.WaitFor(`token:\s+(\S+)`, time.Second)
	base := strings.TrimSuffix(gqlURL, "/graphql")
	g := &testkit.GraphQL{URL: gqlURL, Token: token}

	shots := artifactsDir(t, "screenshots")
	run := exec.CommandContext(ctx, node, "board.mjs", base, token, shots)
	run.Dir = work
	run.Env = append(os.Environ(), "CHROMIUM="+testkit.RequireTool(t, "chromium"))
	raw, err := run.Output()
	if err != nil {
		t.Fatalf("board.mjs: %v\n%s", err, raw)
	}
	var res struct {
		Devices        int      `json:"devices"`
		Areas          int      `json:"areas"`
		Acknowledged   string   `json:"acknowledged"`
		HistoryEntries int      `json:"historyEntries"`
		AssetTitle     string   `json:"assetTitle"`
		Explorer       int      `json:"explorer"`
		ProblemsPage   bool     `json:"problemsPage"`
		Errors         []string `json:"errors"`
		Failure        string   `json:"failure"`
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("board.mjs said %q: %v", raw, err)
	}
	if res.Failure != "" {
		t.Fatalf("browser run failed: %s\nscreenshots in %s", res.Failure, shots)
	}
	for _, e := range res.Errors {
		t.Errorf("browser reported %s", e)
	}
	if res.Devices < 200 {
		t.Errorf("board shows %d devices, want the 200 simulated", res.Devices)
	}
	if res.Areas < 5 {
		t.Errorf("health by care area has %d rows", res.Areas)
	}
	if res.HistoryEntries < 3 || !strings.Contains(res.AssetTitle, "vent") {
		t.Errorf("asset page %q shows %d history entries", res.AssetTitle, res.HistoryEntries)
	}
	if !res.ProblemsPage {
		t.Error("the problems page did not load")
	}
	if res.Explorer < 1 {
		t.Errorf("explorer query returned totalCount %d", res.Explorer)
	}
	// What the UI did is true over GraphQL: acknowledged, by the browser's token, with its note.
	var out struct {
		Incidents struct {
			Nodes []struct {
				Number   string `json:"number"`
				State    string `json:"state"`
				Timeline []struct {
					Kind, Actor, Note string
				} `json:"timeline"`
			} `json:"nodes"`
		} `json:"incidents"`
	}
	g.Query(t, `{ incidents(first: 500) { nodes { number state timeline { kind actor note } } } }`, nil, &out)
	found := false
	for _, n := range out.Incidents.Nodes {
		if n.Number != res.Acknowledged {
			continue
		}
		found = true
		last := n.Timeline[len(n.Timeline)-1]
		ackd := false
		for _, e := range n.Timeline {
			ackd = ackd || (e.Kind == "acknowledged" && e.Note == "on my way (browser test)")
		}
		if !ackd {
			t.Errorf("%s: timeline %+v has no acknowledgement from the browser (last %+v)", n.Number, n.Timeline, last)
		}
		if n.State != "ACKNOWLEDGED" && n.State != "RESOLVED" {
			t.Errorf("%s is %s over GraphQL after the UI acknowledged it", n.Number, n.State)
		}
	}
	if !found {
		t.Fatalf("acknowledged incident %q not found over GraphQL", res.Acknowledged)
	}
	t.Logf("board: %d devices, %d care areas; acknowledged %s; asset %q with %d history entries; screenshots in %s",
		res.Devices, res.Areas, res.Acknowledged, res.AssetTitle, res.HistoryEntries, shots)
}
