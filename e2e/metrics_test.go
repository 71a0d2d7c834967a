package e2e

import (
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := startServer(t, sqlite)
	a := s.client(s.token("uma"))
	a.waitTerminal(a.submit("What is the tallest mountain?").ID)
	a.waitTerminal(a.submit("[[offline:fatal]] nope").ID)
	body := string(s.client("").do("GET", "/metrics", nil).Body)
	for _, want := range []string{
		`aijobs_jobs_finished_total{code="",status="completed"} 1`,
		`aijobs_jobs_finished_total{code="bad_request",status="failed"} 1`,
		`aijobs_events_total{type="output"}`,
		`aijobs_http_requests_total{code="202",method="post"} 2`,
		`aijobs_subscriptions`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
