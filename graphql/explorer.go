package graphql

import (
	_ "embed"
	"net/http"
)

//go:embed explorer.html
var explorerHTML []byte

// serveExplorer serves a self-contained GraphQL explorer: no CDN, so it works on an
// isolated hospital network.
func serveExplorer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Never in a frame: a page of another site could overlay it and have a signed-in
	// user click buttons they cannot see (clickjacking).
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(explorerHTML)
}
