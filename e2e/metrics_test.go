package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsMove runs the real binary, drives every kind of traffic the
// metrics count — submits, a completed job followed over SSE, a failed job,
// a retry, a cancel, a 304 poll and a 304 long-poll, an SSE stream of a job
// and of a user, a /cable subscription, and the hand-back of a killed
// node's attempt — and scrapes /metrics before, during and after: each
// family must have moved, with the labels it is documented to carry
// (docs/metrics.md).
func TestMetricsMove(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		flags := []string{"--offline-chunk-delay", "20ms", "--node-lease", "2s"}
		dataDir, dbURL := t.TempDir(), newDatabaseURL(t, db)
		// Node A takes a slow job and is killed with it; node B, the one
		// scraped, hands it back and serves everything else.
		nodeA := &server{t: t, dataDir: dataDir, dbURL: dbURL, addr: freeAddr(t)}
		procA := nodeA.spawn(t, flags...)
		tok := nodeA.token("mo")
		lost := nodeA.client(tok).submit("[[offline:slow]] Plan my week, step by step")
		nodeA.client(tok).waitFor(lost.ID, 30*time.Second, func(j job) bool { return j.Status == "working" })

		s := &server{t: t, dataDir: dataDir, dbURL: dbURL, addr: freeAddr(t)}
		s.spawn(t, flags...)
		a := s.client(tok)
		before := scrape(t, s)
		procA.kill(t)

		goal := a.submit("I want to run a marathon by June")
		if r := a.do("GET", "/api/v1/jobs/"+goal.ID+"/events?after=0", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"type":"completed"`) {
			t.Fatalf("SSE of the goal: status %d, body without a completed event:\n%s", r.Status, r.Body)
		}
		goalDone := a.waitTerminal(goal.ID)
		if fatal := a.waitTerminal(a.submit("[[offline:fatal]] nope").ID); fatal.Status != "failed" {
			t.Fatalf("fatal job: %s, want failed", fatal.Status)
		}
		if flaky := a.waitTerminal(a.submit("[[offline:flaky]] Help me prioritize: taxes, gym, call mum").ID); flaky.Status != "completed" || flaky.Attempt != 2 {
			t.Fatalf("flaky job: %s on attempt %d, want completed on attempt 2", flaky.Status, flaky.Attempt)
		}
		if r := a.do("GET", "/api/v1/jobs/"+goal.ID, nil, "If-None-Match", etag(goalDone.Seq)); r.Status != http.StatusNotModified {
			t.Fatalf("poll with the current ETag: %d, want 304", r.Status)
		}

		// A long-poll that times out: on a job waiting out its retry.
		limited := a.submit("[[offline:rate_limited]] What should I cook tonight?")
		waiting := a.waitFor(limited.ID, 30*time.Second, func(j job) bool { return j.Status == "retrying" && j.Attempt == 2 })
		if r := a.do("GET", "/api/v1/jobs/"+limited.ID+"?wait=0.5", nil, "If-None-Match", etag(waiting.Seq)); r.Status != http.StatusNotModified {
			t.Fatalf("long-poll of a job waiting 2 s for its retry, with its ETag, for 0.5 s: %d, want 304", r.Status)
		}

		// Every kind of stream open at once, counted while open.
		slow := a.submit("[[offline:slow]] I want to walk the coast path this summer")
		a.waitFor(slow.ID, 30*time.Second, func(j job) bool { return j.Status == "working" })
		ctx, closeStreams := context.WithCancel(context.Background())
		defer closeStreams()
		holdStream(t, ctx, s.URL+"/api/v1/jobs/"+slow.ID+"/events", tok)
		holdStream(t, ctx, s.URL+"/api/v1/events", tok)
		go longPolls(ctx, s.URL+"/api/v1/jobs/"+slow.ID, tok)
		c := mustDialCable(t, s, "", cableBearer(tok))
		c.welcome()
		c.subscribe(`{"channel":"AiJobChannel"}`)
		var during []sample
		defer func() {
			if t.Failed() {
				t.Logf("open streams at the last scrape: %s; cable subscriptions: %s",
					seriesOf(during, "aijobs_streams_open"), seriesOf(during, "aijobs_cable_subscriptions_open"))
			}
		}()
		eventually(t, "every kind of stream counted open", func() bool {
			during = scrape(t, s)
			for _, tr := range []string{"sse", "user_sse", "long_poll", "cable"} {
				if total(during, "aijobs_streams_open", "transport", tr) < 1 {
					return false
				}
			}
			return total(during, "aijobs_cable_subscriptions_open") >= 1
		})
		if r := a.do("POST", "/api/v1/jobs/"+slow.ID+"/cancel", nil); r.Status != 200 {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
		closeStreams()
		c.ws.CloseNow()
		if j := a.waitTerminal(lost.ID); j.Status != "completed" || j.Attempt != 2 {
			t.Fatalf("job of the killed node: %s on attempt %d, want completed on attempt 2", j.Status, j.Attempt)
		}
		var after []sample
		eventually(t, "the streams closed and the lease renewed", func() bool {
			after = scrape(t, s)
			return total(after, "aijobs_streams_open") == 0 && total(after, "aijobs_cable_subscriptions_open") == 0
		})

		moved(t, before, after,
			m("aijobs_jobs_submitted_total"),
			m("aijobs_jobs_finished_total", "status", "completed", "intent", "smart_goal", "code", ""),
			m("aijobs_jobs_finished_total", "status", "failed", "code", "bad_request"),
			m("aijobs_jobs_finished_total", "status", "cancelled", "code", "cancelled"),
			m("aijobs_job_retries_total", "code", "provider_error"),
			m("aijobs_job_retries_total", "code", "worker_lost"),
			m("aijobs_job_retries_total", "code", "rate_limited"),
			m("aijobs_jobs_finished_total", "status", "failed", "code", "rate_limited"),
			m("aijobs_events_total", "type", "output"),
			m("aijobs_attempts_total", "result", "ok"),
			m("aijobs_attempts_total", "result", "failed"),
			m("aijobs_attempts_total", "result", "retry"),
			m("aijobs_queue_wait_seconds_count", "attempt", "first"),
			m("aijobs_queue_wait_seconds_count", "attempt", "retry"),
			m("aijobs_attempt_duration_seconds_count", "result", "ok"),
			m("aijobs_provider_call_duration_seconds_count", "provider", "offline", "model", "offline-1"),
			m("aijobs_provider_errors_total", "provider", "offline", "model", "offline-1", "code", "bad_request"),
			m("aijobs_provider_errors_total", "provider", "offline", "model", "offline-1", "code", "provider_error"),
			m("aijobs_provider_errors_total", "provider", "offline", "model", "offline-1", "code", "cancelled"),
			m("aijobs_provider_tokens_total", "provider", "offline", "model", "offline-1", "direction", "in"),
			m("aijobs_provider_tokens_total", "provider", "offline", "model", "offline-1", "direction", "out"),
			m("aijobs_not_modified_total", "kind", "poll"),
			m("aijobs_not_modified_total", "kind", "long_poll"),
			m("aijobs_http_requests_total", "route", "POST /api/v1/ai/proxy", "code", "202"),
			m("aijobs_http_requests_total", "route", "GET /api/v1/jobs/{id}", "code", "200"),
			m("aijobs_http_requests_total", "route", "GET /api/v1/jobs/{id}", "code", "304"),
			m("aijobs_http_requests_total", "route", "GET /api/v1/jobs/{id}/events", "code", "200"),
			m("aijobs_http_requests_total", "route", "GET /api/v1/events", "code", "200"),
			m("aijobs_http_requests_total", "route", "POST /api/v1/jobs/{id}/cancel", "code", "200"),
			m("aijobs_http_requests_total", "route", "GET /cable", "code", "101"),
			m("aijobs_http_request_duration_seconds_count", "route", "GET /api/v1/jobs/{id}"),
			m("aijobs_node_lease_renewals_total", "result", "renewed"),
			m("aijobs_handed_back_total", "final", "false"),
		)
		present(t, after,
			m("aijobs_nodes", "state", "live"),
			m("aijobs_jobs_unfinished", "status", "queued"),
			m("aijobs_subscriptions"),
			m("aijobs_http_requests_in_flight"),
		)
		if db == sqlite {
			present(t, after, m("go_sql_in_use_connections", "db_name", "aijobs"), m("go_sql_wait_count_total", "db_name", "aijobs"),
				m("go_sql_in_use_connections", "db_name", "aijobs_read"))
		} else {
			present(t, after, m("aijobs_db_pool_acquired_conns"), m("aijobs_db_pool_acquire_waits_total"), m("aijobs_db_pool_new_conns_total"))
			for _, smp := range after {
				if strings.HasPrefix(smp.name, "go_sql_") {
					t.Errorf("%s on PostgreSQL, where aijobs' queries go to the pgx pool", smp.name)
				}
			}
		}
		for _, smp := range after {
			for k, v := range smp.labels {
				if strings.HasPrefix(v, "job_") || strings.HasPrefix(v, "usr_") || strings.HasPrefix(v, "tok_") || k == "job_id" || k == "user" {
					t.Errorf("%s has a per-job or per-user label %s=%q", smp.name, k, v)
				}
			}
		}

		// The operator page's data: an admin reads it, a user gets the 404
		// of a path that does not exist.
		root := s.client(s.token("root", "--admin"))
		r := root.do("GET", "/api/v1/admin/stats", nil)
		var st struct {
			Scope         string               `json:"scope"`
			Time          []int64              `json:"time"`
			JobsPerMinute map[string][]float64 `json:"jobs_per_minute"`
		}
		r.json(t, &st)
		if r.Status != 200 || st.Scope != "node" || len(st.Time) == 0 || maxOf(st.JobsPerMinute["completed"]) <= 0 || maxOf(st.JobsPerMinute["cancelled"]) <= 0 {
			t.Errorf("admin stats: status %d, want 200 with completed and cancelled jobs counted: %s", r.Status, r.Body)
		}
		wantError(t, a.do("GET", "/api/v1/admin/stats", nil), http.StatusNotFound, "not_found")
	})
}

func etag(seq int64) string { return `"` + strconv.FormatInt(seq, 10) + `"` }

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// longPolls long-polls a job, one poll after another, until it ends or ctx
// does.
func longPolls(ctx context.Context, url, tok string) {
	seq := int64(0)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"?wait=5&since="+strconv.FormatInt(seq, 10), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		var j job
		err = json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if err != nil || j.Terminal {
			return
		}
		seq = j.Seq
	}
}

// holdStream opens an SSE stream with a Bearer token and keeps it open
// (reading it) until ctx ends.
func holdStream(t *testing.T, ctx context.Context, url, tok string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open %s: %v %v", url, err, resp)
	}
	go func() {
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
	}()
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads s's /metrics.
func scrape(t *testing.T, s *server) []sample {
	t.Helper()
	r := s.client("").do("GET", "/metrics", nil)
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	out, err := parseMetrics(string(r.Body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return out
}

// parseMetrics reads the samples of the Prometheus text format.
func parseMetrics(text string) ([]sample, error) {
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("line %q: no value", line)
		}
		s.name, line = line[:i], line[i:]
		if line[0] == '{' {
			line = line[1:]
			for line[0] != '}' {
				eq := strings.Index(line, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("bad labels in %q", line)
				}
				key := strings.TrimPrefix(line[:eq], ",")
				var val strings.Builder
				j := eq + 2
				for ; j < len(line) && line[j] != '"'; j++ {
					if line[j] == '\\' && j+1 < len(line) {
						j++
						if line[j] == 'n' {
							val.WriteByte('\n')
							continue
						}
					}
					val.WriteByte(line[j])
				}
				s.labels[key] = val.String()
				line = strings.TrimPrefix(line[j+1:], ",")
			}
			line = line[1:]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil, fmt.Errorf("%s: no value", s.name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q: %v", s.name, f[0], err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// metricWant names a metric and labels its samples must have; a label
// wanted empty must be empty or absent.
type metricWant struct {
	name   string
	labels []string // key, value, …
}

func m(name string, labels ...string) metricWant { return metricWant{name, labels} }

func (w metricWant) String() string {
	var parts []string
	for i := 0; i+1 < len(w.labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", w.labels[i], w.labels[i+1]))
	}
	return w.name + "{" + strings.Join(parts, ",") + "}"
}

// find returns the samples of w.
func (w metricWant) find(samples []sample) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != w.name {
			continue
		}
		for i := 0; i+1 < len(w.labels); i += 2 {
			if s.labels[w.labels[i]] != w.labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// total sums the samples of a metric with the labels.
func total(samples []sample, name string, labels ...string) float64 {
	sum := 0.0
	for _, s := range m(name, labels...).find(samples) {
		sum += s.value
	}
	return sum
}

// moved fails, naming each metric and labels, for every want whose total
// did not grow from before to after.
func moved(t *testing.T, before, after []sample, wants ...metricWant) {
	t.Helper()
	var stuck []string
	for _, w := range wants {
		b, a := total(before, w.name, w.labels...), total(after, w.name, w.labels...)
		if a <= b {
			stuck = append(stuck, fmt.Sprintf("%s: %v → %v (series with that name: %s)", w, b, a, seriesOf(after, w.name)))
		}
	}
	if len(stuck) > 0 {
		t.Errorf("%d of %d metrics did not move:\n  %s", len(stuck), len(wants), strings.Join(stuck, "\n  "))
	}
}

// present fails for every want that has no sample.
func present(t *testing.T, samples []sample, wants ...metricWant) {
	t.Helper()
	for _, w := range wants {
		if len(w.find(samples)) == 0 {
			t.Errorf("/metrics has no %s (series with that name: %s)", w, seriesOf(samples, w.name))
		}
	}
}

// seriesOf lists the label sets of a metric, for failure messages.
func seriesOf(samples []sample, name string) string {
	var out []string
	for _, s := range samples {
		if s.name == name {
			b, _ := json.Marshal(s.labels)
			out = append(out, string(b)+"="+strconv.FormatFloat(s.value, 'g', -1, 64))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}
