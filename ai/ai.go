// Package ai is the AI step of a job: it classifies the input's intent, asks
// a provider for intent-specific structured output, streams it and validates
// it. Each provider lives in its own file behind the Provider interface.
package ai

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// Request is one call to a model.
type Request struct {
	// Input is the user's text.
	Input string
	// Intent selects the system prompt and the output schema.
	Intent jobs.Intent
	// APIKey is the user's own key; empty means the server's key.
	APIKey string
	// Feedback, when set, tells the model why its previous output was
	// rejected (one retry after a validation failure).
	Feedback string
	// Attempt is the job's attempt number, 1-based; 0 means unknown. Real
	// providers ignore it; the offline provider's [[offline:flaky]] marker
	// uses it to fail only the first attempt.
	Attempt int
}

// Response is what a model produced.
type Response struct {
	Text      string // the whole output, as streamed
	Model     string // the model that answered
	TokensIn  int64
	TokensOut int64
}

// Provider is a model behind an API. Generate streams the output, calling
// emit with each chunk of text as it arrives, and returns the whole answer.
// It must return promptly when ctx is cancelled, and classify its errors
// with *Error so the worker knows what to retry.
type Provider interface {
	// Name is the provider's name in usage_info: offline, openai, anthropic.
	Name() string
	// Model is the default model's name.
	Model() string
	// NeedsKey reports whether a call needs an API key (the server's or the
	// user's); offline does not.
	NeedsKey() bool
	// HasServerKey reports whether the server has its own key configured.
	HasServerKey() bool
	Generate(ctx context.Context, req Request, emit func(chunk string)) (Response, error)
}

// Error is a classified provider failure.
type Error struct {
	// Code is the job's error.code when this error fails it:
	// invalid_api_key, bad_request, refused, rate_limited, provider_error,
	// timeout, connection_error, invalid_output.
	Code string
	// Retryable errors may succeed on a later attempt.
	Retryable bool
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Message is safe to show to the user: it never contains a key.
	Message string
	// Usage counts tokens the failed call still consumed, if known.
	Usage Response
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// AsError returns the classified error in err's chain; an unclassified error
// is treated as a retryable provider error, since the worker cannot know.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: "timeout", Retryable: true, Message: "the model did not answer in time"}
	}
	return &Error{Code: "provider_error", Retryable: true, Message: "the provider call failed"}
}
