package e2e

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// Issue 16 item 1: the embedded store has no authentication, so nobody but the cmdb's
// own user may reach it. These tests start the real binaries, list every socket the
// process listens on (from /proc), and try each one, except the HTTP API, as another
// user (uid 65534 through setpriv) with a small MongoDB client: each must refuse.

// otherUID is the user the probe runs as ("nobody" on Debian).
const otherUID = "65534"

// TestServeStoreRefusesOtherUsers: `cmdb serve` on the embedded store.
func TestServeStoreRefusesOtherUsers(t *testing.T) {
	probe := needOtherUser(t)
	dir := traversableTempDir(t)
	p := testkit.Start(t, testkit.Binary(t, "cmdb"), "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
	base := p.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	u, _ := url.Parse(base)
	ls := processListeners(t, p.Pid())
	var store []listener
	for _, l := range ls {
		if l.network == "tcp" && l.addr == u.Host {
			continue // the HTTP API: tokens guard it
		}
		store = append(store, l)
	}
	if len(store) == 0 {
		t.Fatalf("no listener besides HTTP %s found in %v: the embedded store must listen somewhere", u.Host, ls)
	}
	for _, l := range store {
		// The cmdb's own user can read the store there (so the probe would see an
		// open store); another user cannot.
		if out := runProbe(t, probe, "", l); !strings.HasPrefix(out, "OPEN") {
			t.Errorf("%s as the cmdb's own user: %s, want OPEN (is this listener the store?)", l, out)
		}
		if out := runProbe(t, probe, otherUID, l); !strings.HasPrefix(out, "REFUSED") {
			t.Errorf("%s as uid %s: %s, want REFUSED", l, otherUID, out)
		}
	}
	if t.Failed() {
		t.Logf("listeners of cmdb serve: %v", ls)
	}
}

// TestStoreCommandRefusesOtherUsers: `cmdb store` listens on its socket only, refuses
// a TCP listener without TLS client certificates, and with them serves a cmdb (the
// --mongo-uri of docs/operations.md) while a client without a certificate is refused.
func TestStoreCommandRefusesOtherUsers(t *testing.T) {
	probe := needOtherUser(t)
	dir := traversableTempDir(t)
	bin := testkit.Binary(t, "cmdb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, err := testkit.Run(ctx, bin, "store", "--data-dir", filepath.Join(dir, "plain"), "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(out, "--tls-client-ca") {
		t.Fatalf("cmdb store --listen without TLS: err=%v, output %q; want a refusal naming --tls-client-ca", err, out)
	}

	certs := testkit.MutualTLSFiles(t)
	for _, f := range []string{certs.CA, certs.ServerCert, certs.ServerKey} {
		_ = os.Chmod(f, 0o644) // readable, so that only the missing client certificate stops the probe
	}
	st := testkit.Start(t, bin, "store", "--data-dir", filepath.Join(dir, "store"), "--listen", "127.0.0.1:0",
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CA)
	sockURI := st.WaitFor(`msg="embedded store listening" uri=(\S+)`, 60*time.Second)
	tlsAddr := st.WaitFor(`tls_addr=(\S+)`, time.Second)
	ls := processListeners(t, st.Pid())
	if len(ls) != 2 {
		t.Errorf("cmdb store listens on %v, want its socket and its TLS port", ls)
	}
	for _, l := range ls {
		if l.network == "unix" {
			if out := runProbe(t, probe, "", l); !strings.HasPrefix(out, "OPEN") {
				t.Errorf("%s as the store's own user: %s, want OPEN", l, out)
			}
		}
		if out := runProbe(t, probe, otherUID, l); !strings.HasPrefix(out, "REFUSED") {
			t.Errorf("%s as uid %s: %s, want REFUSED", l, otherUID, out)
		}
		if l.network == "tcp" && l.addr != tlsAddr {
			t.Errorf("TCP listener %s, but the store said its TLS listener is %s", l.addr, tlsAddr)
		}
	}
	// Without a client certificate, even the store's own user is refused over TCP.
	if out := runProbe(t, probe, "", listener{"tcp", tlsAddr}); !strings.HasPrefix(out, "REFUSED") {
		t.Errorf("TLS port without a client certificate: %s, want REFUSED", out)
	}

	// Both forms of --mongo-uri serve a cmdb.
	tlsURI := "mongodb://" + tlsAddr + "/?tls=true&tlsCAFile=" + url.QueryEscape(certs.CA) + "&tlsCertificateKeyFile=" + url.QueryEscape(certs.Client)
	for name, uri := range map[string]string{"socket": sockURI, "tls": tlsURI} {
		c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
		if err != nil {
			t.Fatalf("%s %s: %v", name, uri, err)
		}
		if _, err := c.Database("probe").Collection(name).InsertOne(ctx, bson.M{"ok": 1}); err != nil {
			t.Errorf("writing through the %s URI: %v", name, err)
		}
		_ = c.Disconnect(context.Background())
	}
	srv := testkit.Start(t, bin, "serve", "--listen", "127.0.0.1:0", "--mongo-uri", tlsURI, "--data-dir", filepath.Join(dir, "cmdb"))
	base := srv.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("cmdb on the store's TLS listener: /readyz %v %v", resp, err)
	}
	resp.Body.Close()
}

// needOtherUser skips (or, under ./test.sh, fails) unless the test can run a program
// as another user, and returns the probe's path.
func needOtherUser(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("MEDCMDB_REQUIRE_TOOLS") != "" {
			t.Fatal("this test runs a client as another uid and needs root (CI runs ./test.sh as root)")
		}
		t.Skip("needs root to run a client as another uid (setpriv); run as root or through ./test.sh in CI")
	}
	testkit.RequireTool(t, "setpriv")
	return buildProbe(t)
}

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// buildProbe builds testdata/mongoprobe into a directory every user may read, so the
// other uid can run it.
func buildProbe(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medcmdb-probe-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			probeErr = err
			return
		}
		probePath = filepath.Join(dir, "mongoprobe")
		cmd := exec.Command("go", "build", "-o", probePath, "./internal/e2e/testdata/mongoprobe")
		cmd.Dir = testkit.ModuleRoot(t)
		if b, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("building mongoprobe: %v\n%s", err, b)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probePath
}

// traversableTempDir is a temp dir every user may enter, as /var/lib is: the store's
// own directory modes, not those of the test's temp dir, must keep others out.
func traversableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runProbe runs the probe against l, as uid (empty: this process's user).
func runProbe(t *testing.T, probe, uid string, l listener) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{probe, l.network, l.addr}
	if uid != "" {
		args = append([]string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"}, args...)
	}
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// listener is a listening socket: network "tcp" (address host:port) or "unix" (path,
// or @name for an abstract socket).
type listener struct{ network, addr string }

func (l listener) String() string { return l.network + ":" + l.addr }

// processListeners lists the TCP and Unix sockets pid listens on: the sockets of its
// network namespace from /proc/PID/net, kept when pid holds them open (/proc/PID/fd).
func processListeners(t *testing.T, pid int) []listener {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	owned := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			owned[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var out []listener
	for _, f := range []string{"tcp", "tcp6"} {
		for _, row := range procTable(t, pid, f) {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(row) < 10 || row[3] != "0A" || !owned[row[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, listener{"tcp", procAddr(t, row[1])})
		}
	}
	for _, row := range procTable(t, pid, "unix") {
		// Num RefCount Protocol Flags Type St Inode [Path]
		if len(row) < 7 || !owned[row[6]] {
			continue
		}
		flags, _ := strconv.ParseUint(row[3], 16, 32)
		if flags&0x10000 == 0 { // __SO_ACCEPTCON: listening
			continue
		}
		path := ""
		if len(row) > 7 {
			path = row[7]
		}
		out = append(out, listener{"unix", path})
	}
	return out
}

func procTable(t *testing.T, pid int, name string) [][]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		rows = append(rows, strings.Fields(sc.Text()))
	}
	return rows
}

// procAddr decodes /proc/net/tcp's "0100007F:1F90" (address in host byte order, in
// 32-bit words; port big-endian).
func procAddr(t *testing.T, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(hexIP)
	port, perr := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || perr != nil || (len(b) != 4 && len(b) != 16) {
		t.Fatalf("cannot read /proc address %q", s)
	}
	ip := make(net.IP, len(b))
	for w := 0; w < len(b); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = b[w+3], b[w+2], b[w+1], b[w]
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
