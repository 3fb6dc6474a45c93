package server

import "net/http"

// serveBoard is the landing page until the web board lands: it points at the API.
func serveBoard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>medcmdb</title></head>
<body style="font:15px system-ui;margin:2em"><h1>medcmdb</h1>
<p>The CMDB for hospital medical devices is running.</p>
<ul><li><a href="/graphql">GraphQL explorer</a> (token in <code>&lt;data-dir&gt;/admin.token</code>)</li>
<li><a href="/metrics">Prometheus metrics</a></li><li><a href="/readyz">Readiness</a></li></ul></body></html>`))
}
