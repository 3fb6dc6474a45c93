package gqlhostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Result is what one request cost the server process.
type Result struct {
	Status     int
	Code       string // extensions.code of the first error
	Message    string // of the first error, cut to 200 bytes
	Wall       time.Duration
	CPU        time.Duration // of the server process while the request ran
	PeakGrowth int64         // bytes: peak resident set during the request less the resident set before
	Errors     int
	RespBytes  int
}

func (r Result) String() string {
	return fmt.Sprintf("%d %s in %v (cpu %v, peak +%d MiB, %d errors, %d B answer)",
		r.Status, r.Code, r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.PeakGrowth>>20, r.Errors, r.RespBytes)
}

// Probe sends body to url with token and measures what it cost pid (the server: the
// caller's own process when the handler runs in it). The peak is reset before the
// request (/proc/<pid>/clear_refs), so PeakGrowth is this request's alone.
func Probe(ctx context.Context, url, token string, body []byte, pid int) (Result, error) {
	var r Result
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	rss0, _ := status(pid)
	cpu0 := CPUTime(pid)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.Wall = time.Since(start)
		return r, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.Wall = time.Since(start)
	if err != nil {
		return r, err
	}
	r.CPU = CPUTime(pid) - cpu0
	_, peak := status(pid)
	r.PeakGrowth = max(peak-rss0, 0)
	r.Status, r.RespBytes = resp.StatusCode, len(raw)
	var out struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return r, fmt.Errorf("answer is not GraphQL JSON (%d bytes): %w", len(raw), err)
	}
	r.Errors = len(out.Errors)
	if len(out.Errors) > 0 {
		r.Code, _ = out.Errors[0].Extensions["code"].(string)
		r.Message = out.Errors[0].Message
		if len(r.Message) > 200 {
			r.Message = r.Message[:200]
		}
	}
	return r, nil
}

// RSS returns the resident set of pid in bytes, 0 when unknown.
func RSS(pid int) int64 {
	rss, _ := status(pid)
	return rss
}

// status returns pid's resident set and its peak since the last reset, in bytes.
func status(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// CPUTime returns the user+system CPU time pid has used.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
