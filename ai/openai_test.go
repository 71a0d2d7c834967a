package ai

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// validGeneral is a model output that Validate accepts for general.
const validGeneral = `{"answer":"Paris is the capital of France.","key_points":["Paris","capital of France"]}`

// openAIChunk is one chat.completion.chunk with a content delta, a
// refusal delta or a finish reason.
func openAIChunk(content, refusal, finish string) string {
	delta := map[string]any{}
	if content != "" {
		delta["content"] = content
	}
	if refusal != "" {
		delta["refusal"] = refusal
	}
	choice := map[string]any{"index": 0, "delta": delta, "finish_reason": nil}
	if finish != "" {
		choice["finish_reason"] = finish
	}
	return jsonString(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
		"model": "gpt-fake", "choices": []any{choice},
	})
}

// openAIStream answers with parts as content deltas, then finish, a usage
// chunk and [DONE].
func openAIStream(parts []string, refusal, finish string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		for _, p := range parts {
			writeEvent(w, "", openAIChunk(p, "", ""))
		}
		if refusal != "" {
			writeEvent(w, "", openAIChunk("", refusal, ""))
		}
		writeEvent(w, "", openAIChunk("", "", finish))
		writeEvent(w, "", jsonString(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-fake",
			"choices": []any{}, "usage": map[string]any{"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
		}))
		writeEvent(w, "", "[DONE]")
	}
}

// openAIErrorReply answers with status, header and an OpenAI error body
// that echoes the key the request carried, as some servers do.
func openAIErrorReply(status int, header map[string]string, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(jsonString(map[string]any{"error": map[string]any{
			"message": "Incorrect API key provided: " + key, "type": "invalid_request_error", "param": nil, "code": code,
		}})))
	}
}

// newOpenAITest starts a fake OpenAI server and a provider pointed at it.
func newOpenAITest(t *testing.T, handle http.HandlerFunc, timeout time.Duration) (*fakeServer, Provider) {
	t.Helper()
	f := newFake(t, "/v1/chat/completions", handle)
	return f, NewOpenAI(OpenAIConfig{BaseURL: f.URL + "/v1", APIKey: serverKey, Model: "gpt-test", Timeout: timeout})
}

func TestOpenAIStreamsValidatesAndCountsUsage(t *testing.T) {
	t.Parallel()
	parts := splitN(validGeneral, 8)
	f, p := newOpenAITest(t, openAIStream(parts, "", "stop"), 0)
	emit, got := collect()
	resp, err := p.Generate(context.Background(), Request{Input: "capital of France?", Intent: jobs.IntentGeneral}, emit)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if strings.Join(*got, "|") != strings.Join(parts, "|") {
		t.Errorf("emitted %q, want the streamed parts %q in order", *got, parts)
	}
	if resp.Text != validGeneral {
		t.Errorf("Text = %q, want %q", resp.Text, validGeneral)
	}
	if _, err := Validate(jobs.IntentGeneral, resp.Text); err != nil {
		t.Errorf("the streamed text does not validate: %v", err)
	}
	if resp.TokensIn != 42 || resp.TokensOut != 17 || resp.Model != "gpt-fake" {
		t.Errorf("usage = in %d out %d model %q, want 42, 17, gpt-fake (from the stream)", resp.TokensIn, resp.TokensOut, resp.Model)
	}

	body := f.last(t).body
	if body["stream"] != true || body["model"] != "gpt-test" {
		t.Errorf("request stream=%v model=%v, want true and gpt-test", body["stream"], body["model"])
	}
	so, _ := body["stream_options"].(map[string]any)
	if so["include_usage"] != true {
		t.Errorf("stream_options = %v, want include_usage true", body["stream_options"])
	}
	rf, _ := body["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["strict"] != true || js["name"] != "general" || js["schema"] == nil {
		t.Errorf("response_format = %v, want a strict json_schema named general", rf)
	}
	if got := f.last(t).sentKey(); got != serverKey {
		t.Errorf("sent key %q, want the server's", got)
	}
}

func TestOpenAIUserKeyReplacesServerKey(t *testing.T) {
	t.Parallel()
	f, p := newOpenAITest(t, openAIStream([]string{validGeneral}, "", "stop"), 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi", Intent: jobs.IntentGeneral, APIKey: userKey}, func(string) {})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := f.last(t).sentKey(); got != userKey {
		t.Errorf("sent key %q, want the user's %q", got, userKey)
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	testStatusErrors(t, openAIErrorReply, func(t *testing.T, handle http.HandlerFunc) Provider {
		_, p := newOpenAITest(t, handle, 0)
		return p
	}, []statusCase{
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "2"}, "rate_limit_exceeded", "rate_limited", true, 2 * time.Second},
		{"429 out of quota", 429, nil, "insufficient_quota", "rate_limited", false, 0},
		{"500", 500, nil, "", "provider_error", true, 0},
		{"503", 503, nil, "", "provider_error", true, 0},
		{"401", 401, nil, "invalid_api_key", "invalid_api_key", false, 0},
		{"403", 403, nil, "", "invalid_api_key", false, 0},
		{"400", 400, nil, "", "bad_request", false, 0},
		{"404 model", 404, nil, "model_not_found", "bad_request", false, 0},
	})
}

func TestOpenAICancelledMidStream(t *testing.T) {
	t.Parallel()
	_, p := newOpenAITest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "", openAIChunk(`{"answer":`, "", ""))
		<-r.Context().Done() // a model that stalls
	}, 0)
	wantCancelledQuickly(t, func(ctx context.Context, emit func(string)) error {
		_, err := p.Generate(ctx, Request{Input: "hi"}, emit)
		return err
	})
}

func TestOpenAITimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	_, p := newOpenAITest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		<-r.Context().Done()
	}, 200*time.Millisecond)
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	wantError(t, err, "timeout", true)
}

func TestOpenAIRefusal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, refusal, finish string }{
		{"refusal delta", "I can't help with that.", "stop"},
		{"content filter", "", "content_filter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, p := newOpenAITest(t, openAIStream(nil, tt.refusal, tt.finish), 0)
			_, err := p.Generate(context.Background(), Request{Input: "something bad"}, func(string) {})
			e := wantError(t, err, "refused", false)
			if !strings.Contains(e.Message, tt.refusal) {
				t.Errorf("message %q does not carry the refusal %q", e.Message, tt.refusal)
			}
		})
	}
}

func TestOpenAIStreamErrorEvent(t *testing.T) {
	t.Parallel()
	_, p := newOpenAITest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "", openAIChunk(`{"answer":`, "", ""))
		writeEvent(w, "", `{"error":{"message":"server overloaded for key `+userKey+`","type":"server_error"}}`)
	}, 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi", APIKey: userKey}, func(string) {})
	e := wantError(t, err, "provider_error", true)
	wantNoSecret(t, err, userKey)
	if e.Usage.Text != `{"answer":` {
		t.Errorf("Usage.Text = %q, want the part streamed before the error", e.Usage.Text)
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	t.Parallel()
	f := newFake(t, "/v1/chat/completions", openAIStream(nil, "", "stop"))
	url := f.URL
	f.Close()
	p := NewOpenAI(OpenAIConfig{BaseURL: url + "/v1", APIKey: serverKey})
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	e := wantError(t, err, "connection_error", true)
	if strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("message %q shows the provider's address to users", e.Message)
	}
}

func TestOpenAIKeyRules(t *testing.T) {
	t.Parallel()
	if !NewOpenAI(OpenAIConfig{}).NeedsKey() {
		t.Error("api.openai.com: NeedsKey = false, want true")
	}
	_, err := NewOpenAI(OpenAIConfig{}).Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	wantError(t, err, "invalid_api_key", false)
	if NewOpenAI(OpenAIConfig{BaseURL: "http://localhost:11434/v1"}).NeedsKey() {
		t.Error("a local server: NeedsKey = true, want false")
	}
}

// TestOpenAIIgnoresEnvironmentKey is not parallel: it sets OPENAI_API_KEY.
func TestOpenAIIgnoresEnvironmentKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment-123456")
	f := newFake(t, "/v1/chat/completions", openAIStream([]string{validGeneral}, "", "stop"))
	p := NewOpenAI(OpenAIConfig{BaseURL: f.URL + "/v1"}) // a keyless local server
	if _, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := f.last(t).sentKey(); got != "" {
		t.Errorf("sent key %q, want none: the environment must not choose the key", got)
	}
}

func TestOpenAIStreamCutShort(t *testing.T) {
	t.Parallel()
	_, p := newOpenAITest(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeEvent(w, "", openAIChunk(`{"answer":"Par`, "", ""))
	}, 0)
	_, err := p.Generate(context.Background(), Request{Input: "hi"}, func(string) {})
	e := wantError(t, err, "connection_error", true)
	if e.Usage.Text != `{"answer":"Par` {
		t.Errorf("Usage.Text = %q, want the partial output", e.Usage.Text)
	}
}

func TestOpenAISendsFeedback(t *testing.T) {
	t.Parallel()
	f, p := newOpenAITest(t, openAIStream([]string{validGeneral}, "", "stop"), 0)
	req := Request{Input: "hi", Intent: jobs.IntentGeneral, Feedback: "$.key_points: required field is missing"}
	if _, err := p.Generate(context.Background(), req, func(string) {}); err != nil {
		t.Fatal(err)
	}
	msgs := jsonString(f.last(t).body["messages"])
	if !strings.Contains(msgs, "required field is missing") || !strings.Contains(msgs, "hi") {
		t.Errorf("messages %s carry neither the input nor the feedback", msgs)
	}
}

// TestOpenAIErrorEchoesTruncatedKey: a server that echoes a piece of the
// key it got, without the sk- that the token rule would catch, has that
// piece removed from the error — the user's key and the server's.
func TestOpenAIErrorEchoesTruncatedKey(t *testing.T) {
	t.Parallel()
	for _, reqKey := range []string{userKey, ""} {
		_, p := newOpenAITest(t, func(w http.ResponseWriter, r *http.Request) {
			key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(jsonString(map[string]any{"error": map[string]any{
				"message": "Bad key ..." + key[5:17] + "... for this model", "type": "invalid_request_error",
			}})))
		}, 0)
		_, err := p.Generate(context.Background(), Request{Input: "hi", APIKey: reqKey}, func(string) {})
		e := wantError(t, err, "bad_request", false)
		key := cmp.Or(reqKey, serverKey)
		if strings.Contains(e.Message, key[5:13]) || !strings.Contains(e.Message, "Bad key ...[REDACTED]... for this model") {
			t.Errorf("key %q: message %q, want the echoed piece redacted", key, e.Message)
		}
	}
}
