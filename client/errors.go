package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// Error is an error answer of the aijobs API: the HTTP status, the
// machine-readable code and the message for humans from the body
// {"error": "…", "code": "…"}, and, for 429 and 503, how long the server asked
// the caller to wait (Retry-After).
//
// Match it with errors.Is against the sentinels of this package
// (ErrNotFound, ErrQuota, …), or get the details with errors.As.
type Error struct {
	// Status is the HTTP status code of the answer.
	Status int
	// Code is the API's machine code, such as "not_found" or
	// "quota_exceeded". It is empty when the answer had no aijobs error body
	// (a proxy's error page, for example).
	Code string
	// Message is the API's message for humans, or the HTTP status text when
	// the body had none.
	Message string
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
}

// Error returns the message, the code and the HTTP status, e.g.
// "job not found (not_found, HTTP 404)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	b.WriteString(" (")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(", ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(")")
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	return b.String()
}

// Is reports whether e belongs to target's class when target is one of the
// sentinels of this package, and otherwise whether target is an *Error with
// the same status and code. It lets errors.Is(err, client.ErrNotFound) work
// through any wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	switch t {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrTerminal:
		return e.Code == jobtype.CodeJobTerminal
	case ErrIdempotencyConflict:
		return e.Code == jobtype.CodeIdempotencyConflict
	case ErrQuota:
		return e.Code == jobtype.CodeQuotaExceeded
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests && e.Code != jobtype.CodeQuotaExceeded
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable ||
			e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge ||
			e.Status == http.StatusUnprocessableEntity
	}
	return t.Status == e.Status && t.Code == e.Code
}

// Sentinels for errors.Is. Each matches a class of *Error, by code where the
// API has one code for the case and by status where a status is the class.
var (
	// ErrNotFound matches 404: no such job, or a job of another user.
	ErrNotFound = &Error{Status: http.StatusNotFound, Code: jobtype.CodeNotFound, Message: "job not found"}
	// ErrUnauthorized matches 401: a missing, invalid or expired token.
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Code: jobtype.CodeUnauthorized, Message: "missing or invalid token"}
	// ErrTerminal matches 409 job_terminal: the job has already finished
	// (a cancel that came too late).
	ErrTerminal = &Error{Status: http.StatusConflict, Code: jobtype.CodeJobTerminal, Message: "the job has already finished"}
	// ErrIdempotencyConflict matches 409 idempotency_conflict: the request id
	// was already used with a different body.
	ErrIdempotencyConflict = &Error{Status: http.StatusConflict, Code: jobtype.CodeIdempotencyConflict, Message: "request id already used with a different body"}
	// ErrQuota matches 429 quota_exceeded: the daily request quota on the
	// server's key is spent; RetryAfter says when it resets.
	ErrQuota = &Error{Status: http.StatusTooManyRequests, Code: jobtype.CodeQuotaExceeded, Message: "request quota exceeded"}
	// ErrRateLimited matches every other 429 (rate_limited,
	// too_many_streams): slow down and retry after RetryAfter.
	ErrRateLimited = &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "rate limited"}
	// ErrUnavailable matches 503 (store_unavailable), and 502 and 504 from a
	// proxy in front of the server: retry after RetryAfter.
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: jobtype.CodeStoreUnavailable, Message: "service unavailable"}
	// ErrInvalid matches the answers that say the request itself is wrong and
	// will stay wrong if repeated: 400, 413 and 422 (invalid_input,
	// input_too_large, invalid_key, no_server_key, …).
	ErrInvalid = &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_input", Message: "invalid request"}
)

// maxRetryAfter bounds a Retry-After so a silly value cannot overflow a
// time.Duration.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns zero for a missing or unreadable value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}
