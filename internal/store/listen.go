package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The embedded FerretDB has no authentication of its own (v1.24 offers none for the
// SQLite handler through its embeddable package), so who may reach it is decided by
// the listener: a Unix socket in a directory only this user can enter, and, for
// `cmdb store` only, a TCP listener that requires TLS client certificates.

// MaxSocketPath is the longest Unix socket path Linux accepts: sun_path is 108 bytes
// and must end in NUL.
const MaxSocketPath = 107

// SocketName is the embedded store's socket file name. The MongoDB driver takes a host
// ending in "sock" for a Unix socket.
const SocketName = "store.sock"

// TLSListener is a TCP listener for the MongoDB wire protocol that accepts only TLS
// clients presenting a certificate signed by ClientCAFile.
type TLSListener struct {
	Listen       string // host:port
	CertFile     string // server certificate (PEM)
	KeyFile      string // its private key
	ClientCAFile string // CA that signs the clients' certificates: required
}

func (t *TLSListener) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"listen address", t.Listen}, {"certificate", t.CertFile}, {"key", t.KeyFile}, {"client CA", t.ClientCAFile},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("embedded store TCP listener: %s missing: a TCP listener needs TLS with client certificates, since the store has no other authentication",
			strings.Join(missing, ", "))
	}
	// Checked here, before FerretDB opens any listener, so that a bad file is a clear
	// error and not a half-started store.
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("embedded store TLS certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
	}
	b, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return fmt.Errorf("embedded store client CA: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("embedded store client CA %s: no PEM certificate in it", t.ClientCAFile)
	}
	return nil
}

// DefaultSocket is where the embedded store of dataDir listens: <dataDir>/run/store.sock.
func DefaultSocket(dataDir string) (string, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("embedded store: data dir %s: %w", dataDir, err)
	}
	return filepath.Join(dir, "run", SocketName), nil
}

// SocketURI is the MongoDB URI of a Unix socket: the driver wants the path, escaped,
// as the host.
func SocketURI(path string) string {
	return "mongodb://" + url.QueryEscape(path) + "/"
}

// socketPlace is where a socket goes: the path, and what to remove when the store stops.
type socketPlace struct {
	path    string
	cleanup func() // removes a temporary directory; nil otherwise
}

// placeSocket chooses the socket path. An explicit path is used as given (or refused);
// the default <dataDir>/run/store.sock falls back to a fresh private directory under
// the temp dir when the data dir's path is too long for a socket address.
func placeSocket(explicit, dataDir string, log *slog.Logger) (socketPlace, error) {
	if explicit != "" {
		p, err := filepath.Abs(explicit)
		if err != nil {
			return socketPlace{}, fmt.Errorf("embedded store socket %s: %w", explicit, err)
		}
		if !strings.HasSuffix(p, ".sock") {
			return socketPlace{}, fmt.Errorf("embedded store socket %s: the name must end in .sock (MongoDB clients read any other host as TCP)", p)
		}
		if len(p) > MaxSocketPath {
			return socketPlace{}, fmt.Errorf("embedded store socket %s: %d bytes, over the %d a Unix socket path may have: choose a shorter path", p, len(p), MaxSocketPath)
		}
		if err := privateDir(filepath.Dir(p), true); err != nil {
			return socketPlace{}, err
		}
		return socketPlace{path: p}, nil
	}
	p, err := DefaultSocket(dataDir)
	if err != nil {
		return socketPlace{}, err
	}
	if len(p) <= MaxSocketPath {
		if err := privateDir(filepath.Dir(p), false); err != nil {
			return socketPlace{}, err
		}
		return socketPlace{path: p}, nil
	}
	dir, err := freshPrivateDir()
	if err != nil {
		return socketPlace{}, fmt.Errorf("embedded store: the data dir's socket path %s is %d bytes, over the %d a Unix socket allows, and no short private directory could be made: %w",
			p, len(p), MaxSocketPath, err)
	}
	log.Info("embedded store socket placed in a private temporary directory: the data dir's path is too long for a Unix socket",
		"socket", filepath.Join(dir, SocketName), "data_dir_socket_bytes", len(p))
	return socketPlace{path: filepath.Join(dir, SocketName), cleanup: func() { _ = os.RemoveAll(dir) }}, nil
}

// freshPrivateDir makes a new directory with a random name (mkdir fails if the name
// exists, so nobody can have prepared it) under $TMPDIR, or under /tmp when $TMPDIR
// is itself too long, and checks that it is ours and private.
func freshPrivateDir() (string, error) {
	var errs []error
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		// MkdirTemp adds up to 10 digits to the pattern.
		if len(parent)+len("/medcmdb-")+10+len("/"+SocketName) > MaxSocketPath {
			errs = append(errs, fmt.Errorf("%s: too long", parent))
			continue
		}
		dir, err := os.MkdirTemp(parent, "medcmdb-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := privateDir(dir, false); err != nil {
			_ = os.Remove(dir)
			errs = append(errs, err)
			continue
		}
		return dir, nil
	}
	return "", errors.Join(errs...)
}

// privateDir makes sure dir exists, is a real directory (not a symbolic link), belongs
// to this process's user and lets nobody else in (mode 0700 or stricter), so that the
// socket inside cannot be reached by another user whatever the socket file's own mode.
// It creates dir (mode 0700) when missing: with its parents when parents is set.
func privateDir(dir string, parents bool) error {
	mkdir := os.Mkdir
	if parents {
		mkdir = os.MkdirAll
	}
	if err := mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("embedded store socket directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("embedded store socket directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("embedded store socket directory %s: not a directory (%s)", dir, fi.Mode().Type())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("embedded store socket directory %s: cannot read its owner", dir)
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("embedded store socket directory %s: owned by uid %d, not by this process's uid %d", dir, st.Uid, uid)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("embedded store socket directory %s: mode %04o lets other users in; it must be 0700 (chmod 700 %s)", dir, perm, dir)
	}
	return nil
}

// clearStaleSocket removes a socket file left by a process that died, and refuses to
// touch one that still answers (another store listens there).
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded store socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("embedded store socket %s: something that is not a socket is in the way (mode %s)", path, fi.Mode())
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("embedded store socket %s: another process listens on it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("embedded store socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}
