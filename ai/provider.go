package ai

import (
	"context"
	"errors"
	"strings"
	"time"
)

// userPrompt is the user message for req: the input and, on the retry
// after a rejected output, why it was rejected.
func userPrompt(req Request) string {
	if req.Feedback == "" {
		return req.Input
	}
	return req.Input + "\n\n---\nA previous answer to this request was rejected: " + req.Feedback +
		"\nReply again with one JSON object that matches the schema and fixes this."
}

// withTimeout bounds ctx by d when d is positive.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// estimateUsage fills in token counts the server did not report, at about
// 4 bytes a token, so that usage is never zero for a call that ran.
func estimateUsage(resp *Response, req Request) {
	if resp.TokensIn == 0 {
		resp.TokensIn = approxTokens(SystemPrompt(req.Intent)) + approxTokens(userPrompt(req))
	}
	if resp.TokensOut == 0 {
		resp.TokensOut = approxTokens(resp.Text)
	}
}

// expectedOutputTokens is what EstimateTokens counts for the answer: the
// structured answers run to a few hundred tokens; settling with the real
// usage corrects the difference.
const expectedOutputTokens = 1024

// EstimateTokens is what a call for req may consume, before it is made: its
// prompts at about 4 bytes a token and a generous answer. Budgets of tokens
// per minute reserve it and settle with the real usage after the call.
func EstimateTokens(req Request) int64 {
	return approxTokens(SystemPrompt(req.Intent)) + approxTokens(userPrompt(req)) + expectedOutputTokens
}

// withUsage records on a classified error what the failed call streamed.
func withUsage(err error, partial Response) error {
	var e *Error
	if errors.As(err, &e) && partial.Text != "" {
		if partial.TokensOut == 0 {
			partial.TokensOut = approxTokens(partial.Text)
		}
		e.Usage = partial
	}
	return err
}

// incomplete is the error of a stream that ended without saying why the
// model stopped: the connection was cut, or the server does not stream.
func incomplete(provider string, partial Response) *Error {
	return &Error{Code: "connection_error", Retryable: true, Usage: partial,
		Message: provider + ": the stream ended before the answer was complete"}
}

// noKey is the error of a call that has no API key to send.
func noKey(provider string) *Error {
	return &Error{Code: "invalid_api_key",
		Message: provider + ": no API key: none is configured on the server and the request brought none"}
}

// refused is the error of a call the model refused; reason is the model's
// explanation, if any, scrubbed by red. usage is what the call still cost.
func refused(provider, reason string, red *Redactor, usage Response) *Error {
	msg := provider + ": the model refused the request"
	if r := strings.TrimSpace(reason); r != "" {
		msg += ": " + r
	}
	return &Error{Code: "refused", Message: red.Message(msg), Usage: usage}
}

// orDiscard is emit, or a function that drops chunks when emit is nil.
func orDiscard(emit func(chunk string)) func(chunk string) {
	if emit == nil {
		return func(string) {}
	}
	return emit
}
