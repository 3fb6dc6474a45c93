package store

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The embedded store listens on <data-dir>/run/store.sock, in a directory only this
// user may enter, with a socket only this user may open, and the driver reaches it
// there.
func TestEmbeddedStoreListensOnAPrivateSocket(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: dir, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", SocketName)
	if s.URI != SocketURI(sock) {
		t.Errorf("URI %s, want the socket %s", s.URI, SocketURI(sock))
	}
	assertMode(t, filepath.Dir(sock), 0o700)
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %s: %v %v", sock, fi, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("socket mode %04o lets others connect", perm)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

// A data dir whose socket path would pass sun_path's 107 bytes (deep test temp dirs,
// long install paths) gets its socket in a fresh private directory, removed on Close.
func TestEmbeddedStoreLongDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: dir, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", SocketName)); err == nil {
		t.Fatal("a socket at an over-long path")
	}
	sock := socketOf(t, s.URI)
	if len(sock) > MaxSocketPath || !strings.HasPrefix(filepath.Base(filepath.Dir(sock)), "medcmdb-") {
		t.Fatalf("fallback socket %s", sock)
	}
	assertMode(t, filepath.Dir(sock), 0o700)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("temporary socket directory left behind: %v", err)
	}
}

// A socket directory that others may enter, or that belongs to someone else, is
// refused with an error that says what to do, and nothing listens.
func TestSocketDirectoryMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{DataDir: dir, Logger: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("open with a 0755 socket directory: %v, want a refusal saying chmod 700", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(run, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(run, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), Options{DataDir: dir, Logger: quietLog()})
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("open with a socket directory of another user: %v", err)
		}
	}
	link := filepath.Join(t.TempDir(), "run")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if err := privateDir(link, false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("symbolic link as socket directory: %v", err)
	}
}

// A socket left by a process that died is replaced; one that still answers is not
// taken over.
func TestStaleAndLiveSockets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sock := filepath.Join(t.TempDir(), "s", SocketName)
	if err := privateDir(filepath.Dir(sock), false); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens: a crashed store
	s, err := Open(ctx, Options{DataDir: dir, Socket: sock, Logger: quietLog()})
	if err != nil {
		t.Fatalf("open over a stale socket: %v", err)
	}
	defer s.Close(ctx)
	if _, err := Open(ctx, Options{DataDir: t.TempDir(), Socket: sock, Logger: quietLog()}); err == nil || !strings.Contains(err.Error(), "another process listens") {
		t.Fatalf("a second store on a live socket: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("the first store after the refused second one: %v", err)
	}
}

func TestExplicitSocketChecks(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ socket, want string }{
		{filepath.Join(dir, "x", "store"), "must end in .sock"},
		{filepath.Join(dir, strings.Repeat("x", 120), SocketName), "choose a shorter path"},
	} {
		if _, err := Open(context.Background(), Options{DataDir: t.TempDir(), Socket: c.socket, Logger: quietLog()}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("socket %s: %v, want %q", c.socket, err, c.want)
		}
	}
}

// A TCP listener without every TLS file, or with files that do not load, is refused
// before anything listens.
func TestTLSListenerNeedsClientCertificates(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "nothing.pem")
	for _, c := range []struct {
		tls  TLSListener
		want string
	}{
		{TLSListener{Listen: "127.0.0.1:0"}, "certificate, key, client CA missing"},
		{TLSListener{Listen: "127.0.0.1:0", CertFile: bad, KeyFile: bad}, "client CA missing"},
		{TLSListener{Listen: "127.0.0.1:0", CertFile: bad, KeyFile: bad, ClientCAFile: bad}, "TLS certificate"},
	} {
		dir := t.TempDir()
		_, err := Open(context.Background(), Options{DataDir: dir, TLS: &c.tls, Logger: quietLog()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.tls, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "run", SocketName)); err == nil {
			t.Errorf("%+v: a socket was left listening", c.tls)
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want || !fi.IsDir() {
		t.Errorf("%s: mode %v, want directory %04o", path, fi.Mode(), want)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("%s: owner %d, want %d", path, st.Uid, os.Geteuid())
	}
}

// socketOf reads the socket path back from a socket URI.
func socketOf(t *testing.T, uri string) string {
	t.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	p, err := url.QueryUnescape(host)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
