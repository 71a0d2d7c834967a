package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

// jobView is a job as its owner sees it: the snapshot and a stream token.
type jobView struct {
	jobs.Job
	StreamToken string `json:"stream_token,omitempty"`
}

// view is j for p, with a stream token minted from p's credential.
func (s *Server) view(p auth.Principal, j jobs.Job) jobView {
	tok, _ := s.auth.StreamToken(p, j.ID)
	return jobView{Job: j, StreamToken: tok}
}

type submitBody struct {
	Input           *string `json:"input"`
	UserProvidedKey *string `json:"user_provided_key"`
	RequestID       *string `json:"request_id"`
	// WebhookURL absent: the user's default webhook; "": none.
	WebhookURL    *string  `json:"webhook_url"`
	WebhookEvents []string `json:"webhook_events"`
}

// decodeBody reads a JSON body of at most MaxBody bytes into v. Unknown
// fields are ignored.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return jobs.Errorf(jobs.KindTooLarge, "body_too_large", "the request body is larger than %d bytes", s.cfg.MaxBody)
	case err != nil:
		return jobs.Errorf(jobs.KindMalformed, "invalid_json", "could not read the request body")
	case !utf8.Valid(body):
		// JSON is UTF-8; decoding would quietly turn the bad bytes into
		// U+FFFD, changing the input (and its idempotency hash).
		return jobs.Errorf(jobs.KindMalformed, "invalid_json", "the request body is not valid UTF-8")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "field %q must be a %s", typeErr.Field, typeErr.Type.String())
		}
		return jobs.Errorf(jobs.KindMalformed, "invalid_json", "the request body is not valid JSON: %v", err)
	}
	return nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	var body submitBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Input == nil {
		return jobs.Errorf(jobs.KindInvalid, "invalid_input", "input is required")
	}
	req := jobs.SubmitRequest{Input: *body.Input, RequestID: r.Header.Get("Idempotency-Key"),
		WebhookURL: body.WebhookURL, WebhookEvents: body.WebhookEvents}
	if body.UserProvidedKey != nil {
		req.UserKey = *body.UserProvidedKey
	}
	if body.RequestID != nil && *body.RequestID != "" {
		if req.RequestID != "" && req.RequestID != *body.RequestID {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "request_id and the Idempotency-Key header differ")
		}
		req.RequestID = *body.RequestID
	}
	if wait := s.limits.allowSubmit(u.ID); wait > 0 {
		return &jobs.Problem{Kind: jobs.KindLimited, Code: "rate_limited", Message: "too many submits; slow down", RetryAfter: wait}
	}
	job, created, err := s.svc.Submit(r.Context(), u.User, req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusAccepted
	}
	w.Header().Set("Location", "/api/v1/jobs/"+job.ID)
	return writeJSON(w, status, struct {
		Message string `json:"message"`
		jobView
	}{"AI request queued for processing", s.view(u, job)})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(n) || n < 0 || n > 60 {
			return jobs.Errorf(jobs.KindInvalid, "invalid_wait", "wait must be a number of seconds from 0 to 60")
		}
		wait = time.Duration(n * float64(time.Second))
	}
	inm := r.Header.Get("If-None-Match")
	since := int64(-1)
	if seq, ok := parseETag(inm); ok {
		since = seq
	}
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "since must be a non-negative integer")
		}
		since = n
	}
	var snap *jobs.Snapshot
	if wait > 0 && since >= 0 {
		// A long-poll holds a connection: it takes one of the user's
		// stream slots until it answers (or the client goes).
		release, err := s.openStream(u.ID, StreamLongPoll)
		if err != nil {
			return err
		}
		defer release()
		// It ends early, with a 401, when u's credential is revoked or
		// expires meanwhile.
		ctx, unhold := s.auth.Hold(r.Context(), u)
		snap, err = s.svc.Wait(ctx, u.ID, id, since, wait)
		if ended := auth.Ended(ctx); ended != nil {
			err = ended
		}
		unhold()
		if err != nil {
			return err
		}
	} else {
		snap, err = s.svc.Snapshot(r.Context(), u.ID, id)
	}
	if err != nil {
		return err
	}
	job := &snap.Job
	h := w.Header()
	h["Etag"] = []string{`"` + strconv.FormatInt(job.Seq, 10) + `"`}
	h["Cache-Control"] = []string{"private, no-cache"}
	if !job.Terminal {
		h["X-Poll-Interval"] = []string{strconv.Itoa(int(s.cfg.PollInterval / time.Second))}
	}
	if etagMatch(inm, job.Seq) {
		s.obs.NotModified(wait > 0 && since >= 0)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	tok, _ := s.auth.StreamToken(u, job.ID)
	head, tail, err := viewJSON(snap, tok)
	if err != nil {
		return err
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(head) + len(tail))}
	w.WriteHeader(http.StatusOK)
	if _, err = w.Write(head); err == nil {
		_, err = w.Write(tail)
	}
	return err
}

// viewJSON is the encoding of jobView{snap.Job, tok} with a newline, as
// json.Encoder writes it, in two parts: head, the snapshot's shared
// encoding (not to be modified) up to its closing brace, and tail, the
// rest.
func viewJSON(snap *jobs.Snapshot, tok string) (head, tail []byte, err error) {
	enc, err := snap.JSON()
	if err != nil {
		return nil, nil, err
	}
	head = enc[:len(enc)-1]
	if tok == "" {
		return head, []byte("}\n"), nil
	}
	tail = make([]byte, 0, len(`,"stream_token":""}`)+len(tok)+1)
	tail = append(tail, `,"stream_token":`...)
	if tail, err = appendJSONString(tail, tok); err != nil {
		return nil, nil, fmt.Errorf("encode stream token: %w", err)
	}
	return head, append(tail, "}\n"...), nil
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
// A stream token is base64url with a prefix: it needs no escaping, so the
// common case costs no encoder.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, err := json.Marshal(s)
			return append(b, quoted...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// parseETag reads the seq out of an If-None-Match of the form "7" or W/"7".
func parseETag(h string) (int64, bool) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "W/")
	if len(h) < 3 || h[0] != '"' || h[len(h)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(h[1:len(h)-1], 10, 64)
	return n, err == nil && n >= 0
}

func etagMatch(inm string, seq int64) bool {
	for _, part := range strings.Split(inm, ",") {
		if n, ok := parseETag(part); ok && n == seq {
			return true
		}
	}
	return false
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	return s.writeJobs(w, r, u.ID, func(j jobs.Job) any { return jobView{Job: j} })
}

// writeJobs answers a page of a user's jobs (?status, ?limit, ?cursor),
// each shown by view.
func (s *Server) writeJobs(w http.ResponseWriter, r *http.Request, userID string, view func(jobs.Job) any) error {
	var err error
	q := r.URL.Query()
	req := jobs.ListRequest{Status: jobs.Status(q.Get("status")), Cursor: q.Get("cursor")}
	if req.Cursor != "" && !validJobID(req.Cursor) {
		return jobs.Errorf(jobs.KindInvalid, "invalid_field", "cursor is not valid (its job may have expired)")
	}
	if v := q.Get("limit"); v != "" {
		if req.Limit, err = strconv.Atoi(v); err != nil || req.Limit == 0 {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "limit must be between 1 and 100")
		}
	}
	list, next, err := s.svc.List(r.Context(), userID, req)
	if err != nil {
		return err
	}
	views := make([]any, len(list))
	for i, j := range list {
		views[i] = view(j)
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	return writeJSON(w, http.StatusOK, map[string]any{"jobs": views, "next_cursor": cursor})
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	job, err := s.svc.Cancel(r.Context(), u.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.view(u, job))
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	usage, err := s.svc.Usage(r.Context(), u.User)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, usage)
}

func (s *Server) streamToken(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	tok, exp := s.auth.StreamToken(u, "")
	return writeJSON(w, http.StatusOK, map[string]any{"stream_token": tok, "expires_at": exp.UTC().Format(time.RFC3339)})
}

// parsePosition reads a stream position from Last-Event-ID or ?after=
// (-1 when there is none).
func parsePosition(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, jobs.Errorf(jobs.KindMalformed, "invalid_last_event_id", "Last-Event-ID (or after) must be a non-negative integer, got %s", strconv.Quote(fmt.Sprint(v)))
	}
	return n, nil
}
