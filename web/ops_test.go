package web_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/web"
)

// TestOpsPage: the operator page and its assets are served from this
// origin only, under the same policy as the dashboard.
func TestOpsPage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	for _, tc := range []struct{ path, contentType, contains string }{
		{"/ops/", "text/html; charset=utf-8", "<title>aijobs operations</title>"},
		{"/ops", "text/html; charset=utf-8", `src="/static/ops/ops.js"`},
		{"/static/ops/ops.js", "text/javascript; charset=utf-8", "/api/v1/admin/stats"},
		{"/static/ops/ops.css", "text/css; charset=utf-8", ".ops-grid"},
		{"/static/ops/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", "uPlot (v1.6.32)"},
		{"/static/ops/vendor/uPlot.min.css", "text/css; charset=utf-8", ".uplot"},
		{"/static/ops/vendor/uPlot.LICENSE.txt", "text/plain; charset=utf-8", "The MIT License"},
	} {
		res, body := get(t, srv, http.MethodGet, tc.path, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != tc.contentType || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d %q, want 200 %q containing %q", tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.contentType, tc.contains)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, got)
		}
	}
	_, page := get(t, srv, http.MethodGet, "/ops/", nil)
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(ref[1], "/static/") {
			t.Errorf("the page loads %q, not one of this origin's assets", ref[1])
		}
	}
	if strings.Contains(page, "<style") || strings.Contains(page, " style=") || strings.Contains(page, "<script>") {
		t.Error("the page has inline styles or scripts, which the policy refuses")
	}
}
