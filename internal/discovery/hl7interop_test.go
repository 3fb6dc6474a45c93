package discovery

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
)

// requireNPM returns the node and npm commands, skipping the test when npm is not
// installed unless MEDCMDB_REQUIRE_TOOLS is set (./test.sh sets it and installs them).
func requireNPM(t *testing.T) (node, npm string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode == nil && errNPM == nil {
		return node, npm
	}
	if os.Getenv("MEDCMDB_REQUIRE_TOOLS") != "" {
		t.Fatalf("node and npm are needed for the HL7 interoperability test (./test.sh installs them): node %v, npm %v", errNode, errNPM)
	}
	t.Skip("node/npm not installed: skipping the HL7 interoperability test (./test.sh installs them)")
	return "", ""
}

// TestHL7InteropWithNodeLibraries drives the listener with two HL7 implementations
// not written here (npm's node-hl7-client and simple-hl7, pinned in
// testdata/node/package-lock.json): each sends messages and parses our
// acknowledgements with its own parser, and must read the right code, control id and
// message type from every one.
func TestHL7InteropWithNodeLibraries(t *testing.T) {
	if testing.Short() {
		t.Skip("installs npm packages")
	}
	node, npm := requireNPM(t)
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "interop.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (needs the npm registry): %v\n%s", err, out)
	}

	e := startHL7(t, hl7Config(), nil)
	pump := hl7test.Pump
	old := hl7test.Device{EUI64: "0012A1FFFE00D00D", App: "OLDMON", Version: "2.3"}
	msgs := []struct {
		msg     []byte
		ack     string
		trigger string
	}{
		{pump.PCD01("i1"), hl7.CA, "R01"},
		{pump.PCD04("i2", "196940^MDC_EVT_FLUID_LINE_OCCL", "start", "ST"), hl7.CA, "R40"},
		{pump.Heartbeat("i3"), hl7.AA, "N02"},
		{old.ADT("i4"), hl7.AA, "A01"},
		{hl7test.Lines(`MSH|^~\&|OLDMON|W|D|H|20240101||ORU^R01|i5|P|2.5`, `PID|||`+hl7test.MRN), hl7.AE, "R01"},
		{hl7test.Lines(`MSH|^~\&|OLDMON|W|D|H|20240101||ORU^R01|i6|P|2.9`, `PID|||`+hl7test.MRN), hl7.AR, "R01"},
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, string(m.msg))
	}
	file := filepath.Join(dir, "messages.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(e.l.Addr().(*net.TCPAddr).Port)
	run := exec.CommandContext(ctx, node, "interop.js", port, file)
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("interop.js: %v\n%s", err, out)
	}
	t.Logf("interop.js output:\n%s", out)
	type answer struct {
		Lib, MSA1, MSA2, Type string
		Sent                  int
	}
	got := map[string][]answer{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var a answer
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.Lib != "" {
			got[a.Lib] = append(got[a.Lib], a)
		}
	}
	for _, lib := range []string{"node-hl7-client", "simple-hl7"} {
		answers := got[lib]
		if len(answers) != len(msgs) {
			t.Errorf("%s read %d acknowledgements, want %d:\n%s", lib, len(answers), len(msgs), out)
			continue
		}
		for i, a := range answers {
			want := msgs[i]
			if a.MSA1 != want.ack || a.MSA2 != "i"+strconv.Itoa(i+1) || a.Type != "ACK^"+want.trigger {
				t.Errorf("%s, message %d: read MSA-1 %q MSA-2 %q MSH-9 %q; want %s, i%d, ACK^%s",
					lib, i, a.MSA1, a.MSA2, a.Type, want.ack, i+1, want.trigger)
			}
		}
	}
}
