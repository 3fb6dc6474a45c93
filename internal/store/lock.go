package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another process has the embedded store open.
var ErrLocked = errors.New("in use by another process")

// lockDir takes an exclusive advisory lock on dir, so that two processes never open
// one embedded store (SQLite would survive it; FerretDB's in-memory catalogue would not).
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded store lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("embedded store %s: %w (is a cmdb already running on this --data-dir? use its API, or --mongo-uri)", dir, ErrLocked)
		}
		return nil, fmt.Errorf("embedded store lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
