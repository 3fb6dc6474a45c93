package assets

import (
	"errors"
	"strings"
	"testing"
)

// Recall (and advisory) URLs become links: only http(s) URLs with a host get in.
func TestCheckWebURL(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://www.accessdata.fda.gov/scripts/cdrh/cfdocs/cfres/res.cfm?id=1", true},
		{"http://intranet.example/recalls/42", true},
		{"HTTPS://EXAMPLE.ORG/x", true},
		{"javascript:alert(document.cookie)", false},
		{"JavaScript:alert(1)", false},
		{" javascript:alert(1)", false},
		{"java\tscript:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"//evil.example/x", false},
		{"/relative/path", false},
		{"https://", false},
		{"file:///etc/passwd", false},
		{"ftp://example.org/x", false},
	} {
		if err := CheckWebURL(c.url); (err == nil) != c.ok {
			t.Errorf("CheckWebURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
	}
}

func TestRecallRefusesScriptURL(t *testing.T) {
	r := Recall{Manufacturer: "Acme", Model: "P100", Reference: "Z-1234-2026", URL: "javascript:alert(1)"}
	err := r.Validate()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "url") {
		t.Fatalf("javascript: URL: %v", err)
	}
	r.URL = "https://example.org/recalls/Z-1234-2026"
	if err := r.Validate(); err != nil {
		t.Fatalf("https URL: %v", err)
	}
}
