package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SmallFS mounts a tmpfs of the given size ("1m") on a fresh directory and returns
// it, unmounted at the end of the test: a real filesystem that fills up, for code
// that must survive ENOSPC. Mounting takes root (or passwordless sudo); without it the
// test is skipped, unless MEDCMDB_REQUIRE_TOOLS is set (the test command sets it):
// then it fails.
func SmallFS(t testing.TB, size string) string {
	t.Helper()
	var sudo []string
	if os.Geteuid() != 0 {
		if exec.Command("sudo", "-n", "true").Run() != nil {
			if os.Getenv("MEDCMDB_REQUIRE_TOOLS") != "" {
				t.Fatalf("mounting a %s tmpfs needs root or passwordless sudo", size)
			}
			t.Skipf("mounting a %s tmpfs needs root or passwordless sudo: run as root to test a full disk", size)
		}
		sudo = []string{"sudo", "-n"}
	}
	dir := filepath.Join(t.TempDir(), "small-fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%s,mode=0700,uid=%d,gid=%d", size, os.Geteuid(), os.Getegid())
	mount := append(sudo, "mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir)
	if out, err := exec.Command(mount[0], mount[1:]...).CombinedOutput(); err != nil {
		if os.Getenv("MEDCMDB_REQUIRE_TOOLS") != "" {
			t.Fatalf("mount -t tmpfs: %v: %s", err, out)
		}
		t.Skipf("mount -t tmpfs failed (a container without CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		umount := append(sudo, "umount", "-l", dir)
		if out, err := exec.Command(umount[0], umount[1:]...).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
