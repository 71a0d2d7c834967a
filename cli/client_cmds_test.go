package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// cliServer is a scripted aijobs server for the client commands: every job
// runs its whole script at once, so a follow sees the full log. The client
// package's tests cover the protocol in depth; these cover the commands.
type cliServer struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	jobs     map[string]*cliJob
	requests []cliRequest
}

type cliJob struct {
	events []jobtype.Event
	final  jobtype.Job
}

type cliRequest struct {
	method, path, auth, body string
}

const cliToken = "cli-test-token"

var cliResult = json.RawMessage(`{"intent":"general","output":{"answer":"Hello, world"},"text":"Hello,\nworld","usage_info":{"provider":"offline"}}`)

func newCLIServer(t *testing.T) *cliServer {
	t.Helper()
	s := &cliServer{token: cliToken, jobs: map[string]*cliJob{}}
	s.add("job_done", "completed")
	s.add("job_running", "")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/ai/proxy", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Input string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		outcome := "completed"
		switch body.Input {
		case "fail me":
			outcome = "failed"
		case "cancel me":
			outcome = "cancelled"
		}
		id := s.add("", outcome)
		w.Header().Set("Location", "/api/v1/jobs/"+id)
		cliJSON(w, http.StatusAccepted, map[string]any{"message": "AI request queued for processing", "job_id": id, "status": "queued", "seq": 1, "stream_token": "st_x"})
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		j, ok := s.job(r.PathValue("id"))
		if !ok {
			cliJSON(w, http.StatusNotFound, map[string]string{"error": "job not found", "code": "not_found"})
			return
		}
		cliJSON(w, http.StatusOK, j.final)
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		j, ok := s.job(r.PathValue("id"))
		if !ok {
			cliJSON(w, http.StatusNotFound, map[string]string{"error": "job not found", "code": "not_found"})
			return
		}
		after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "retry: 2000\n\n")
		for _, ev := range j.events {
			if ev.Seq > after {
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "id: %d\ndata: %s\n\n", ev.Seq, b)
			}
		}
	})
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		j, ok := s.job(r.PathValue("id"))
		switch {
		case !ok:
			cliJSON(w, http.StatusNotFound, map[string]string{"error": "job not found", "code": "not_found"})
		case j.final.Terminal:
			cliJSON(w, http.StatusConflict, map[string]string{"error": "the job has already finished", "code": "job_terminal"})
		default:
			snap := j.final
			snap.Status, snap.Terminal, snap.Seq = jobtype.StatusCancelled, true, snap.Seq+1
			snap.Error = &jobtype.Error{Code: "cancelled", Message: "cancelled by the user"}
			cliJSON(w, http.StatusOK, snap)
		}
	})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests = append(s.requests, cliRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(body)})
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			cliJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid token", "code": "unauthorized"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func cliJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// add scripts a job that ends with outcome ("" leaves it working).
func (s *cliServer) add(id, outcome string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = fmt.Sprintf("job_%d", len(s.jobs)+1)
	}
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	evs := []jobtype.Event{
		{Type: jobtype.EventStatus, Status: jobtype.StatusQueued},
		{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1},
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 40},
		// Output with a line break, a tab and an escape sequence that must
		// not reach the terminal.
		{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 40, Text: "Hello,\n\tworld \x1b[31mred"},
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 80},
	}
	final := jobtype.Job{ID: id, Status: jobtype.StatusWorking, Progress: 80, Attempt: 1, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	switch outcome {
	case "completed":
		evs = append(evs, jobtype.Event{Type: jobtype.EventCompleted, Status: jobtype.StatusCompleted, Progress: 100, Intent: jobtype.IntentGeneral, Result: cliResult})
		final.Status, final.Progress, final.Result, final.Intent = jobtype.StatusCompleted, 100, cliResult, jobtype.IntentGeneral
	case "failed":
		e := &jobtype.Error{Code: "invalid_key", Message: "the provider refused the key"}
		evs = append(evs, jobtype.Event{Type: jobtype.EventFailed, Status: jobtype.StatusFailed, Progress: 80, Error: e, Result: json.RawMessage(`{"error":"the provider refused the key"}`)})
		final.Status, final.Error = jobtype.StatusFailed, e
	case "cancelled":
		e := &jobtype.Error{Code: "cancelled", Message: "cancelled by the user"}
		evs = append(evs, jobtype.Event{Type: jobtype.EventCancelled, Status: jobtype.StatusCancelled, Progress: 80, Error: e})
		final.Status, final.Error = jobtype.StatusCancelled, e
	}
	for i := range evs {
		evs[i].JobID, evs[i].Seq, evs[i].At, evs[i].Terminal = id, int64(i+1), at, evs[i].Type.Terminal()
	}
	final.Terminal, final.Seq = final.Status.Terminal(), int64(len(evs))
	s.jobs[id] = &cliJob{events: evs, final: final}
	return id
}

func (s *cliServer) job(id string) (*cliJob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	return j, ok
}

func (s *cliServer) requestsTo(method, path string) []cliRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cliRequest
	for _, r := range s.requests {
		if r.method == method && r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// run is one command line: its exit code and what it wrote.
type run struct {
	code           int
	stdout, stderr string
}

// runCLI runs a command line with the given environment variables.
func runCLI(t *testing.T, vars map[string]string, terminal bool, args ...string) run {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }, IsTerminal: terminal}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code := Main(ctx, env, args)
	return run{code, out.String(), errOut.String()}
}

// dataDir returns a data directory holding a demo token, as `aijobs serve`
// leaves it.
func dataDir(t *testing.T, token string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, demoTokenFile), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// env is the environment of a client command against s with the demo
// token.
func (s *cliServer) env(t *testing.T) map[string]string {
	return map[string]string{"AIJOBS_SERVER": s.srv.URL, "AIJOBS_DATA_DIR": dataDir(t, s.token)}
}

func wantRun(t *testing.T, got run, wantCode int, stdoutHas, stderrHas []string) {
	t.Helper()
	if got.code != wantCode {
		t.Errorf("exit code %d, want %d\nstdout: %q\nstderr: %q", got.code, wantCode, got.stdout, got.stderr)
	}
	for _, s := range stdoutHas {
		if !strings.Contains(got.stdout, s) {
			t.Errorf("stdout %q lacks %q", got.stdout, s)
		}
	}
	for _, s := range stderrHas {
		if !strings.Contains(got.stderr, s) {
			t.Errorf("stderr %q lacks %q", got.stderr, s)
		}
	}
}

func TestSubmitPrintsOnlyTheJobID(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	got := runCLI(t, s.env(t), false, "submit", "Plan my week", "--request-id", "r-1", "--user-key=sk-mine")
	wantRun(t, got, 0, nil, nil)
	if !regexpJobID(got.stdout) {
		t.Errorf("stdout = %q, want the job id alone on a line", got.stdout)
	}
	reqs := s.requestsTo(http.MethodPost, "/api/v1/ai/proxy")
	if len(reqs) != 1 {
		t.Fatalf("%d submits, want 1", len(reqs))
	}
	if reqs[0].auth != "Bearer "+cliToken {
		t.Errorf("Authorization = %q, want the demo token from the data directory", reqs[0].auth)
	}
	want := `{"input":"Plan my week","user_provided_key":"sk-mine","request_id":"r-1"}`
	if reqs[0].body != want {
		t.Errorf("body\n got  %s\n want %s", reqs[0].body, want)
	}
	// A webhook and its events go with the submit.
	got = runCLI(t, s.env(t), false, "submit", "Plan my week", "--webhook-url", "https://hooks.example.com/aijobs", "--webhook-events", "completed,progress")
	wantRun(t, got, 0, nil, nil)
	reqs = s.requestsTo(http.MethodPost, "/api/v1/ai/proxy")
	want = `{"input":"Plan my week","user_provided_key":null,"request_id":null,"webhook_url":"https://hooks.example.com/aijobs","webhook_events":["completed","progress"]}`
	if len(reqs) != 2 || reqs[1].body != want {
		t.Errorf("submit with a webhook: %d submits, last body %s, want %s", len(reqs), reqs[len(reqs)-1].body, want)
	}
}

func regexpJobID(s string) bool {
	return strings.HasPrefix(s, "job_") && strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n") && !strings.Contains(s, " ")
}

func TestSubmitWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		input      string
		wantCode   int
		wantStdout string // exactly
		wantStderr []string
	}{
		{"Plan my week", 0, "{\n  \"intent\": \"general\",\n  \"output\": {\n    \"answer\": \"Hello, world\"\n  },\n  \"text\": \"Hello,\\nworld\",\n  \"usage_info\": {\n    \"provider\": \"offline\"\n  }\n}\n",
			[]string{"queued 0%\nworking 0%\nworking 40%\nworking 80%\ncompleted 100%\n"}},
		{"fail me", 1, "", []string{"failed 80%\n", "failed: the provider refused the key (invalid_key)"}},
		{"cancel me", 3, "", []string{"cancelled 80%\n", "was cancelled: cancelled by the user (cancelled)"}},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			t.Parallel()
			s := newCLIServer(t)
			got := runCLI(t, s.env(t), false, "submit", "--wait", tt.input)
			wantRun(t, got, tt.wantCode, nil, tt.wantStderr)
			if got.stdout != tt.wantStdout {
				t.Errorf("stdout\n got  %q\n want %q", got.stdout, tt.wantStdout)
			}
		})
	}
}

func TestSubmitWaitOnTerminal(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	vars := s.env(t)
	vars["COLUMNS"] = "40"
	got := runCLI(t, vars, true, "submit", "Plan my week", "--wait")
	wantRun(t, got, 0, []string{"\r\x1b[K", "Hello,\n", "[████████░░░░░░░░░░░░] working 40%", "[████████████████████] completed 100%\n{\n  \"intent\""}, nil)
	if strings.Contains(got.stdout, "\x1b[31m") || strings.Contains(got.stdout, "\t") {
		t.Errorf("stdout %q: the model's escape sequence or tab reached the terminal", got.stdout)
	}
	// Every redraw of the bar fits in the terminal's width, or it would
	// wrap and could not be redrawn in place.
	for _, seg := range strings.Split(strings.ReplaceAll(got.stdout, "\n", "\r"), "\r") {
		seg = strings.TrimPrefix(seg, "\x1b[K")
		if n := len([]rune(seg)); n > 39 {
			t.Errorf("line of %d columns on a 40-column terminal: %q", n, seg)
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	got := runCLI(t, s.env(t), false, "status", "job_done")
	wantRun(t, got, 0, []string{"{\n  \"job_id\": \"job_done\",\n  \"status\": \"completed\",\n  \"terminal\": true,"}, nil)
	var j jobtype.Job
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || j.Seq != 6 {
		t.Errorf("stdout is not the snapshot (seq %d, %v): %s", j.Seq, err, got.stdout)
	}

	got = runCLI(t, s.env(t), false, "status", "job_nope")
	wantRun(t, got, 1, nil, []string{"job not found", "not_found", "404"})
	if got.stdout != "" {
		t.Errorf("stdout = %q after an error, want nothing", got.stdout)
	}
}

func TestWatchCommand(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	got := runCLI(t, s.env(t), false, "watch", "job_done")
	wantRun(t, got, 0, []string{`"text": "Hello,\nworld"`}, []string{"completed 100%"})
	streams := s.requestsTo(http.MethodGet, "/api/v1/jobs/job_done/events")
	if len(streams) != 1 {
		t.Errorf("%d stream requests, want 1", len(streams))
	}
	got = runCLI(t, s.env(t), false, "watch", "job_nope")
	wantRun(t, got, 1, nil, []string{"job not found (not_found, HTTP 404)"})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	got := runCLI(t, s.env(t), false, "cancel", "job_running")
	wantRun(t, got, 0, []string{`"status": "cancelled"`, `"terminal": true`}, nil)

	got = runCLI(t, s.env(t), false, "cancel", "job_done")
	wantRun(t, got, 1, nil, []string{"job job_done has already finished (completed), there is nothing to cancel"})

	got = runCLI(t, s.env(t), false, "cancel", "job_nope")
	wantRun(t, got, 1, nil, []string{"job not found"})
}

func TestTokenSources(t *testing.T) {
	t.Parallel()
	s := newCLIServer(t)
	withFile := dataDir(t, cliToken)
	wrongFile := dataDir(t, "wrong-token")
	empty := t.TempDir()
	tests := []struct {
		name      string
		vars      map[string]string
		args      []string
		wantCode  int
		wantError string
	}{
		{"demo token file", map[string]string{"AIJOBS_DATA_DIR": withFile}, nil, 0, ""},
		{"--data-dir flag", nil, []string{"--data-dir", withFile}, 0, ""},
		{"AIJOBS_TOKEN beats the file", map[string]string{"AIJOBS_DATA_DIR": wrongFile, "AIJOBS_TOKEN": cliToken}, nil, 0, ""},
		{"--token beats AIJOBS_TOKEN", map[string]string{"AIJOBS_TOKEN": "wrong"}, []string{"--token", cliToken}, 0, ""},
		{"wrong token", map[string]string{"AIJOBS_TOKEN": "wrong"}, nil, 1, "missing or invalid token (unauthorized, HTTP 401)"},
		{"no token anywhere", map[string]string{"AIJOBS_DATA_DIR": empty}, nil, 1, "no API token: pass --token or set AIJOBS_TOKEN (or run `aijobs serve`, which saves a demo token in " + filepath.Join(empty, demoTokenFile) + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"AIJOBS_SERVER": s.srv.URL}
			for k, v := range tt.vars {
				vars[k] = v
			}
			got := runCLI(t, vars, false, append([]string{"status", "job_done"}, tt.args...)...)
			var stderr []string
			if tt.wantError != "" {
				stderr = append(stderr, tt.wantError)
			}
			wantRun(t, got, tt.wantCode, nil, stderr)
		})
	}
}

func TestServerUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	got := runCLI(t, map[string]string{"AIJOBS_TOKEN": "t"}, false, "submit", "hi", "--server", url)
	wantRun(t, got, 1, nil, []string{"connection refused", "is the server running at " + url})
}

func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		wantCode  int
		wantError string
	}{
		{[]string{"submit"}, 2, "the text to submit is missing"},
		{[]string{"submit", "--wait"}, 2, "the text to submit is missing"},
		{[]string{"status"}, 2, "the job id is missing"},
		{[]string{"watch"}, 2, "the job id is missing"},
		{[]string{"cancel", "a", "b"}, 2, "one job id at a time"},
		{[]string{"status", "job_x", "--bogus"}, 2, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, map[string]string{"AIJOBS_TOKEN": "t"}, false, tt.args...)
			wantRun(t, got, tt.wantCode, nil, []string{tt.wantError})
		})
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		wantPos   []string
		wantWait  bool
		wantReqID string
	}{
		{[]string{"text"}, []string{"text"}, false, ""},
		{[]string{"text", "--wait"}, []string{"text"}, true, ""},
		{[]string{"--wait", "text"}, []string{"text"}, true, ""},
		{[]string{"a", "--request-id", "r", "b"}, []string{"a", "b"}, false, "r"},
		{[]string{"-request-id=r", "a"}, []string{"a"}, false, "r"},
		{[]string{"--wait=false", "a"}, []string{"a"}, false, ""},
		{[]string{"a", "--", "--wait", "-x"}, []string{"a", "--wait", "-x"}, false, ""},
		{[]string{"-", "a"}, []string{"-", "a"}, false, ""},
		{[]string{"--request-id", "--wait"}, nil, false, "--wait"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			fs := newFlagSet("submit", "")
			wait := fs.Bool("wait", false, "")
			reqID := fs.String("request-id", "", "")
			pos, err := parseArgs(fs, env, tt.args)
			if err != nil {
				t.Fatalf("parseArgs: %v", err)
			}
			if !slices.Equal(pos, tt.wantPos) || *wait != tt.wantWait || *reqID != tt.wantReqID {
				t.Errorf("got pos %q wait %v request-id %q, want %q %v %q", pos, *wait, *reqID, tt.wantPos, tt.wantWait, tt.wantReqID)
			}
		})
	}
}
