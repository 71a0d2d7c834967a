package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/store"
)

// slowProvider streams a chunk every 10 ms until it has sent n or ctx ends.
type slowProvider struct{ n int }

func (slowProvider) Name() string       { return "slow" }
func (slowProvider) Model() string      { return "slow-1" }
func (slowProvider) NeedsKey() bool     { return false }
func (slowProvider) HasServerKey() bool { return false }

func (p slowProvider) Generate(ctx context.Context, _ ai.Request, emit func(string)) (ai.Response, error) {
	for i := 0; i < p.n; i++ {
		select {
		case <-ctx.Done():
			return ai.Response{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		emit("word ")
	}
	return ai.Response{Text: `{"answer": "done"}`}, nil
}

func setup(t *testing.T) (*jobs.Service, *store.Store, jobs.Job) {
	t.Helper()
	return setupWith(t, "plan my week")
}

// setupWith is setup with a job of the given input.
func setupWith(t *testing.T, input string) (*jobs.Service, *store.Store, jobs.Job) {
	t.Helper()
	ctx := context.Background()
	st := jobstest.Store(t, "sqlite", nil)
	u, _, err := st.EnsureUser(ctx, "wren", 10)
	if err != nil {
		t.Fatal(err)
	}
	svc := jobstest.Service(t, st, jobs.Config{})
	j, _, err := svc.Submit(ctx, u, jobs.SubmitRequest{Input: input})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, j
}

// TestAttemptTakenAway: an attempt that is handed back (its node was
// declared dead) or cancelled while it streams stops at its next write and
// never completes the job.
func TestAttemptTakenAway(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		takeAway   func(ctx context.Context, svc *jobs.Service, j jobs.Job) error
		wantStatus jobs.Status
	}{
		{"handed back", func(ctx context.Context, svc *jobs.Service, j jobs.Job) error {
			_, err := svc.Abandon(ctx, j.ID, 1, false, jobs.Error{Code: "worker_lost", Message: "gone"})
			return err
		}, jobs.StatusRetrying},
		{"cancelled", func(ctx context.Context, svc *jobs.Service, j jobs.Job) error {
			_, err := svc.Cancel(ctx, j.UserID, j.ID)
			return err
		}, jobs.StatusCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc, st, j := setup(t)
			w := New(svc, slowProvider{n: 300}, Config{Logger: slog.New(slog.DiscardHandler)})
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- w.Run(ctx, queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}) }()
			for {
				got, err := st.Job(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == jobs.StatusWorking && got.Progress > 5 {
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("the attempt never reported output: %+v", got)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := c.takeAway(ctx, svc, j); err != nil {
				t.Fatal(err)
			}
			taken, _ := st.Job(ctx, j.ID)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil (the job is no longer this attempt's)", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the attempt went on streaming after it was taken away")
			}
			got, _ := st.Job(ctx, j.ID)
			if got.Status != c.wantStatus || got.Seq != taken.Seq {
				t.Errorf("after the attempt was taken away the job moved on: %s seq %d, want %s seq %d", got.Status, got.Seq, c.wantStatus, taken.Seq)
			}
		})
	}
}

// theKey is the user's key in the scrubbing tests; theServerKey the
// server's.
const (
	theKey       = "sk-user-SECRET-4f9a8b7c6d5e4f3a2b1c"
	theServerKey = "srv-KEY-0a1b2c3d4e5f6a7b8c9d"
)

// echoProvider streams chunks, one every pause, then answers text — or
// fails with err.
type echoProvider struct {
	chunks []string
	pause  time.Duration
	text   string
	err    error
}

func (echoProvider) Name() string       { return "echo" }
func (echoProvider) Model() string      { return "echo-1" }
func (echoProvider) NeedsKey() bool     { return true }
func (echoProvider) HasServerKey() bool { return false }

func (p echoProvider) Generate(ctx context.Context, _ ai.Request, emit func(string)) (ai.Response, error) {
	for _, c := range p.chunks {
		select {
		case <-ctx.Done():
			return ai.Response{}, ctx.Err()
		case <-time.After(p.pause):
		}
		emit(c)
	}
	if p.err != nil {
		return ai.Response{}, p.err
	}
	return ai.Response{Text: p.text}, nil
}

// runOnce submits a job on the user's key to a fresh store of kind db and
// runs its attempt number attempt of max with p.
func runOnce(t *testing.T, db string, p ai.Provider, attempt, max int) (*store.Store, jobs.Job, error) {
	t.Helper()
	ctx := context.Background()
	st := jobstest.Store(t, db, nil)
	u, _, err := st.EnsureUser(ctx, "wren", 10)
	if err != nil {
		t.Fatal(err)
	}
	svc := jobstest.Service(t, st, jobs.Config{})
	j, _, err := svc.Submit(ctx, u, jobs.SubmitRequest{Input: "What is the capital of France?", UserKey: theKey})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < attempt; n++ { // earlier attempts, handed back
		if _, err := svc.Start(ctx, j.ID, n, "n1"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Abandon(ctx, j.ID, n, false, jobs.Error{Code: "worker_lost", Message: "gone"}); err != nil {
			t.Fatal(err)
		}
	}
	w := New(svc, p, Config{FlushEvery: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	runErr := w.Run(ctx, queue.Attempt{JobID: j.ID, Number: attempt, Max: max, Node: "n1"})
	got, err := st.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st, got, runErr
}

// everything is all a client can read of job j: its snapshot and its
// events, as JSON.
func everything(t *testing.T, st *store.Store, j jobs.Job) string {
	t.Helper()
	evs, err := st.Events(context.Background(), j.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Job    jobs.Job
		Events []jobs.Event
	}{j, evs})
	return string(b)
}

// wantNoFragment fails if text holds any ai.MinFragment bytes of key.
func wantNoFragment(t *testing.T, what, text, key string) {
	t.Helper()
	for i := 0; i+ai.MinFragment <= len(key); i++ {
		if f := key[i : i+ai.MinFragment]; strings.Contains(text, f) {
			t.Errorf("%s holds %q, a piece of the key:\n%s", what, f, text)
			return
		}
	}
}

// TestOutputScrubbed: a model that echoes the user's key — in one chunk,
// split over chunks that are written in separate flushes, or in part — has
// it removed from every output event, the result text and the structured
// output, which stays valid JSON.
func TestOutputScrubbed(t *testing.T) {
	t.Parallel()
	answer := `{"answer":"Your key is ` + theKey + `, or SECRET-4f9a8b7c for short.","key_points":["Paris"]}`
	tests := []struct {
		name   string
		chunks []string
	}{
		{"one chunk", []string{answer}},
		{"split over flushes", splitEvery(answer, 5)},
		{"split inside the key", []string{answer[:30], answer[30:35], answer[35:60], answer[60:]}},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, tt := range tests {
			t.Run(db+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := echoProvider{chunks: tt.chunks, pause: 30 * time.Millisecond, text: answer}
				st, j, err := runOnce(t, db, p, 1, 3)
				if err != nil || j.Status != jobs.StatusCompleted {
					t.Fatalf("Run: %v, job %s %+v", err, j.Status, j.Error)
				}
				all := everything(t, st, j)
				wantNoFragment(t, "what clients read", all, theKey)
				var res jobs.Result
				if err := json.Unmarshal(j.Result, &res); err != nil {
					t.Fatal(err)
				}
				want := `{"answer":"Your key is [REDACTED], or [REDACTED] for short.","key_points":["Paris"]}`
				if string(res.Output) != want || res.Text != want {
					t.Errorf("result output %s, text %q; want both %s", res.Output, res.Text, want)
				}
				var streamed strings.Builder
				evs, _ := st.Events(context.Background(), j.ID, 0, 1000)
				outputs := 0
				for _, ev := range evs {
					if ev.Type == jobs.EventOutput {
						streamed.WriteString(ev.Text)
						outputs++
					}
				}
				if streamed.String() != want {
					t.Errorf("streamed output %q, want %q", streamed.String(), want)
				}
				if len(tt.chunks) > 1 && outputs < 2 {
					t.Errorf("%d output events, want the output written in several flushes", outputs)
				}
			})
		}
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

// TestErrorScrubbed: a provider error that quotes a truncated key (no
// sk-) leaves no piece of it in the job's error, its events, or the error
// Run hands to River — when the job will retry and when it fails.
func TestErrorScrubbed(t *testing.T) {
	t.Parallel()
	echoed := &ai.Error{Code: "invalid_api_key", Message: "openai rejected the key ..." + theKey[8:24] + "..."}
	retryable := &ai.Error{Code: "provider_error", Retryable: true, Message: "overloaded for key " + theKey[12:]}
	tests := []struct {
		name       string
		err        error
		attempt    int
		wantStatus jobs.Status
		wantMsg    string
	}{
		{"fails at once", echoed, 1, jobs.StatusFailed, "openai rejected the key ...[REDACTED]..."},
		{"will retry", retryable, 1, jobs.StatusRetrying, "overloaded for key [REDACTED]"},
		{"last attempt", retryable, 3, jobs.StatusFailed, "overloaded for key [REDACTED]"},
		{"bytes the database rejects", &ai.Error{Code: "bad_request", Message: "bad\x00input \xff" + theKey}, 1, jobs.StatusFailed, "badinput \uFFFD[REDACTED]"},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, tt := range tests {
			t.Run(db+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := echoProvider{chunks: []string{`{"answer":"par`}, err: tt.err}
				st, j, runErr := runOnce(t, db, p, tt.attempt, 3)
				evs, err := st.Events(context.Background(), j.ID, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				last := evs[len(evs)-1] // retrying has the error on its event only
				if j.Status != tt.wantStatus || last.Error == nil || last.Error.Message != tt.wantMsg {
					t.Errorf("job %s, last event %+v, want %s with message %q", j.Status, last.Error, tt.wantStatus, tt.wantMsg)
				}
				wantNoFragment(t, "what clients read", everything(t, st, j), theKey)
				if runErr == nil {
					t.Fatal("Run returned nil, want the attempt's error")
				}
				wantNoFragment(t, "the error River records", runErr.Error(), theKey)
			})
		}
	}
}

// TestServerKeyScrubbed: the server's own key is scrubbed too, through a
// real provider (the OpenAI one, against a fake server on loopback) that
// echoes it in the output.
func TestServerKeyScrubbed(t *testing.T) {
	t.Parallel()
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "text/event-stream")
		answer := `{"answer":"The server uses ` + key + `","key_points":["x"]}`
		for _, part := range splitEvery(answer, 6) {
			b, _ := json.Marshal(part)
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", b)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(fake.Close)
	ctx := context.Background()
	svc, st, j := setupWith(t, "What is the capital of France?")
	p := ai.NewOpenAI(ai.OpenAIConfig{BaseURL: fake.URL + "/v1", APIKey: theServerKey, Model: "m"})
	w := New(svc, p, Config{FlushEvery: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err := w.Run(ctx, queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Job(ctx, j.ID)
	if got.Status != jobs.StatusCompleted {
		t.Fatalf("job %s %+v", got.Status, got.Error)
	}
	all := everything(t, st, got)
	wantNoFragment(t, "what clients read", all, theServerKey)
	if !strings.Contains(all, "The server uses [REDACTED]") {
		t.Errorf("the result lacks the marker:\n%s", all)
	}
}
