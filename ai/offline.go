package ai

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/jobs"
)

// offlineChunks is how many chunks the offline provider streams an answer in.
const offlineChunks = 30

// offline is the provider that needs no model: see NewOffline.
type offline struct {
	delay time.Duration
}

// NewOffline returns the default provider: deterministic, no network, no
// key. It builds a plausible answer for the request's intent from the
// input's own words (milestones from its key terms, tasks from its list),
// valid against Schema, and streams it in about 30 chunks with chunkDelay
// between them (0: no sleeping). Token counts are estimated as 4 bytes a
// token. It returns promptly, with ctx.Err() wrapped, when ctx ends.
//
// For testing and demonstrating the rest of the system, markers in the
// input (removed before the answer is built) make it misbehave, without
// any state of its own:
//
//   - [[offline:rate_limited]]: fails at once with a retryable *Error,
//     code rate_limited, RetryAfter 1s.
//   - [[offline:fatal]]: fails at once with a non-retryable *Error, code
//     bad_request.
//   - [[offline:refuse]]: fails at once with a non-retryable *Error, code
//     refused.
//   - [[offline:flaky]]: on Request.Attempt 0 or 1, streams half the answer
//     and then fails with a retryable *Error, code provider_error; later
//     attempts succeed.
//   - [[offline:invalid]]: while Request.Feedback is empty, the answer lacks
//     a required field, so Validate rejects it; with feedback it is valid.
//   - [[offline:slow]]: multiplies the chunk delay by 10.
func NewOffline(chunkDelay time.Duration) Provider {
	return &offline{delay: max(0, chunkDelay)}
}

// Name is "offline".
func (o *offline) Name() string { return "offline" }

// Model is "offline-1".
func (o *offline) Model() string { return "offline-1" }

// NeedsKey is false: the offline provider calls nothing.
func (o *offline) NeedsKey() bool { return false }

// HasServerKey is true: no key is ever missing.
func (o *offline) HasServerKey() bool { return true }

// Generate streams the offline answer; see NewOffline.
func (o *offline) Generate(ctx context.Context, req Request, emit func(chunk string)) (Response, error) {
	emit = orDiscard(emit)
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("offline: %w", err)
	}
	input, marks := parseMarkers(req.Input)
	switch {
	case marks["fatal"]:
		return Response{}, &Error{Code: "bad_request", Message: "offline: simulated bad request ([[offline:fatal]])"}
	case marks["rate_limited"]:
		return Response{}, &Error{Code: "rate_limited", Retryable: true, RetryAfter: time.Second,
			Message: "offline: simulated rate limit ([[offline:rate_limited]])"}
	case marks["refuse"]:
		return Response{}, &Error{Code: "refused", Message: "offline: simulated refusal ([[offline:refuse]])"}
	}
	delay := o.delay
	if marks["slow"] {
		delay *= 10
	}
	text := offlineAnswer(req.Intent, input, marks["invalid"] && req.Feedback == "")
	resp := Response{
		Text:     text,
		Model:    o.Model(),
		TokensIn: approxTokens(SystemPrompt(req.Intent)) + approxTokens(req.Input) + approxTokens(req.Feedback),
	}
	chunks := splitChunks(text, offlineChunks)
	failAt := -1
	if marks["flaky"] && req.Attempt <= 1 {
		failAt = len(chunks) / 2
	}
	sent := 0
	for i, chunk := range chunks {
		if i > 0 && delay > 0 {
			if err := sleep(ctx, delay); err != nil {
				return Response{}, fmt.Errorf("offline: %w", err)
			}
		}
		if err := ctx.Err(); err != nil {
			return Response{}, fmt.Errorf("offline: %w", err)
		}
		if i == failAt {
			usage := resp
			usage.Text, usage.TokensOut = text[:sent], approxTokens(text[:sent])
			return Response{}, &Error{Code: "provider_error", Retryable: true, Usage: usage,
				Message: "offline: simulated failure mid-stream on the first attempt ([[offline:flaky]])"}
		}
		emit(chunk)
		sent += len(chunk)
	}
	resp.TokensOut = approxTokens(text)
	return resp, nil
}

// parseMarkers removes the [[offline:name]] markers from input and returns
// the names found.
func parseMarkers(input string) (string, map[string]bool) {
	marks := map[string]bool{}
	for {
		start := strings.Index(input, "[[offline:")
		if start < 0 {
			return input, marks
		}
		end := strings.Index(input[start:], "]]")
		if end < 0 {
			return input, marks
		}
		marks[input[start+len("[[offline:"):start+end]] = true
		input = input[:start] + input[start+end+len("]]"):]
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// splitChunks cuts s into n pieces of about equal length, on rune
// boundaries; fewer when s has fewer than n runes.
func splitChunks(s string, n int) []string {
	runes := utf8.RuneCountInString(s)
	n = min(n, runes)
	if n <= 1 {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	chunks := make([]string, 0, n)
	start, r := 0, 0
	for i := range s {
		if len(chunks) < n-1 && r == (len(chunks)+1)*runes/n {
			chunks = append(chunks, s[start:i])
			start = i
		}
		r++
	}
	return append(chunks, s[start:])
}

// approxTokens estimates the tokens of s: about 4 bytes a token.
func approxTokens(s string) int64 {
	return int64(len(s)+3) / 4
}

// offlineAnswer builds the answer for intent from input; invalid leaves
// out the last field so that validation fails.
func offlineAnswer(intent jobs.Intent, input string, invalid bool) string {
	topic, words := summarize(input)
	var fields []field
	switch intent {
	case jobs.IntentSmartGoal:
		fields = smartGoalAnswer(topic, words)
	case jobs.IntentPrioritization:
		fields = prioritizationAnswer(input, topic)
	default:
		fields = generalAnswer(topic, words)
	}
	if invalid {
		fields = fields[:len(fields)-1]
	}
	return renderObject(fields, "")
}
