package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyFragment returns the first 8-byte piece of key found in text, or "".
func keyFragment(text, key string) string {
	for i := 0; i+8 <= len(key); i++ {
		if strings.Contains(text, key[i:i+8]) {
			return key[i : i+8]
		}
	}
	return ""
}

// TestSecretsScrubbed: the user's key, echoed in part by a provider error
// (without its sk-) and whole by the model's output (split over chunks
// written in separate flushes), reaches no client — snapshots, events,
// long-poll, SSE, /cable — and neither the log nor the database.
func TestSecretsScrubbed(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		fake := newFakeOpenAI(t)
		s := startServer(t, db, "--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model")
		a := s.client(s.token("pat"))
		var seen strings.Builder // every byte a client was sent

		// Live: the user's SSE stream and a /cable connection on all jobs.
		var ut struct {
			StreamToken string `json:"stream_token"`
		}
		a.do("POST", "/api/v1/stream_tokens", nil).json(t, &ut)
		sse := mustSSE(t, s.URL+"/api/v1/events?token="+ut.StreamToken)
		cable := mustDialCable(t, s, "?token="+ut.StreamToken, nil)
		cable.welcome()
		all := `{"channel":"AiJobChannel"}`
		cable.subscribe(all)

		submit := func(input string) string {
			r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": input, "user_provided_key": userKey})
			seen.Write(r.Body)
			var j job
			r.json(t, &j)
			return j.ID
		}
		failed := submit("[[fake:echo-key-truncated]] hi")
		echoed := submit("[[fake:echo-key-output]] What is the capital of France?")

		// Long-poll each job to its end, keeping every answer.
		for _, id := range []string{failed, echoed} {
			seq := int64(0)
			for deadline := time.Now().Add(60 * time.Second); ; {
				if time.Now().After(deadline) {
					t.Fatalf("job %s did not end", id)
				}
				r := a.do("GET", "/api/v1/jobs/"+id+"?wait=5&since="+itoa(seq), nil)
				seen.Write(r.Body)
				var j job
				r.json(t, &j)
				if seq = j.Seq; j.Terminal {
					break
				}
			}
		}
		f, e := a.get(failed), a.get(echoed)
		// The 503 was waited out without using an attempt; the 401 failed it.
		if f.Status != "failed" || f.Attempt != 1 || f.Error == nil || !strings.Contains(f.Error.Message, "Key ...[REDACTED]... is not valid") {
			t.Errorf("echoed-error job: %s attempt %d error %+v, want failed on attempt 1 with the piece redacted", f.Status, f.Attempt, f.Error)
		}
		if e.Status != "completed" {
			t.Fatalf("echoed-output job: %+v", e)
		}
		var res struct {
			Output json.RawMessage `json:"output"`
			Text   string          `json:"text"`
		}
		json.Unmarshal(e.Result, &res)
		want := `{"answer":"Your key is [REDACTED].","key_points":["[REDACTED]"]}`
		if string(res.Output) != want || res.Text != want {
			t.Errorf("result output %s text %q, want both %s", res.Output, res.Text, want)
		}

		// The logs of events, and the streams, both live until the end.
		var streamed strings.Builder
		outputs := 0
		for _, id := range []string{failed, echoed} {
			replay := mustSSE(t, s.URL+"/api/v1/jobs/"+id+"/events?after=0", "Authorization", "Bearer "+a.token)
			for _, ev := range replay.until(id) {
				seen.WriteString(ev.data)
				var out struct{ Text string }
				if ev.Type == "output" && id == echoed && json.Unmarshal([]byte(ev.data), &out) == nil {
					streamed.WriteString(out.Text)
					outputs++
				}
			}
		}
		if streamed.String() != want || outputs < 3 {
			t.Errorf("streamed output %q in %d events, want %s in several", streamed.String(), outputs, want)
		}
		for _, ev := range sse.until(failed, echoed) {
			seen.WriteString(ev.data)
		}
		for done := 0; done < 2; {
			m := cable.must(30 * time.Second)
			seen.WriteString(m.raw)
			var j job
			if json.Unmarshal(m.Message, &j) == nil && j.Terminal && (j.ID == failed || j.ID == echoed) {
				done++
			}
		}
		seen.Write(a.do("GET", "/api/v1/jobs", nil).Body)
		if piece := keyFragment(seen.String(), userKey); piece != "" {
			t.Errorf("a client was sent %q, a piece of the user's key", piece)
		}
		if !strings.Contains(seen.String(), "[REDACTED]") {
			t.Errorf("no marker in what clients saw: the echoes did not happen")
		}

		s.stop()
		if piece := keyFragment(s.logs.String(), userKey); piece != "" {
			t.Errorf("the server log holds %q, a piece of the user's key", piece)
		}
		assertNoKeyFragmentStored(t, s, db)
	})
}

// assertNoKeyFragmentStored checks that no piece of the user's key is in
// the database: the files (SQLite), or the job rows, their events and
// River's jobs with the errors it recorded (PostgreSQL).
func assertNoKeyFragmentStored(t *testing.T, s *server, db database) {
	t.Helper()
	if db == sqlite {
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "aijobs.db*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if piece := keyFragment(string(b), userKey); piece != "" {
				t.Errorf("%s holds %q, a piece of the user's key", f, piece)
			}
		}
	}
	conn := openDB(t, s, db)
	defer conn.Close()
	for _, q := range []string{
		`SELECT COALESCE(result, '') || ' ' || COALESCE(error_message, '') FROM aijobs_jobs`,
		`SELECT data FROM aijobs_events`,
		`SELECT CAST(args AS TEXT) || ' ' || COALESCE(CAST(errors AS TEXT), '') FROM river_job`,
	} {
		rows, err := conn.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if piece := keyFragment(v, userKey); piece != "" {
				t.Errorf("%s: a row holds %q, a piece of the user's key: %s", q, piece, v)
			}
		}
		rows.Close()
	}
}

// TestSecretNotFoundTiming: over HTTP, a 404 for another user's job takes
// what a 404 for an unknown (well-formed) id takes. Samples are
// interleaved, and the medians must be within 1.3× of each other.
func TestSecretNotFoundTiming(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		owner := s.client(s.token("owner"))
		other := s.client(s.token("other"))
		running := owner.submit("[[offline:slow]] plan my week")
		finished := owner.waitTerminal(owner.submit("plan my day").ID)
		owner.get(finished.ID) // its owner's read caches it
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		get := func(id string) time.Duration {
			req, _ := http.NewRequest("GET", s.URL+"/api/v1/jobs/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+other.token)
			start := time.Now()
			resp, err := client.Do(req)
			d := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET %s as another user: %d, want 404", id, resp.StatusCode)
			}
			return d
		}
		for _, c := range []struct{ name, id string }{{"running", running.ID}, {"finished", finished.ID}} {
			var theirs, unknown []time.Duration
			for range 1000 {
				theirs = append(theirs, get(c.id))
				unknown = append(unknown, get("job_"+strings.ToLower(randText(26))))
			}
			x, y := medianOf(theirs), medianOf(unknown)
			ratio := float64(max(x, y)) / float64(min(x, y))
			t.Logf("%s job: median 404 for another user's %v, for an unknown id %v (ratio %.2f)", c.name, x, y, ratio)
			if ratio > 1.3 {
				t.Errorf("%s job: medians %v (another user's) and %v (unknown): ratio %.2f, want at most 1.3", c.name, x, y, ratio)
			}
		}
	})
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
