package client

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// fakeServer is an aijobs server in memory that follows docs/api.md for one
// user, with hooks to inject the faults the client must survive. Tests drive
// its jobs with emit. End-to-end tests against the real server live with the
// server; this one pins down the client's side of the protocol.
type fakeServer struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	// Set before the server starts (in newFake's options), read-only after.

	// hook may answer a request before the fake does; it reports whether it
	// did. It runs after authentication.
	hook func(w http.ResponseWriter, r *http.Request) bool
	// dropAfter ends stream connection number conn (from 1) abruptly after
	// that many events; 0 keeps it open.
	dropAfter func(conn int) int
	heartbeat time.Duration

	// parked gets a value whenever a long-poll starts waiting; subscribed
	// whenever a stream has replayed its backlog and follows live.
	parked     chan struct{}
	subscribed chan struct{}

	mu       sync.Mutex // guards the fields below
	jobs     map[string]*fakeJob
	order    []string          // job ids, oldest first
	byReq    map[string]string // request id → job id
	changed  chan struct{}     // closed and replaced on every change
	requests []fakeRequest
	sseConns int
}

// fakeJob is one job of the fake: its snapshot and its event log.
type fakeJob struct {
	job         jobtype.Job
	input, key  string
	events      []jobtype.Event
	streamToken string
	// trimmed is the highest seq no longer kept in the log.
	trimmed int64
}

// fakeRequest is a request as the fake received it.
type fakeRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

const testToken = "test-api-token"

func newFake(t *testing.T, opts ...func(*fakeServer)) *fakeServer {
	t.Helper()
	f := &fakeServer{
		t:          t,
		token:      testToken,
		heartbeat:  15 * time.Second,
		parked:     make(chan struct{}, 1000),
		subscribed: make(chan struct{}, 1000),
		jobs:       map[string]*fakeJob{},
		byReq:      map[string]string{},
		changed:    make(chan struct{}),
	}
	for _, o := range opts {
		o(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/ai/proxy", f.submit)
	mux.HandleFunc("GET /api/v1/jobs/{id}", f.get)
	mux.HandleFunc("GET /api/v1/jobs", f.list)
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", f.cancel)
	mux.HandleFunc("DELETE /api/v1/jobs/{id}", f.cancel)
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", f.events)
	mux.HandleFunc("GET /api/v1/ai/usage", f.usage)
	mux.HandleFunc("POST /api/v1/stream_tokens", f.streamToken)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		f.mu.Unlock()
		if !f.authorized(r) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid token", 0)
			return
		}
		if f.hook != nil && f.hook(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// authorized accepts the API token in the header, and a stream token in the
// URL of a stream, never the API token in a URL.
func (f *fakeServer) authorized(r *http.Request) bool {
	if tok := r.URL.Query().Get("token"); tok != "" {
		if tok == f.token || !strings.HasSuffix(r.URL.Path, "/events") {
			return false
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		fj := f.jobs[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/jobs/"), "/events")]
		return tok == "st_user" || (fj != nil && tok == fj.streamToken)
	}
	return r.Header.Get("Authorization") == "Bearer "+f.token
}

func writeError(w http.ResponseWriter, status int, code, msg string, retryAfter int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// add creates a queued job directly, as a submit would.
func (f *fakeServer) add(input string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(input, "")
}

func (f *fakeServer) addLocked(input, key string) string {
	now := time.Now().UTC()
	fj := &fakeJob{
		job: jobtype.Job{
			ID: randomID("job_"), Status: jobtype.StatusQueued, Attempt: 0,
			CreatedAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour),
		},
		input: input, key: key, streamToken: randomID("st_"),
	}
	f.jobs[fj.job.ID] = fj
	f.order = append(f.order, fj.job.ID)
	f.applyLocked(fj, jobtype.Event{Type: jobtype.EventStatus, Status: jobtype.StatusQueued})
	return fj.job.ID
}

// emit appends an event to the job's log, as the worker would.
func (f *fakeServer) emit(id string, ev jobtype.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fj, ok := f.jobs[id]
	if !ok {
		f.t.Errorf("emit: no job %s", id)
		return
	}
	f.applyLocked(fj, ev)
}

func (f *fakeServer) applyLocked(fj *fakeJob, ev jobtype.Event) {
	j := &fj.job
	now := time.Now().UTC()
	j.Seq++
	ev.Seq, ev.JobID, ev.At = j.Seq, j.ID, now
	switch ev.Type {
	case jobtype.EventStatus:
		j.Status, j.RetryAt = ev.Status, ev.RetryAt
		if ev.Attempt > 0 {
			j.Attempt = ev.Attempt
		}
		if ev.Status == jobtype.StatusWorking && j.StartedAt == nil {
			j.StartedAt = &now
		}
	case jobtype.EventProgress:
		j.Progress = max(j.Progress, ev.Progress)
	case jobtype.EventCompleted:
		j.Status, j.Progress, j.Result, j.Intent = jobtype.StatusCompleted, 100, ev.Result, ev.Intent
	case jobtype.EventFailed:
		j.Status, j.Error, j.Result = jobtype.StatusFailed, ev.Error, ev.Result
	case jobtype.EventCancelled:
		j.Status, j.Error = jobtype.StatusCancelled, ev.Error
	}
	j.Terminal = j.Status.Terminal()
	if j.Terminal {
		j.FinishedAt = &now
		j.RetryAt = nil
	}
	ev.Status, ev.Progress, ev.Terminal = j.Status, j.Progress, ev.Type.Terminal()
	if ev.Attempt == 0 {
		ev.Attempt = j.Attempt
	}
	fj.events = append(fj.events, ev)
	close(f.changed)
	f.changed = make(chan struct{})
}

// script is the rest of a typical successful run after queued (seq 1):
// working (2), progress 40 (3), output (4), progress 80 (5), output (6),
// completed (7).
func script() []jobtype.Event {
	return []jobtype.Event{
		{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1},
		{Type: jobtype.EventProgress, Progress: 40},
		{Type: jobtype.EventOutput, Text: "Hello, "},
		{Type: jobtype.EventProgress, Progress: 80},
		{Type: jobtype.EventOutput, Text: "world."},
		{Type: jobtype.EventCompleted, Intent: jobtype.IntentGeneral, Result: json.RawMessage(
			`{"intent":"general","output":{"answer":"Hello, world."},"text":"Hello, world.","usage_info":{"provider":"offline","model":"offline-1","tokens_in":3,"tokens_out":4,"user_key_used":false}}`)},
	}
}

// snapshot returns the owner's view of a job.
func (f *fakeServer) snapshot(id string) Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	fj := f.jobs[id]
	return Job{Job: fj.job, StreamToken: fj.streamToken}
}

// requestsTo returns the requests received for a path.
func (f *fakeServer) requestsTo(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeServer) submit(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	if len(raw) > 64<<10 {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than 64 KiB", 0)
		return
	}
	var body struct {
		Input           *string `json:"input"`
		UserProvidedKey *string `json:"user_provided_key"`
		RequestID       *string `json:"request_id"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body is not valid JSON", 0)
		return
	}
	if body.Input == nil || strings.TrimSpace(*body.Input) == "" {
		writeError(w, http.StatusUnprocessableEntity, "invalid_input", "input must not be empty", 0)
		return
	}
	if len(*body.Input) > 32<<10 {
		writeError(w, http.StatusRequestEntityTooLarge, "input_too_large", "input is larger than 32 KiB", 0)
		return
	}
	key := ""
	if body.UserProvidedKey != nil {
		key = *body.UserProvidedKey
	}
	reqID := r.Header.Get("Idempotency-Key")
	if body.RequestID != nil {
		reqID = *body.RequestID
	}
	f.mu.Lock()
	status := http.StatusAccepted
	id, seen := f.byReq[reqID]
	if seen && reqID != "" {
		if fj := f.jobs[id]; fj.input != *body.Input || fj.key != key {
			f.mu.Unlock()
			writeError(w, http.StatusConflict, "idempotency_conflict", "this request id was already used with a different body", 0)
			return
		}
		status = http.StatusOK
	} else {
		id = f.addLocked(*body.Input, key)
		if reqID != "" {
			f.byReq[reqID] = id
		}
	}
	fj := f.jobs[id]
	resp := struct {
		Message string `json:"message"`
		Job
	}{"AI request queued for processing", Job{Job: fj.job, StreamToken: fj.streamToken}}
	f.mu.Unlock()
	w.Header().Set("Location", "/api/v1/jobs/"+id)
	writeJSON(w, status, resp)
}

func parseETag(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	return n, err == nil && n >= 0
}

func (f *fakeServer) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	wait := 0
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 60 {
			writeError(w, http.StatusUnprocessableEntity, "invalid_wait", "wait must be 0–60 seconds", 0)
			return
		}
		wait = n
	}
	version, hasVersion := parseETag(r.Header.Get("If-None-Match"))
	if !hasVersion {
		if n, err := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64); err == nil && n >= 0 {
			version, hasVersion = n, true
		}
	}
	deadline := time.NewTimer(time.Duration(wait) * time.Second)
	defer deadline.Stop()
	parked := false
	for {
		f.mu.Lock()
		fj, ok := f.jobs[id]
		var seq int64
		if ok {
			seq = fj.job.Seq
		}
		ch := f.changed
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "job not found", 0)
			return
		}
		if wait == 0 || !hasVersion || seq > version {
			break
		}
		if !parked {
			parked = true
			f.parked <- struct{}{}
		}
		select {
		case <-ch:
			continue
		case <-deadline.C:
		case <-r.Context().Done():
			return
		}
		break
	}
	snap := f.snapshot(id)
	etag := `"` + strconv.FormatInt(snap.Seq, 10) + `"`
	w.Header().Set("ETag", etag)
	if !snap.Terminal {
		w.Header().Set("X-Poll-Interval", "2")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if n, ok := parseETag(inm); ok && n == snap.Seq {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeJSON(w, http.StatusOK, snap)
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := jobtype.Status(q.Get("status"))
	if status != "" && !status.Valid() {
		writeError(w, http.StatusUnprocessableEntity, "invalid_field", "unknown status", 0)
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusUnprocessableEntity, "invalid_field", "limit must be 1–100", 0)
			return
		}
		limit = n
	}
	start := 0
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "c"))
		if err != nil || !strings.HasPrefix(v, "c") || n < 0 {
			writeError(w, http.StatusUnprocessableEntity, "invalid_field", "bad cursor", 0)
			return
		}
		start = n
	}
	f.mu.Lock()
	var all []jobtype.Job
	for _, id := range slices.Backward(f.order) {
		if j := f.jobs[id].job; status == "" || j.Status == status {
			all = append(all, j)
		}
	}
	f.mu.Unlock()
	page := struct {
		Jobs       []jobtype.Job `json:"jobs"`
		NextCursor *string       `json:"next_cursor"`
	}{Jobs: []jobtype.Job{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		page.Jobs = all[start:end]
		if end < len(all) {
			c := "c" + strconv.Itoa(end)
			page.NextCursor = &c
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func (f *fakeServer) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	fj, ok := f.jobs[id]
	switch {
	case !ok:
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "job not found", 0)
		return
	case fj.job.Terminal:
		f.mu.Unlock()
		writeError(w, http.StatusConflict, "job_terminal", "the job has already finished", 0)
		return
	}
	f.applyLocked(fj, jobtype.Event{Type: jobtype.EventCancelled, Error: &jobtype.Error{Code: "cancelled", Message: "cancelled by the user"}})
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, f.snapshot(id))
}

func (f *fakeServer) usage(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jobtype.Usage{
		RequestsUsed: 3, RequestsLimit: 100, RequestsRemaining: 97,
		ResetsAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), TokensIn: 30, TokensOut: 40, UserKeyRequests: 1,
	})
}

func (f *fakeServer) streamToken(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"stream_token": "st_user", "expires_at": time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)})
}

// events is GET /api/v1/jobs/{id}/events: subscribe, replay, follow, end
// after the terminal event.
func (f *fakeServer) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pos, hasPos := int64(0), false
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID must be a non-negative integer", 0)
			return
		}
		pos, hasPos = n, true
	}
	f.mu.Lock()
	fj, ok := f.jobs[id]
	if !ok {
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "job not found", 0)
		return
	}
	if hasPos && fj.job.Terminal && pos >= fj.job.Seq {
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.sseConns++
	drop := 0
	if f.dropAfter != nil {
		drop = f.dropAfter(f.sseConns)
	}
	// Subscribe (take the change channel) and read the backlog under one
	// lock: nothing is missed between the two, nothing is sent twice.
	ch := f.changed
	var backlog []jobtype.Event
	switch {
	case !hasPos:
		snap := fj.job
		backlog = []jobtype.Event{{JobID: id, Seq: snap.Seq, Type: jobtype.EventSnapshot, Terminal: snap.Terminal, At: time.Now().UTC(), Status: snap.Status, Progress: snap.Progress, Job: &snap}}
	case pos < fj.trimmed:
		snap := fj.job
		backlog = []jobtype.Event{{JobID: id, Seq: snap.Seq, Type: jobtype.EventResync, Terminal: snap.Terminal, At: time.Now().UTC(), Status: snap.Status, Progress: snap.Progress, Job: &snap}}
	default:
		for _, ev := range fj.events {
			if ev.Seq > pos {
				backlog = append(backlog, ev)
			}
		}
	}
	cursor := fj.job.Seq
	f.mu.Unlock()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "retry: 2000\n\n")
	sent := 0
	send := func(evs []jobtype.Event) (done bool) {
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", ev.Seq, b)
			sent++
			if ev.Terminal {
				_ = rc.Flush()
				return true
			}
			if drop > 0 && sent >= drop {
				_ = rc.Flush()
				panic(http.ErrAbortHandler) // cut the connection, as a network would
			}
		}
		return rc.Flush() != nil
	}
	if send(backlog) {
		return
	}
	f.subscribed <- struct{}{}
	hb := time.NewTicker(f.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ch:
			f.mu.Lock()
			var next []jobtype.Event
			for _, ev := range f.jobs[id].events {
				if ev.Seq > cursor {
					next = append(next, ev)
				}
			}
			if len(next) > 0 {
				cursor = next[len(next)-1].Seq
			}
			ch = f.changed
			f.mu.Unlock()
			if send(next) {
				return
			}
		case <-hb.C:
			_, _ = io.WriteString(w, ": hb\n\n")
			_ = rc.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
