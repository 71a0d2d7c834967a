package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/web"
)

func get(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestHandlerServesPageAndAssets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>aijobs dashboard</title>"},
		{"/index.html", "text/html; charset=utf-8", `src="/static/app.js"`},
		{"/static/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/static/render.js", "text/javascript; charset=utf-8", "export function renderResult"},
		{"/static/vendor/aijobs-client.js", "text/javascript; charset=utf-8", "function foldEvent("},
		{"/static/app.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/static/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, srv, http.MethodGet, tc.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
		})
	}
}

func TestHandlerPolicyIsSelfOnly(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(web.ContentSecurityPolicy, want) {
			t.Errorf("policy lacks %q", want)
		}
	}
	if strings.Contains(web.ContentSecurityPolicy, "unsafe") || strings.Contains(web.ContentSecurityPolicy, "*") {
		t.Errorf("policy allows too much: %s", web.ContentSecurityPolicy)
	}
}

func TestHandlerRevalidatesByETag(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	res, _ := get(t, srv, http.MethodGet, "/static/app.css", nil)
	etag := res.Header.Get("ETag")
	res, body := get(t, srv, http.MethodGet, "/static/app.css", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("status %d with %d bytes, want 304 and no body", res.StatusCode, len(body))
	}
}

func TestHandlerRefusesWhatItDoesNotServe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	for _, p := range []string{"/nope", "/static/", "/static/nope.js", "/static/../web.go", "/web.go"} {
		res, _ := get(t, srv, http.MethodGet, p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
		}
	}

	res, body := get(t, srv, http.MethodGet, "/api/v1/nope", nil)
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("GET /api/v1/nope: %d %s, want a JSON 404", res.StatusCode, body)
	}

	res, _ = get(t, srv, http.MethodPost, "/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: status %d Allow %q, want 405 with Allow", res.StatusCode, res.Header.Get("Allow"))
	}

	res, body = get(t, srv, http.MethodHead, "/", nil)
	if res.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /: status %d with %d bytes", res.StatusCode, len(body))
	}
}
