// Package web is the aijobs dashboard: a page that submits AI requests,
// follows a job live over SSE (polling when the stream is unavailable), lists
// the caller's jobs and shows their usage. It is plain HTML, CSS and ES
// modules embedded in the binary; nothing is built at run time and nothing is
// loaded from another origin. static/vendor/aijobs-client.js is the TypeScript
// client (clients/typescript) bundled by its `npm run build:web`, checked in;
// the page folds job events with it, and its tests fail when it is stale.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy sent with every response of Handler:
// scripts, styles, images and connections (fetch, EventSource) from the
// page's own origin only, no inline code, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// contentTypes maps the extensions of the embedded files to their types, so
// the answer does not depend on the machine's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// file is one embedded asset, read once at start-up.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// Handler returns the dashboard: index.html at "/" (and "/index.html"), the
// operator page at "/ops/", the assets under "/static/". Every response
// carries ContentSecurityPolicy and the usual hardening headers; assets
// are revalidated by ETag. Anything else is a 404 (a JSON error under
// /api/, like the API's own). It is meant to be mounted at "/" of the
// server's mux, after the API routes.
func Handler() http.Handler {
	files := map[string]*file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		files["/"+p] = &file{
			name:        path.Base(p),
			body:        body,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("web: reading embedded files: " + err.Error())
	}
	return &handler{files: files}
}

type handler struct {
	files map[string]*file // by URL path; read-only after Handler returns
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	// Stream URLs carry a token: never send them on as a referrer.
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")

	p := r.URL.Path
	switch p {
	case "/", "/index.html":
		p = "/static/index.html"
	case "/ops", "/ops/":
		// The operator page (static/ops): charts of GET /api/v1/admin/stats,
		// for admins; the page asks for an admin token.
		p = "/static/ops/index.html"
	}
	f, ok := h.files[p]
	if !ok {
		notFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	hdr.Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"no such endpoint","code":"not_found"}` + "\n"))
		return
	}
	http.NotFound(w, r)
}
