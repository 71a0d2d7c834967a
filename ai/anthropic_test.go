package ai

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// anthropicStream answers with the Messages API's event stream: parts as
// text deltas, then stopReason; an empty stopReason cuts the stream short.
func anthropicStream(parts []string, stopReason string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "message_start", jsonString(map[string]any{"type": "message_start", "message": map[string]any{
			"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-fake", "content": []any{},
			"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 25, "output_tokens": 1},
		}}))
		writeEvent(w, "content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		writeEvent(w, "ping", `{"type":"ping"}`)
		for _, p := range parts {
			writeEvent(w, "content_block_delta", jsonString(map[string]any{
				"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": p},
			}))
		}
		if stopReason == "" {
			return
		}
		writeEvent(w, "content_block_stop", `{"type":"content_block_stop","index":0}`)
		writeEvent(w, "message_delta", jsonString(map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": stopReason, "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": 15},
		}))
		writeEvent(w, "message_stop", `{"type":"message_stop"}`)
	}
}

// anthropicErrorReply answers with status, header and an Anthropic error
// body that echoes the key the request carried.
func anthropicErrorReply(status int, header map[string]string, errType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		key := recorded{header: r.Header}.sentKey()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(jsonString(map[string]any{"type": "error", "error": map[string]any{
			"type": errType, "message": "invalid x-api-key " + key,
		}})))
	}
}

// newAnthropicTest starts a fake Anthropic server and a provider pointed at it.
func newAnthropicTest(t *testing.T, handle http.HandlerFunc, timeout time.Duration) (*fakeServer, Provider) {
	t.Helper()
	f := newFake(t, "/v1/messages", handle)
	return f, NewAnthropic(AnthropicConfig{BaseURL: f.URL, APIKey: serverKey, Model: "claude-test", Timeout: timeout})
}

func TestAnthropicStreamsValidatesAndCountsUsage(t *testing.T) {
	t.Parallel()
	parts := splitN(validGeneral, 8)
	f, p := newAnthropicTest(t, anthropicStream(parts, "end_turn"), 0)
	emit, got := collect()
	resp, err := p.Generate(context.Background(), Request{Input: "capital of France?", Intent: jobs.IntentGeneral}, emit)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if strings.Join(*got, "|") != strings.Join(parts, "|") {
		t.Errorf("emitted %q, want the streamed parts %q in order", *got, parts)
	}
	if _, err := Validate(jobs.IntentGeneral, resp.Text); err != nil {
		t.Errorf("the streamed text does not validate: %v", err)
	}
	if resp.TokensIn != 25 || resp.TokensOut != 15 || resp.Model != "claude-fake" {
		t.Errorf("usage = in %d out %d model %q, want 25, 15, claude-fake (from the stream)", resp.TokensIn, resp.TokensOut, resp.Model)
	}

	req := f.last(t)
	if req.body["stream"] != true || req.body["model"] != "claude-test" || req.body["max_tokens"] != float64(DefaultAnthropicMaxTokens) {
		t.Errorf("request stream=%v model=%v max_tokens=%v, want true, claude-test, %d",
			req.body["stream"], req.body["model"], req.body["max_tokens"], DefaultAnthropicMaxTokens)
	}
	if system := jsonString(req.body["system"]); !strings.Contains(system, "key_points") || !strings.Contains(system, "JSON") {
		t.Errorf("system = %s, want the JSON instruction and the general schema", system)
	}
	if got := req.sentKey(); got != serverKey {
		t.Errorf("sent key %q, want the server's", got)
	}
}

func TestAnthropicUserKeyReplacesServerKey(t *testing.T) {
	t.Parallel()
	f, p := newAnthropicTest(t, anthropicStream([]string{validGeneral}, "end_turn"), 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi", APIKey: userKey}, func(string) {})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := f.last(t).sentKey(); got != userKey {
		t.Errorf("sent key %q, want the user's %q", got, userKey)
	}
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
	testStatusErrors(t, anthropicErrorReply, func(t *testing.T, handle http.HandlerFunc) Provider {
		_, p := newAnthropicTest(t, handle, 0)
		return p
	}, []statusCase{
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "2"}, "rate_limit_error", "rate_limited", true, 2 * time.Second},
		{"529 overloaded", 529, nil, "overloaded_error", "provider_error", true, 0},
		{"500", 500, nil, "api_error", "provider_error", true, 0},
		{"401", 401, nil, "authentication_error", "invalid_api_key", false, 0},
		{"403", 403, nil, "permission_error", "invalid_api_key", false, 0},
		{"400", 400, nil, "invalid_request_error", "bad_request", false, 0},
	})
}

func TestAnthropicErrorEventMidStream(t *testing.T) {
	t.Parallel()
	_, p := newAnthropicTest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\"answer\":"}}`)
		writeEvent(w, "error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}, 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	e := wantError(t, err, "provider_error", true)
	if e.Usage.Text != `{"answer":` {
		t.Errorf("Usage.Text = %q, want the part streamed before the error", e.Usage.Text)
	}
}

func TestAnthropicCancelledMidStream(t *testing.T) {
	t.Parallel()
	_, p := newAnthropicTest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{"}}`)
		<-r.Context().Done()
	}, 0)
	wantCancelledQuickly(t, func(ctx context.Context, emit func(string)) error {
		_, err := p.Generate(ctx, Request{Input: "hi"}, emit)
		return err
	})
}

func TestAnthropicRefusal(t *testing.T) {
	t.Parallel()
	_, p := newAnthropicTest(t, anthropicStream(nil, "refusal"), 0)
	_, err := p.Generate(context.Background(), Request{Input: "something bad"}, func(string) {})
	e := wantError(t, err, "refused", false)
	if e.Usage.TokensIn != 25 {
		t.Errorf("Usage.TokensIn = %d, want 25: a refused call still cost tokens", e.Usage.TokensIn)
	}
}

func TestAnthropicStreamCutShort(t *testing.T) {
	t.Parallel()
	_, p := newAnthropicTest(t, anthropicStream([]string{`{"answer":"Par`}, ""), 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	e := wantError(t, err, "connection_error", true)
	if e.Usage.Text != `{"answer":"Par` {
		t.Errorf("Usage.Text = %q, want the partial output", e.Usage.Text)
	}
}

func TestAnthropicNeedsAKey(t *testing.T) {
	t.Parallel()
	f, _ := newAnthropicTest(t, anthropicStream([]string{validGeneral}, "end_turn"), 0)
	p := NewAnthropic(AnthropicConfig{BaseURL: f.URL})
	if p.HasServerKey() || !p.NeedsKey() {
		t.Errorf("HasServerKey %v NeedsKey %v, want false and true", p.HasServerKey(), p.NeedsKey())
	}
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	wantError(t, err, "invalid_api_key", false)
	if _, err := p.Generate(context.Background(), Request{Input: "hi", APIKey: userKey}, func(string) {}); err != nil {
		t.Errorf("with the user's key: %v", err)
	}
}
