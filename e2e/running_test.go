package e2e

import (
	"net/http"
	"testing"
	"time"
)

func TestCancel(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("gus"))
		j := a.submit("[[offline:slow]] write me a long essay about rivers")
		// Cancel while it works: it ends cancelled and never completes.
		a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 0 })
		r := a.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil)
		var c job
		r.json(t, &c)
		if r.Status != http.StatusOK || c.Status != "cancelled" || !c.Terminal || c.Error == nil || c.Error.Code != "cancelled" {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
		time.Sleep(500 * time.Millisecond) // the worker would have written by now
		if got := a.get(j.ID); got.Status != "cancelled" || got.Seq != c.Seq {
			t.Errorf("after cancel the job moved on: %+v (cancelled at seq %d)", got, c.Seq)
		}
		// A second cancel, either form, is a conflict.
		wantError(t, a.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil), 409, "job_terminal")
		wantError(t, a.do("DELETE", "/api/v1/jobs/"+j.ID, nil), 409, "job_terminal")

		// A queued job can be cancelled through DELETE too, and so can a
		// finished one not.
		q := a.submit("[[offline:slow]] another")
		if r := a.do("DELETE", "/api/v1/jobs/"+q.ID, nil); r.Status != 200 {
			t.Errorf("DELETE: %d %s", r.Status, r.Body)
		}
		done := a.waitTerminal(a.submit("quick one").ID)
		wantError(t, a.do("POST", "/api/v1/jobs/"+done.ID+"/cancel", nil), 409, "job_terminal")
	})
}

func TestRetries(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("hal"))

		// A retryable failure on attempt 1 is retried and succeeds on 2.
		j := a.submit("[[offline:flaky]] plan my week")
		sawRetrying := false
		final := a.waitFor(j.ID, 60*time.Second, func(j job) bool {
			sawRetrying = sawRetrying || j.Status == "retrying"
			return j.Terminal
		})
		if final.Status != "completed" || final.Attempt != 2 {
			t.Errorf("flaky job: status %s attempt %d, want completed on attempt 2", final.Status, final.Attempt)
		}
		if !sawRetrying {
			t.Error("the job never showed retrying between its attempts")
		}

		// A fatal error fails at once, on attempt 1, with a clear code.
		f := a.waitTerminal(a.submit("[[offline:fatal]] anything").ID)
		if f.Status != "failed" || f.Attempt != 1 || f.Error == nil || f.Error.Code != "bad_request" {
			t.Errorf("fatal job: %+v", f)
		}
	})
}

func TestRetriesRunOut(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--max-attempts", "2")
		a := s.client(s.token("ida"))
		j := a.waitFor(a.submit("[[offline:rate_limited]] hello").ID, 60*time.Second, func(j job) bool { return j.Terminal })
		if j.Status != "failed" || j.Attempt != 2 || j.Error == nil || j.Error.Code != "rate_limited" {
			t.Errorf("job that is always rate limited: %+v", j)
		}
	})
}

func TestQuota(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("jay", "--daily-quota", "2"))
		a.submit("one")
		a.submit("two")
		r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "three"})
		wantError(t, r, 429, "quota_exceeded")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// The user's own key is not limited by the server quota.
		if r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "four", "user_provided_key": "sk-test-0123456789abcdefghij"}); r.Status != 202 {
			t.Errorf("own-key submit over quota: %d %s", r.Status, r.Body)
		}
		var u map[string]any
		a.do("GET", "/api/v1/ai/usage", nil).json(t, &u)
		if u["requests_used"] != float64(2) || u["requests_limit"] != float64(2) || u["requests_remaining"] != float64(0) || u["user_key_requests"] != float64(1) {
			t.Errorf("usage = %v", u)
		}
	})
}
