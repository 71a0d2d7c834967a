package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBadInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--max-input", "1000")
		a := s.client(s.token("erin"))
		j := a.submit("a job to poke at")
		cases := []struct {
			name         string
			method, path string
			body         any
			status       int
			code         string
			headers      []string
		}{
			{"malformed json", "POST", "/api/v1/ai/proxy", `{"input": "x"`, 400, "invalid_json", nil},
			{"empty body", "POST", "/api/v1/ai/proxy", ``, 400, "invalid_json", nil},
			{"not an object", "POST", "/api/v1/ai/proxy", `[1,2]`, 422, "invalid_field", nil},
			{"input missing", "POST", "/api/v1/ai/proxy", `{"other": 1}`, 422, "invalid_input", nil},
			{"input empty", "POST", "/api/v1/ai/proxy", `{"input": "   "}`, 422, "invalid_input", nil},
			{"input wrong type", "POST", "/api/v1/ai/proxy", `{"input": 42}`, 422, "invalid_field", nil},
			{"input too long", "POST", "/api/v1/ai/proxy", map[string]string{"input": strings.Repeat("x", 1001)}, 413, "input_too_large", nil},
			{"body too large", "POST", "/api/v1/ai/proxy", map[string]string{"input": strings.Repeat("x", 70<<10)}, 413, "body_too_large", nil},
			{"bad user key", "POST", "/api/v1/ai/proxy", `{"input": "x", "user_provided_key": "short"}`, 422, "invalid_key", nil},
			{"request id and header differ", "POST", "/api/v1/ai/proxy", `{"input": "x", "request_id": "a"}`, 422, "invalid_field", []string{"Idempotency-Key", "b"}},
			{"unknown job", "GET", "/api/v1/jobs/job_doesnotexist", nil, 404, "not_found", nil},
			{"wait too long", "GET", "/api/v1/jobs/" + j.ID + "?wait=61", nil, 422, "invalid_wait", nil},
			{"wait negative", "GET", "/api/v1/jobs/" + j.ID + "?wait=-1", nil, 422, "invalid_wait", nil},
			{"wait not a number", "GET", "/api/v1/jobs/" + j.ID + "?wait=soon", nil, 422, "invalid_wait", nil},
			{"since not a number", "GET", "/api/v1/jobs/" + j.ID + "?since=x", nil, 422, "invalid_field", nil},
			{"unknown status filter", "GET", "/api/v1/jobs?status=done", nil, 422, "invalid_field", nil},
			{"limit too big", "GET", "/api/v1/jobs?limit=1000", nil, 422, "invalid_field", nil},
			{"bad cursor", "GET", "/api/v1/jobs?cursor=nope", nil, 422, "invalid_field", nil},
			{"cancel unknown", "POST", "/api/v1/jobs/job_nope/cancel", nil, 404, "not_found", nil},
			{"unknown endpoint", "GET", "/api/v1/nothing", nil, 404, "not_found", nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, a.do(c.method, c.path, c.body, c.headers...), c.status, c.code)
			})
		}
		// Unknown fields are ignored.
		if r := a.do("POST", "/api/v1/ai/proxy", `{"input": "fine", "colour": "blue"}`); r.Status != 202 {
			t.Errorf("unknown field: %d %s", r.Status, r.Body)
		}
		// After all that the server still serves.
		if r := a.do("GET", "/healthz", nil); r.Status != 200 {
			t.Errorf("healthz after bad input: %d", r.Status)
		}
		if !strings.Contains(s.logs.String(), "aijobs started") || strings.Contains(s.logs.String(), "panic") {
			t.Errorf("server log shows a panic:\n%s", s.logs.String())
		}
	})
}

func TestAuth(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		alice := s.client(s.token("alice"))
		mallory := s.client(s.token("mallory"))
		j := alice.submit("alice's secret plans")
		for _, c := range []struct {
			name  string
			token string
		}{{"no token", ""}, {"bad token", "aj_not-a-real-token"}, {"stream token as api token", j.StreamToken}} {
			t.Run(c.name, func(t *testing.T) {
				a := s.client(c.token)
				for _, p := range []struct{ method, path string }{
					{"GET", "/api/v1/jobs/" + j.ID}, {"GET", "/api/v1/jobs"}, {"POST", "/api/v1/jobs/" + j.ID + "/cancel"},
					{"GET", "/api/v1/ai/usage"}, {"POST", "/api/v1/ai/proxy"},
					{"GET", "/api/v1/jobs/" + j.ID + "/deliveries"}, {"POST", "/api/v1/webhooks/secret"},
				} {
					r := a.do(p.method, p.path, `{"input":"x"}`)
					wantError(t, r, 401, "unauthorized")
					if r.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s %s: 401 without WWW-Authenticate", p.method, p.path)
					}
				}
			})
		}
		// Another user's job does not exist for mallory: 404, never 403.
		wantError(t, mallory.do("GET", "/api/v1/jobs/"+j.ID, nil), 404, "not_found")
		wantError(t, mallory.do("GET", "/api/v1/jobs/"+j.ID+"?wait=1&since=0", nil), 404, "not_found")
		wantError(t, mallory.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil), 404, "not_found")
		wantError(t, mallory.do("DELETE", "/api/v1/jobs/"+j.ID, nil), 404, "not_found")
		var list struct{ Jobs []job }
		mallory.do("GET", "/api/v1/jobs", nil).json(t, &list)
		if len(list.Jobs) != 0 {
			t.Errorf("mallory lists %d jobs", len(list.Jobs))
		}
		// Mallory's cancel attempt changed nothing.
		if got := alice.waitTerminal(j.ID); got.Status != "completed" {
			t.Errorf("alice's job ended %s", got.Status)
		}
		// The API token is never accepted in a URL.
		wantError(t, s.client("").do("GET", "/api/v1/jobs/"+j.ID+"/events?token="+alice.token, nil), 401, "unauthorized")
	})
}

func TestETagAndLongPoll(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("fay"))
		j := a.waitTerminal(a.submit("What is a good name for a cat?").ID)
		r := a.do("GET", "/api/v1/jobs/"+j.ID, nil)
		etag := r.Header.Get("ETag")
		if etag != `"`+itoa(j.Seq)+`"` {
			t.Fatalf("ETag = %q, want seq %d", etag, j.Seq)
		}
		if r.Header.Get("X-Poll-Interval") != "" {
			t.Error("terminal job still suggests polling")
		}
		if r := a.do("GET", "/api/v1/jobs/"+j.ID, nil, "If-None-Match", etag); r.Status != 304 || len(r.Body) != 0 {
			t.Errorf("If-None-Match current: %d %q", r.Status, r.Body)
		}
		if r := a.do("GET", "/api/v1/jobs/"+j.ID, nil, "If-None-Match", `"1"`); r.Status != 200 {
			t.Errorf("If-None-Match old: %d", r.Status)
		}
		// A finished job never changes: a long-poll answers at once.
		start := time.Now()
		r = a.do("GET", "/api/v1/jobs/"+j.ID+"?wait=30", nil, "If-None-Match", etag)
		if r.Status != 304 || time.Since(start) > 5*time.Second {
			t.Errorf("long-poll on a finished job: %d after %v, want 304 at once", r.Status, time.Since(start))
		}
		// A job that does not change: the long-poll times out into a 304.
		// (An API-only server runs no workers, so its job stays queued.)
		idle := startServer(t, db, "--role", "api")
		b := idle.client(idle.token("gil"))
		q := b.submit("nobody will run this")
		start = time.Now()
		r = b.do("GET", "/api/v1/jobs/"+q.ID+"?wait=1", nil, "If-None-Match", `"`+itoa(q.Seq)+`"`)
		if el := time.Since(start); r.Status != 304 || el < 900*time.Millisecond || el > 5*time.Second {
			t.Errorf("long-poll on an unchanged job: %d after %v, want 304 after ~1s", r.Status, el)
		}
		// Long-poll returns on change, well before the timeout.
		slow := a.submit("[[offline:slow]] tell me about the sea")
		cur := a.get(slow.ID)
		if cur.Terminal {
			t.Fatal("slow job finished at once")
		}
		if r := a.do("GET", "/api/v1/jobs/"+slow.ID, nil); r.Header.Get("X-Poll-Interval") != "2" {
			t.Errorf("X-Poll-Interval = %q", r.Header.Get("X-Poll-Interval"))
		}
		start = time.Now()
		r = a.do("GET", "/api/v1/jobs/"+slow.ID+"?wait=30", nil, "If-None-Match", `"`+itoa(cur.Seq)+`"`)
		var next job
		r.json(t, &next)
		if r.Status != 200 || next.Seq <= cur.Seq || time.Since(start) > 10*time.Second {
			t.Errorf("long-poll: status %d seq %d (was %d) after %v", r.Status, next.Seq, cur.Seq, time.Since(start))
		}
		a.do("POST", "/api/v1/jobs/"+slow.ID+"/cancel", nil)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestBadInputBytes: NUL bytes and invalid UTF-8 — which PostgreSQL
// refuses (SQLSTATE 22021) — in bodies, path ids, query values and headers
// get a clear 4xx on both databases, and the server logs no error.
func TestBadInputBytes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("nul"))
		j := a.submit("a job to poke at")
		jobPath := "/api/v1/jobs/" + j.ID
		cases := []struct {
			name         string
			method, path string
			body         any
			headers      []string
			status       int
			code         string
		}{
			{"NUL in input", "POST", "/api/v1/ai/proxy", `{"input": "a\u0000b"}`, nil, 422, "invalid_input"},
			{"body not UTF-8", "POST", "/api/v1/ai/proxy", "{\"input\": \"a\xffb\"}", nil, 400, "invalid_json"},
			{"NUL in request_id", "POST", "/api/v1/ai/proxy", `{"input": "x", "request_id": "r\u0000"}`, nil, 422, "invalid_field"},
			{"NUL in user key", "POST", "/api/v1/ai/proxy", `{"input": "x", "user_provided_key": "sk-aaaaaaaaaaaaaaaaaaaa\u0000"}`, nil, 422, "invalid_key"},
			{"Idempotency-Key not UTF-8", "POST", "/api/v1/ai/proxy", `{"input": "x"}`, []string{"Idempotency-Key", "k\xff"}, 422, "invalid_field"},
			{"NUL job id", "GET", "/api/v1/jobs/%00", nil, nil, 404, "not_found"},
			{"job id not UTF-8", "GET", "/api/v1/jobs/%ff", nil, nil, 404, "not_found"},
			{"delete job id not UTF-8", "DELETE", "/api/v1/jobs/%ff", nil, nil, 404, "not_found"},
			{"cancel NUL job id", "POST", "/api/v1/jobs/job_%00/cancel", nil, nil, 404, "not_found"},
			{"events of a NUL job id", "GET", "/api/v1/jobs/%00/events", nil, nil, 404, "not_found"},
			{"long-poll a job id not UTF-8", "GET", "/api/v1/jobs/job_%ff?wait=1&since=0", nil, nil, 404, "not_found"},
			{"NUL status filter", "GET", "/api/v1/jobs?status=%00", nil, nil, 422, "invalid_field"},
			{"NUL cursor", "GET", "/api/v1/jobs?cursor=job_%00", nil, nil, 422, "invalid_field"},
			{"cursor not UTF-8", "GET", "/api/v1/jobs?cursor=%ff", nil, nil, 422, "invalid_field"},
			{"since not UTF-8", "GET", jobPath + "?since=%ff", nil, nil, 422, "invalid_field"},
			{"wait NaN", "GET", jobPath + "?wait=NaN", nil, nil, 422, "invalid_wait"},
			{"wait Inf", "GET", jobPath + "?wait=Inf", nil, nil, 422, "invalid_wait"},
			{"wait -Inf", "GET", jobPath + "?wait=-Inf&since=0", nil, nil, 422, "invalid_wait"},
			{"Last-Event-ID not UTF-8", "GET", jobPath + "/events", nil, []string{"Last-Event-ID", "1\xff"}, 400, "invalid_last_event_id"},
			{"after NUL", "GET", "/api/v1/events?after=%00", nil, nil, 422, "invalid_field"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, a.do(c.method, c.path, c.body, c.headers...), c.status, c.code)
			})
		}
		t.Run("credentials that are not text", func(t *testing.T) {
			wantError(t, s.client("aj_\xff").do("GET", "/api/v1/jobs", nil), 401, "unauthorized")
			wantError(t, s.client("").do("GET", "/api/v1/events?token=st_%00%ff", nil), 401, "unauthorized")
		})
		// A cursor that is a real job still pages.
		if r := a.do("GET", "/api/v1/jobs?cursor="+j.ID, nil); r.Status != 200 {
			t.Errorf("real cursor: %d %s", r.Status, r.Body)
		}
		if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") {
			t.Errorf("bad bytes left an ERROR in the log:\n%s", logs)
		}
	})
}

// TestErrorsPositionAtTheLimit: a stream position at the int64 limit is
// ahead of every log: a resync snapshot, not a replay of everything (nor an
// overflow).
func TestErrorsPositionAtTheLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		// An API-only server runs no jobs: the job stays unfinished.
		s := startServer(t, db, "--role", "api")
		a := s.client(s.token("max"))
		j := a.submit("nobody will run this")
		const limit = "9223372036854775807"
		for _, path := range []string{"/api/v1/events", "/api/v1/jobs/" + j.ID + "/events"} {
			for _, pos := range [][]string{{"Last-Event-ID", limit}, {}} {
				url := s.URL + path
				if len(pos) == 0 {
					url += "?after=" + limit
				}
				st, r := openSSE(t, url, append([]string{"Authorization", "Bearer " + a.token}, pos...)...)
				if st == nil {
					t.Fatalf("%s at the limit: %d %s", path, r.Status, r.Body)
				}
				m, ok := st.next(10 * time.Second)
				if !ok || m.Type != "resync" || m.JobID != j.ID || m.Job == nil {
					t.Errorf("%s at the limit (%v): first event %+v, want a resync of %s", path, pos, m, j.ID)
				}
				st.close()
			}
		}
	})
}

// TestErrorsCableWithoutUpgrade: /cable without a WebSocket handshake gets
// the API's JSON error, not the WebSocket library's plain text.
func TestErrorsCableWithoutUpgrade(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		tok := s.token("ned")
		r := s.client(tok).do("GET", "/cable", nil, "Sec-WebSocket-Protocol", "actioncable-v1-json")
		wantError(t, r, 426, "upgrade_required")
		if r.Header.Get("Upgrade") != "websocket" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("426 headers: %v", r.Header)
		}
		r = s.client(tok).do("GET", "/cable", nil, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "12",
			"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol", "actioncable-v1-json")
		wantError(t, r, 400, "bad_handshake")
	})
}

// TestErrorsHeadersTooLarge: headers over the API's limit get the usual
// JSON error, not net/http's plain text.
func TestErrorsHeadersTooLarge(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("hugh"))
		wantError(t, a.do("GET", "/api/v1/jobs", nil, "X-Padding", strings.Repeat("x", 70<<10)), 431, "headers_too_large")
		if r := a.do("GET", "/api/v1/jobs", nil, "X-Padding", strings.Repeat("x", 60<<10)); r.Status != 200 {
			t.Errorf("headers under the limit: %d %s", r.Status, r.Body)
		}
	})
}
