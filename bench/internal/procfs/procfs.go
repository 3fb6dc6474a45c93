// Package procfs reads what the benchmark programs measure of another process from
// Linux's /proc: CPU time, resident memory and threads.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPUTicks returns the user+system CPU time of pid in clock ticks, 0 when unknown.
func CPUTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after its closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// RSS returns the resident set of pid in bytes, 0 when unknown.
func RSS(pid int) int64 {
	rss, _ := Status(pid)
	return rss
}

// Status returns the resident set of pid in bytes and its thread count, 0 when unknown.
func Status(pid int) (rss int64, threads int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rss, threads
}
