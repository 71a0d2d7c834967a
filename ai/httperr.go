package ai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// statusOverloaded is Anthropic's 529: the API is overloaded for a while.
const statusOverloaded = 529

// maxRetryAfter caps a provider's Retry-After so a bogus value cannot
// overflow or park a job for days.
const maxRetryAfter = 24 * time.Hour

// statusError classifies an HTTP error status from provider (its name in
// messages). detail is the provider's own message, if any; the result's
// Message is scrubbed by red.
func statusError(provider string, status int, header http.Header, detail string, red *Redactor) *Error {
	text := http.StatusText(status)
	if status == statusOverloaded {
		text = "Overloaded"
	}
	e := &Error{Message: fmt.Sprintf("%s: HTTP %d %s", provider, status, text)}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = "invalid_api_key"
		e.Message = fmt.Sprintf("%s rejected the API key (HTTP %d)", provider, status)
	case status == http.StatusTooManyRequests:
		e.Code, e.Retryable = "rate_limited", true
		e.RetryAfter = retryAfter(header, time.Now())
	case status == statusOverloaded:
		e.Code, e.Retryable = "provider_error", true
		e.RetryAfter = retryAfter(header, time.Now())
	case status == http.StatusRequestTimeout:
		e.Code, e.Retryable = "timeout", true
	case status == http.StatusConflict || status >= 500:
		e.Code, e.Retryable = "provider_error", true
	default:
		e.Code = "bad_request"
	}
	if detail = strings.TrimSpace(detail); detail != "" {
		e.Message += ": " + detail
	}
	e.Message = red.Message(e.Message)
	return e
}

// retryAfter reads Retry-After-Ms (OpenAI) or Retry-After, in seconds or
// as an HTTP date; zero when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	var d time.Duration
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		d = time.Duration(min(ms, float64(maxRetryAfter/time.Millisecond))) * time.Millisecond
	} else if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			d = time.Duration(min(secs, maxRetryAfter.Seconds()) * float64(time.Second))
		} else if at, err := http.ParseTime(v); err == nil {
			d = at.Sub(now)
		}
	}
	return max(0, min(d, maxRetryAfter))
}

// transportError classifies an error that is not an HTTP status: the
// caller's cancellation (returned wrapped, unclassified), the call's own
// timeout, and network failures. callCtx is the context of the call, with
// the provider's timeout; ctx is the caller's.
func transportError(ctx, callCtx context.Context, provider string, err error, red *Redactor) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", provider, ctx.Err())
	}
	if callCtx.Err() != nil {
		return &Error{Code: "timeout", Retryable: true,
			Message: fmt.Sprintf("%s did not answer within the configured timeout", provider)}
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return &Error{Code: "timeout", Retryable: true, Message: provider + ": network timeout"}
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{Code: "connection_error", Retryable: true,
			Message: provider + ": connection failed" + netCause(err)}
	}
	return &Error{Code: "provider_error", Retryable: true,
		Message: red.Message(fmt.Sprintf("%s: %v", provider, err))}
}

// netCause describes a network failure without addresses or URLs, which
// would tell users about the operator's network: "dial: connection refused".
func netCause(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		var sysErr *os.SyscallError
		if errors.As(opErr.Err, &sysErr) {
			return fmt.Sprintf(" (%s: %v)", opErr.Op, sysErr.Err)
		}
		var dnsErr *net.DNSError
		if errors.As(opErr.Err, &dnsErr) {
			return fmt.Sprintf(" (%s: cannot resolve the host)", opErr.Op)
		}
		return " (" + opErr.Op + ")"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return " (the connection closed before the answer was complete)"
	}
	return ""
}
