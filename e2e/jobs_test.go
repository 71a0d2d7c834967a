package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("alice"))

		r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "I want to run a marathon by June", "user_provided_key": nil})
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		var sub job
		r.json(t, &sub)
		if sub.Message != "AI request queued for processing" || sub.Status != "queued" || !strings.HasPrefix(sub.ID, "job_") || len(sub.ID) < 20 {
			t.Fatalf("submit response = %+v", sub)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/jobs/"+sub.ID {
			t.Errorf("Location = %q", loc)
		}
		if sub.StreamToken == "" {
			t.Error("submit response has no stream_token")
		}

		// Progress never goes backwards on the way to completed.
		last := -1
		j := a.waitFor(sub.ID, 60*time.Second, func(j job) bool {
			if j.Progress < last {
				t.Fatalf("progress went back from %d to %d", last, j.Progress)
			}
			if j.Progress == 100 && j.Status != "completed" {
				t.Fatalf("progress 100 while %s", j.Status)
			}
			last = j.Progress
			return j.Terminal
		})
		if j.Status != "completed" || j.Progress != 100 || j.Intent != "smart_goal" || j.Attempt != 1 || j.FinishedAt == nil {
			t.Fatalf("final job = %+v", j)
		}
		var res struct {
			Intent    string
			Output    map[string]any
			Text      string
			UsageInfo map[string]any `json:"usage_info"`
		}
		if err := json.Unmarshal(j.Result, &res); err != nil {
			t.Fatal(err)
		}
		if res.Intent != "smart_goal" || res.Output["goal"] == nil || res.Text == "" {
			t.Errorf("result = %s", j.Result)
		}
		for _, k := range []string{"provider", "model", "tokens_in", "tokens_out", "user_key_used", "requests_used", "requests_limit"} {
			if _, ok := res.UsageInfo[k]; !ok {
				t.Errorf("usage_info lacks %s: %v", k, res.UsageInfo)
			}
		}
		if res.UsageInfo["requests_used"] != float64(1) {
			t.Errorf("requests_used = %v, want 1", res.UsageInfo["requests_used"])
		}
		if d := time.Until(j.ExpiresAt); d < 6*24*time.Hour || d > 8*24*time.Hour {
			t.Errorf("expires_at %v is not about 7 days away", j.ExpiresAt)
		}

		// Usage reflects the job.
		var u map[string]any
		a.do("GET", "/api/v1/ai/usage", nil).json(t, &u)
		if u["requests_used"] != float64(1) || u["tokens_out"].(float64) <= 0 {
			t.Errorf("usage = %v", u)
		}

		// The list has it, newest first, and filters by status.
		var list struct {
			Jobs       []job
			NextCursor *string `json:"next_cursor"`
		}
		a.do("GET", "/api/v1/jobs?status=completed", nil).json(t, &list)
		if len(list.Jobs) != 1 || list.Jobs[0].ID != sub.ID || list.NextCursor != nil {
			t.Errorf("list = %+v", list)
		}
		a.do("GET", "/api/v1/jobs?status=queued", nil).json(t, &list)
		if len(list.Jobs) != 0 {
			t.Errorf("queued list = %+v", list)
		}
	})
}

func TestIntentsAndPagination(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("bob"))
		inputs := map[string]string{
			"Help me prioritize: fix the bug, write the report, call the bank": "prioritization",
			"What is the capital of France?":                                   "general",
			"I want to learn Spanish in six months":                            "smart_goal",
		}
		ids := map[string]string{}
		for in, intent := range inputs {
			ids[a.submit(in).ID] = intent
		}
		for id, intent := range ids {
			if j := a.waitTerminal(id); j.Status != "completed" || j.Intent != intent {
				t.Errorf("job %s: status %s intent %s, want completed %s", id, j.Status, j.Intent, intent)
			}
		}
		seen := map[string]bool{}
		cursor := ""
		for page := 0; page < 5; page++ {
			var list struct {
				Jobs       []job
				NextCursor *string `json:"next_cursor"`
			}
			a.do("GET", "/api/v1/jobs?limit=2"+cursor, nil).json(t, &list)
			for _, j := range list.Jobs {
				if seen[j.ID] {
					t.Fatalf("job %s on two pages", j.ID)
				}
				seen[j.ID] = true
			}
			if list.NextCursor == nil {
				break
			}
			cursor = "&cursor=" + *list.NextCursor
		}
		if len(seen) != 3 {
			t.Errorf("pages held %d jobs, want 3", len(seen))
		}
	})
}

func TestIdempotentSubmit(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("carol"))
		first := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hello there", "request_id": "req-1"})
		if first.Status != 202 {
			t.Fatalf("first submit: %d %s", first.Status, first.Body)
		}
		var j1, j2, j3 job
		first.json(t, &j1)
		again := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hello there", "request_id": "req-1"})
		if again.Status != 200 {
			t.Fatalf("retry: %d %s", again.Status, again.Body)
		}
		again.json(t, &j2)
		if j2.ID != j1.ID {
			t.Errorf("retry made job %s, want the same %s", j2.ID, j1.ID)
		}
		// The header works the same, and a different body is a conflict.
		hdr := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hello there"}, "Idempotency-Key", "req-1")
		hdr.json(t, &j3)
		if hdr.Status != 200 || j3.ID != j1.ID {
			t.Errorf("Idempotency-Key retry: %d %s", hdr.Status, hdr.Body)
		}
		wantError(t, a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "something else", "request_id": "req-1"}), 409, "idempotency_conflict")

		// Concurrent retries of one submit make one job.
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "race", "request_id": "req-race"})
				var j job
				json.Unmarshal(r.Body, &j)
				got[i] = fmt.Sprint(r.Status, " ", j.ID)
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		for _, g := range got {
			status, id, _ := strings.Cut(g, " ")
			if status != "200" && status != "202" {
				t.Errorf("concurrent submit: %s", g)
			}
			ids[id] = true
		}
		if len(ids) != 1 {
			t.Errorf("concurrent submits with one request id made %d jobs: %v", len(ids), got)
		}
		// Another user's request id space is separate.
		b := s.client(s.token("dave"))
		if j := b.submit("hello there", "request_id", "req-1"); j.ID == j1.ID {
			t.Error("another user's request id returned carol's job")
		}
	})
}
