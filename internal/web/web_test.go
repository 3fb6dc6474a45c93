package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestBoardIsSelfContained(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/static/board.js", "/static/board.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
		}
		// Works offline on a hospital network: nothing is fetched from elsewhere.
		if m := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).Find(body); m != nil {
			t.Errorf("%s references an external resource: %s", path, m)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		// Never framed by another site (clickjacking).
		if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", path, xfo)
		}
	}
	// The board never builds HTML from data: no innerHTML anywhere.
	resp, _ := http.Get(srv.URL + "/static/board.js")
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(js), "innerHTML") {
		t.Error("board.js uses innerHTML")
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown path: HTTP %d", resp.StatusCode)
	}
}
