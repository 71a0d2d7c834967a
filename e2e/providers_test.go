package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOpenAI is an OpenAI-compatible Chat Completions server on loopback
// that speaks the real streaming wire format, so the official SDK runs for
// real. What it does is chosen by markers in the user's input.
type fakeOpenAI struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []string       // Authorization headers seen
	calls   map[string]int // per input
	aborted chan time.Time // when a slow stream saw its request cancelled
}

const generalAnswer = `{"answer":"Paris is the capital of France.","key_points":["Paris","France"]}`

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{calls: map[string]int{}, aborted: make(chan time.Time, 10)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Messages []struct {
			Role    string
			Content any
		}
	}
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &req)
	input := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			input += fmt.Sprint(m.Content)
		}
	}
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	f.keys = append(f.keys, key)
	marker, _, _ := strings.Cut(input, "]]") // calls are counted per test marker
	f.calls[marker]++
	n := f.calls[marker]
	f.mu.Unlock()

	switch {
	case strings.Contains(input, "[[fake:echo-key-401]]"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s. You can find your API key at https://platform.openai.com.","type":"invalid_request_error","code":"invalid_api_key"}}`, key)
		return
	case strings.Contains(input, "[[fake:echo-key-truncated]]"):
		// A piece of the key without its sk-: a 503 (retried), then a 401.
		status, piece := 503, key[3:21]
		if n > 1 {
			status, piece = 401, key[5:19]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"Key ...%s... is not valid for this project","type":"invalid_request_error"}}`, piece)
		return
	case strings.Contains(input, "[[fake:429-once]]") && n == 1:
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	send := func(v string) {
		fmt.Fprintf(w, "data: %s\n\n", v)
		flusher.Flush()
	}
	chunk := func(content string) string {
		b, _ := json.Marshal(content)
		return `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[{"index":0,"delta":{"role":"assistant","content":` + string(b) + `},"finish_reason":null}]}`
	}
	answer := generalAnswer
	if strings.Contains(input, "[[fake:invalid-once]]") && n == 1 {
		answer = `{"answer": 42}`
	}
	delay := 5 * time.Millisecond
	if strings.Contains(input, "[[fake:slow]]") {
		delay = 300 * time.Millisecond
	}
	if strings.Contains(input, "[[fake:echo-key-output]]") { // the key split over chunks and flushes
		answer = `{"answer":"Your key is ` + key + `.","key_points":["` + key[10:30] + `"]}`
		delay = 150 * time.Millisecond
	}
	for i := 0; i < len(answer); i += 8 {
		select {
		case <-r.Context().Done():
			f.aborted <- time.Now()
			return
		case <-time.After(delay):
		}
		send(chunk(answer[i:min(i+8, len(answer))]))
	}
	send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":22,"total_tokens":33}}`)
	send("[DONE]")
}

func (f *fakeOpenAI) sawKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

const userKey = "sk-user-SECRET-4f9a8b7c6d5e4f3a2b1c"

func TestBringYourOwnKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		fake := newFakeOpenAI(t)
		s := startServer(t, db, "--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model")
		a := s.client(s.token("pat"))
		var seen strings.Builder // every byte the API showed the user

		r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "What is the capital of France?", "user_provided_key": userKey})
		seen.Write(r.Body)
		var sub job
		r.json(t, &sub)
		j := a.waitTerminal(sub.ID)
		if j.Status != "completed" {
			t.Fatalf("job: %+v", j)
		}
		if keys := fake.sawKeys(); len(keys) != 1 || keys[0] != userKey {
			t.Errorf("provider saw keys %q, want the user's", keys)
		}
		var res struct {
			UsageInfo struct {
				UserKeyUsed bool  `json:"user_key_used"`
				TokensIn    int64 `json:"tokens_in"`
				Provider    string
				Model       string
			} `json:"usage_info"`
		}
		json.Unmarshal(j.Result, &res)
		if !res.UsageInfo.UserKeyUsed || res.UsageInfo.TokensIn != 11 || res.UsageInfo.Provider != "openai" || res.UsageInfo.Model != "fake-model" {
			t.Errorf("usage_info = %+v", res.UsageInfo)
		}

		// A provider error that echoes the key: failed at once, key redacted.
		r = a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "[[fake:echo-key-401]] hi", "user_provided_key": userKey})
		seen.Write(r.Body)
		r.json(t, &sub)
		f := a.waitTerminal(sub.ID)
		if f.Status != "failed" || f.Attempt != 1 || f.Error == nil || f.Error.Code != "invalid_api_key" {
			t.Errorf("echoed-key job: %+v", f)
		}

		// Everything the user can read: snapshots, lists, events.
		for _, id := range []string{j.ID, sub.ID} {
			seen.Write(a.do("GET", "/api/v1/jobs/"+id, nil).Body)
			seen.Write(a.do("GET", "/api/v1/jobs/"+id+"/events?after=0", nil).Body)
		}
		seen.Write(a.do("GET", "/api/v1/jobs", nil).Body)
		if strings.Contains(seen.String(), userKey) || strings.Contains(seen.String(), "SECRET") {
			t.Errorf("the user's key appears in an API response or event")
		}
		s.stop()
		if strings.Contains(s.logs.String(), userKey) || strings.Contains(s.logs.String(), "SECRET-4f9a") {
			t.Errorf("the user's key appears in the server log")
		}
		// The database: no sealed key left, no plain key anywhere.
		assertKeyNotStored(t, s, db)
	})
}

// assertKeyNotStored checks the user's key is nowhere in the database once
// its jobs ended: no sealed key row, and not in River's job args.
func assertKeyNotStored(t *testing.T, s *server, db database) {
	t.Helper()
	if db == sqlite {
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "aijobs.db*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), userKey) {
				t.Errorf("%s contains the user's key in the clear", f)
			}
		}
	}
	conn := openDB(t, s, db)
	defer conn.Close()
	var n int
	if err := conn.QueryRow(`SELECT count(*) FROM aijobs_sealed_keys`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d sealed keys left after the jobs ended (%v)", n, err)
	}
	var args string
	rows, err := conn.Query(`SELECT CAST(args AS TEXT) FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		rows.Scan(&args)
		if strings.Contains(args, "sk-") || strings.Contains(args, "input") {
			t.Errorf("River job args carry more than the job id: %s", args)
		}
	}
}

func TestProviderNeedsAKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, sqlite, "--provider", "anthropic", "--anthropic-base-url", "http://127.0.0.1:9")
	a := s.client(s.token("quinn"))
	wantError(t, a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hi"}), 422, "no_server_key")
}

func TestProviderRetriesAndCancels(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		fake := newFakeOpenAI(t)
		s := startServer(t, db, "--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model")
		a := s.client(s.token("ray"))

		// 429 with Retry-After: 2 → retrying, waiting for capacity, then
		// completed on the same attempt (the provider's limit is not the
		// job's failure), no sooner than the provider asked.
		start := time.Now()
		j := a.submit("[[fake:429-once]] What is the capital of France?")
		retrying := a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "retrying" || j.Terminal })
		if retrying.Status != "retrying" || retrying.Reason != "waiting_for_capacity" {
			t.Fatalf("after a 429: %+v", retrying)
		}
		done := a.waitTerminal(j.ID)
		if done.Status != "completed" || done.Attempt != 1 || time.Since(start) < 2*time.Second {
			t.Errorf("after 429: %s attempt %d after %v, want completed on attempt 1 after 2 s", done.Status, done.Attempt, time.Since(start))
		}

		// Output that does not validate: one more try with the error, and the
		// usage of both calls is counted.
		v := a.waitTerminal(a.submit("[[fake:invalid-once]] What is the capital of France?").ID)
		var res struct {
			UsageInfo struct {
				TokensIn  int64 `json:"tokens_in"`
				TokensOut int64 `json:"tokens_out"`
			} `json:"usage_info"`
		}
		json.Unmarshal(v.Result, &res)
		if v.Status != "completed" || res.UsageInfo.TokensIn != 22 {
			t.Errorf("invalid-once job: %s, usage %+v (want both calls counted: 22 in)", v.Status, res.UsageInfo)
		}

		// Cancelling aborts the in-flight provider request within a second;
		// the output streamed so far stays in the log.
		c := a.submit("[[fake:slow]] What is the capital of France?")
		a.waitFor(c.ID, 30*time.Second, func(j job) bool { return j.Progress > 5 })
		cancelled := time.Now()
		a.do("POST", "/api/v1/jobs/"+c.ID+"/cancel", nil)
		select {
		case at := <-fake.aborted:
			if d := at.Sub(cancelled); d > time.Second {
				t.Errorf("provider request aborted %v after the cancel", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the provider request was not aborted")
		}
		events := string(a.do("GET", "/api/v1/jobs/"+c.ID+"/events?after=0", nil).Body)
		if !strings.Contains(events, `"type":"output"`) || !strings.Contains(events, `"type":"cancelled"`) {
			t.Errorf("cancelled job's log lacks its output or its cancellation:\n%s", events)
		}
	})
}
