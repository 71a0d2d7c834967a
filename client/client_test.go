package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

func TestSubmit(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	ctx := testCtx(t)

	first, err := c.Submit(ctx, SubmitRequest{Input: "Plan my week", RequestID: "req-1", UserProvidedKey: "sk-user"})
	if err != nil {
		t.Fatalf("first submit: %v", err)
	}
	wantEqual(t, "first.Created", first.Created, true)
	wantEqual(t, "first.Status", first.Status, jobtype.StatusQueued)
	wantEqual(t, "first.Message", first.Message, "AI request queued for processing")
	if !strings.HasPrefix(first.ID, "job_") || !strings.HasPrefix(first.StreamToken, "st_") {
		t.Errorf("first: id %q stream token %q, want job_… and st_…", first.ID, first.StreamToken)
	}

	reqs := f.requestsTo(http.MethodPost, "/api/v1/ai/proxy")
	var sent map[string]any
	if err := json.Unmarshal([]byte(reqs[0].Body), &sent); err != nil {
		t.Fatalf("request body %q: %v", reqs[0].Body, err)
	}
	wantEqual(t, "body", describe(sent), `{"input":"Plan my week","request_id":"req-1","user_provided_key":"sk-user"}`)
	wantEqual(t, "Content-Type", reqs[0].Header.Get("Content-Type"), "application/json")
	wantEqual(t, "User-Agent", reqs[0].Header.Get("User-Agent"), "aijobs-test")

	tests := []struct {
		name        string
		req         SubmitRequest
		wantCreated bool
		wantSameJob bool
		wantErr     error
		wantCode    string
	}{
		{name: "same request id and body returns the job", req: SubmitRequest{Input: "Plan my week", RequestID: "req-1", UserProvidedKey: "sk-user"}, wantSameJob: true},
		{name: "same request id, other body", req: SubmitRequest{Input: "something else", RequestID: "req-1"}, wantErr: ErrIdempotencyConflict, wantCode: "idempotency_conflict"},
		{name: "no request id makes a new job", req: SubmitRequest{Input: "Plan my week"}, wantCreated: true},
		{name: "empty input", req: SubmitRequest{Input: "  "}, wantErr: ErrInvalid, wantCode: "invalid_input"},
		{name: "input too large", req: SubmitRequest{Input: strings.Repeat("x", 33<<10)}, wantErr: ErrInvalid, wantCode: "input_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := c.Submit(ctx, tt.req)
			if tt.wantErr != nil {
				wantErrIs(t, err, tt.wantErr)
				var ae *Error
				if errors.As(err, &ae) {
					wantEqual(t, "code", ae.Code, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			wantEqual(t, "Created", sub.Created, tt.wantCreated)
			wantEqual(t, "same job as the first", sub.ID == first.ID, tt.wantSameJob)
		})
	}
	// Submit carries no body fields when they are empty: null, as documented.
	reqs = f.requestsTo(http.MethodPost, "/api/v1/ai/proxy")
	wantEqual(t, "body without options", reqs[3].Body, `{"input":"Plan my week","user_provided_key":null,"request_id":null}`)
}

func TestUnaryCalls(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	ctx := testCtx(t)
	var ids []string // oldest first
	for _, in := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, f.add(in))
	}
	emitAll(f, ids[1], script()) // b completes

	t.Run("get", func(t *testing.T) {
		job, err := c.Get(ctx, ids[1])
		wantCompleted(t, job, err)
		if job != nil && job.StreamToken == "" {
			t.Error("Get: stream token missing from the owner's view")
		}
	})
	t.Run("get unknown and odd ids", func(t *testing.T) {
		for _, id := range []string{"job_nope", "../../ai/usage", "a b?c#d"} {
			_, err := c.Get(ctx, id)
			wantErrIs(t, err, ErrNotFound)
		}
	})
	t.Run("list pages newest first", func(t *testing.T) {
		var got []string
		opts := &ListOptions{Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("List never ended")
			}
			page, err := c.List(ctx, opts)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			for _, j := range page.Jobs {
				got = append(got, j.ID)
			}
			if page.NextCursor == "" {
				break
			}
			opts.Cursor = page.NextCursor
		}
		wantSlice(t, "listed ids", got, []string{ids[4], ids[3], ids[2], ids[1], ids[0]})
	})
	t.Run("list by status", func(t *testing.T) {
		page, err := c.List(ctx, &ListOptions{Status: jobtype.StatusCompleted})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Jobs) != 1 || page.Jobs[0].ID != ids[1] || page.NextCursor != "" {
			t.Errorf("completed jobs = %s, want only %s and no cursor", describe(page), ids[1])
		}
		_, err = c.List(ctx, &ListOptions{Status: "done"})
		wantErrIs(t, err, ErrInvalid)
		_, err = c.List(ctx, nil)
		if err != nil {
			t.Errorf("List(nil): %v", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		job, err := c.Cancel(ctx, ids[0])
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantEqual(t, "status", job.Status, jobtype.StatusCancelled)
		wantEqual(t, "terminal", job.Terminal, true)
		_, err = c.Cancel(ctx, ids[0])
		wantErrIs(t, err, ErrTerminal)
		_, err = c.Cancel(ctx, ids[1]) // completed
		wantErrIs(t, err, ErrTerminal)
		_, err = c.Cancel(ctx, "job_nope")
		wantErrIs(t, err, ErrNotFound)
	})
	t.Run("usage", func(t *testing.T) {
		u, err := c.Usage(ctx)
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		want := jobtype.Usage{RequestsUsed: 3, RequestsLimit: 100, RequestsRemaining: 97,
			ResetsAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), TokensIn: 30, TokensOut: 40, UserKeyRequests: 1}
		wantEqual(t, "usage", *u, want)
	})
	t.Run("stream token", func(t *testing.T) {
		st, err := c.StreamToken(ctx)
		if err != nil {
			t.Fatalf("StreamToken: %v", err)
		}
		wantEqual(t, "token", st.Token, "st_user")
		wantEqual(t, "expires", st.ExpiresAt, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	})
	t.Run("bad token", func(t *testing.T) {
		bad := New(f.srv.URL, "wrong", nil)
		_, err := bad.Get(ctx, ids[1])
		wantErrIs(t, err, ErrUnauthorized)
		_, err = New(f.srv.URL+"/", "", nil).Usage(ctx)
		wantErrIs(t, err, ErrUnauthorized)
	})
	// The API token only ever travels in the Authorization header.
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.Contains(r.Query, testToken) || strings.Contains(r.Path, testToken) {
			t.Errorf("API token in a URL: %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}

// TestErrorMapping checks that every documented error answer (and a few a
// proxy might give) becomes an *Error that matches exactly the right
// sentinels.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	all := map[string]*Error{
		"ErrNotFound": ErrNotFound, "ErrUnauthorized": ErrUnauthorized, "ErrTerminal": ErrTerminal,
		"ErrIdempotencyConflict": ErrIdempotencyConflict, "ErrQuota": ErrQuota, "ErrRateLimited": ErrRateLimited,
		"ErrUnavailable": ErrUnavailable, "ErrInvalid": ErrInvalid,
	}
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		retryAfter string
		body       string
		want       []string // the sentinels it matches
		wantCode   string
		wantMsg    string
		wantAfter  time.Duration // at least; at most wantAfter+2s
	}{
		{400, "", `{"error":"the body is not valid JSON","code":"invalid_json"}`, []string{"ErrInvalid"}, "invalid_json", "the body is not valid JSON", 0},
		{400, "", `{"error":"bad id","code":"invalid_last_event_id"}`, []string{"ErrInvalid"}, "invalid_last_event_id", "bad id", 0},
		{401, "", `{"error":"missing or invalid token","code":"unauthorized"}`, []string{"ErrUnauthorized"}, "unauthorized", "missing or invalid token", 0},
		{404, "", `{"error":"job not found","code":"not_found"}`, []string{"ErrNotFound"}, "not_found", "job not found", 0},
		{409, "", `{"error":"finished","code":"job_terminal"}`, []string{"ErrTerminal"}, "job_terminal", "finished", 0},
		{409, "", `{"error":"used","code":"idempotency_conflict"}`, []string{"ErrIdempotencyConflict"}, "idempotency_conflict", "used", 0},
		{413, "", `{"error":"too big","code":"body_too_large"}`, []string{"ErrInvalid"}, "body_too_large", "too big", 0},
		{413, "", `{"error":"too big","code":"input_too_large"}`, []string{"ErrInvalid"}, "input_too_large", "too big", 0},
		{422, "", `{"error":"no","code":"invalid_key"}`, []string{"ErrInvalid"}, "invalid_key", "no", 0},
		{422, "", `{"error":"no","code":"no_server_key"}`, []string{"ErrInvalid"}, "no_server_key", "no", 0},
		{422, "", `{"error":"no","code":"invalid_wait"}`, []string{"ErrInvalid"}, "invalid_wait", "no", 0},
		{429, "3600", `{"error":"quota","code":"quota_exceeded"}`, []string{"ErrQuota"}, "quota_exceeded", "quota", time.Hour},
		{429, "7", `{"error":"slow down","code":"rate_limited"}`, []string{"ErrRateLimited"}, "rate_limited", "slow down", 7 * time.Second},
		{429, "1", `{"error":"streams","code":"too_many_streams"}`, []string{"ErrRateLimited"}, "too_many_streams", "streams", time.Second},
		{429, httpDate, `{"error":"slow down","code":"rate_limited"}`, []string{"ErrRateLimited"}, "rate_limited", "slow down", 88 * time.Second},
		{503, "2", `{"error":"down","code":"store_unavailable"}`, []string{"ErrUnavailable"}, "store_unavailable", "down", 2 * time.Second},
		{503, "soon", `{"error":"down","code":"store_unavailable"}`, []string{"ErrUnavailable"}, "store_unavailable", "down", 0},
		{503, "99999999999999999999", `{"error":"down","code":"store_unavailable"}`, []string{"ErrUnavailable"}, "store_unavailable", "down", maxRetryAfter},
		{502, "", `<html>Bad Gateway</html>`, []string{"ErrUnavailable"}, "", "Bad Gateway", 0},
		{504, "", ``, []string{"ErrUnavailable"}, "", "Gateway Timeout", 0},
		{500, "", `{"error":"internal error","code":"internal"}`, nil, "internal", "internal error", 0},
		{418, "", `not json`, nil, "", "I'm a teapot", 0},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode+"_"+http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := New(srv.URL, "t", nil).Get(testCtx(t), "job_x")
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v (%T), want an *Error", err, err)
			}
			wantEqual(t, "Status", ae.Status, tt.status)
			wantEqual(t, "Code", ae.Code, tt.wantCode)
			wantEqual(t, "Message", ae.Message, tt.wantMsg)
			if ae.RetryAfter < tt.wantAfter || ae.RetryAfter > tt.wantAfter+2*time.Second {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tt.wantAfter)
			}
			for name, sentinel := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == name
				}
				if got := errors.Is(err, sentinel); got != want {
					t.Errorf("errors.Is(err, %s) = %v, want %v", name, got, want)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("Error() = %q, want the message %q and the code %q", err.Error(), tt.wantMsg, tt.wantCode)
			}
		})
	}
}

func TestErrorIsOtherErrors(t *testing.T) {
	t.Parallel()
	e := &Error{Status: 409, Code: "job_terminal", Message: "done"}
	wantEqual(t, "Is(same status and code)", errors.Is(e, &Error{Status: 409, Code: "job_terminal"}), true)
	wantEqual(t, "Is(other code)", errors.Is(e, &Error{Status: 409, Code: "other"}), false)
	wantEqual(t, "Is(plain error)", errors.Is(e, errors.New("job_terminal")), false)
	wantEqual(t, "Error()", e.Error(), "done (job_terminal, HTTP 409)")
	e = &Error{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 3 * time.Second}
	wantEqual(t, "Error() with Retry-After", e.Error(), "slow down (rate_limited, HTTP 429); retry after 3s")
}

func TestBadAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"not json", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>login</html>")) }},
		{"truncated", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"job_id":"job_x","status":`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := New(srv.URL, "t", nil).Get(testCtx(t), "job_x")
			var ae *Error
			if err == nil || errors.As(err, &ae) {
				t.Errorf("error = %v, want a decoding error that is not an API *Error", err)
			}
		})
	}
}
