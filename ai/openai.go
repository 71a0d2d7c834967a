package ai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"
)

// The OpenAI provider's defaults.
const (
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	DefaultOpenAIModel   = "gpt-5.4-mini"
)

// OpenAIConfig configures NewOpenAI.
type OpenAIConfig struct {
	// BaseURL is the Chat Completions API's base URL, the part before
	// /chat/completions; default DefaultOpenAIBaseURL. Any compatible
	// server works: vLLM (http://host:8000/v1), Ollama
	// (http://localhost:11434/v1), llama.cpp server, LM Studio.
	BaseURL string
	// APIKey is the server's key; empty means none. A request's own
	// APIKey replaces it for that request.
	APIKey string
	// Model is the model asked for; default DefaultOpenAIModel.
	Model string
	// Timeout bounds one Generate call; 0 means only the caller's context.
	Timeout time.Duration
	// HTTPClient, when set, replaces the SDK's default HTTP client.
	HTTPClient *http.Client
}

// openAI is the provider for OpenAI-compatible Chat Completions.
type openAI struct {
	cfg    OpenAIConfig
	client openai.Client
}

// NewOpenAI returns the provider for OpenAI and every OpenAI-compatible
// Chat Completions endpoint, through the official SDK: it streams, asks for
// strict JSON-Schema structured output (response_format) and for usage
// (stream_options.include_usage), and leaves retries to the job system
// (the SDK's own are off). A key is needed only for api.openai.com; local
// servers are called without one when neither the server nor the request
// has a key. Failures are *Error, with keys redacted from every message.
func NewOpenAI(cfg OpenAIConfig) Provider {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultOpenAIBaseURL
	}
	if cfg.Model == "" {
		cfg.Model = DefaultOpenAIModel
	}
	opts := []option.RequestOption{option.WithBaseURL(cfg.BaseURL), option.WithMaxRetries(0)}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &openAI{cfg: cfg, client: openai.NewClient(opts...)}
}

// Name is "openai".
func (p *openAI) Name() string { return "openai" }

// Model is the configured model.
func (p *openAI) Model() string { return p.cfg.Model }

// NeedsKey is true for api.openai.com, false for other servers.
func (p *openAI) NeedsKey() bool {
	u, err := url.Parse(p.cfg.BaseURL)
	return err != nil || strings.EqualFold(u.Hostname(), "api.openai.com")
}

// HasServerKey reports whether a server key is configured.
func (p *openAI) HasServerKey() bool { return p.cfg.APIKey != "" }

// serverKey is the server's key, for RedactorFor.
func (p *openAI) serverKey() string { return p.cfg.APIKey }

// Generate streams one chat completion.
func (p *openAI) Generate(ctx context.Context, req Request, emit func(chunk string)) (Response, error) {
	emit = orDiscard(emit)
	key, userKey := req.APIKey, req.APIKey != ""
	if !userKey {
		key = p.cfg.APIKey
	}
	if key == "" && p.NeedsKey() {
		return Response{}, noKey("openai")
	}
	red := RedactorFor(p, req.APIKey)
	callCtx, cancel := withTimeout(ctx, p.cfg.Timeout)
	defer cancel()

	var httpResp *http.Response
	// An explicit key, even empty, keeps OPENAI_API_KEY from the environment out.
	opts := []option.RequestOption{option.WithAPIKey(key), option.WithResponseInto(&httpResp)}
	if userKey { // the server's organization and project are not the user's
		opts = append(opts, option.WithHeaderDel("OpenAI-Organization"), option.WithHeaderDel("OpenAI-Project"))
	}
	stream := p.client.Chat.Completions.NewStreaming(callCtx, p.params(req), opts...)
	defer stream.Close()

	resp := Response{Model: p.cfg.Model}
	var text, refusal strings.Builder
	finish := ""
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Model != "" {
			resp.Model = chunk.Model
		}
		if chunk.JSON.Usage.Valid() {
			resp.TokensIn, resp.TokensOut = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue
			}
			if c.Delta.Content != "" {
				text.WriteString(c.Delta.Content)
				emit(c.Delta.Content)
			}
			refusal.WriteString(c.Delta.Refusal)
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	resp.Text = text.String()
	if err := stream.Err(); err != nil || ctx.Err() != nil {
		return Response{}, p.classify(ctx, callCtx, err, httpResp, red, resp)
	}
	estimateUsage(&resp, req)
	if finish == "" && refusal.Len() == 0 {
		return Response{}, incomplete("openai", resp)
	}
	if refusal.Len() > 0 || finish == "content_filter" {
		return Response{}, refused("openai", refusal.String(), red, resp)
	}
	return resp, nil
}

// params is the Chat Completions request for req.
func (p *openAI) params(req Request) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: shared.ChatModel(p.cfg.Model),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(SystemPrompt(req.Intent)),
			openai.UserMessage(userPrompt(req)),
		},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   schemaName(req.Intent),
					Strict: openai.Bool(true),
					Schema: Schema(req.Intent),
				},
			},
		},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
}

// classify turns a failed stream into the caller's context error or an *Error.
func (p *openAI) classify(ctx, callCtx context.Context, err error, httpResp *http.Response, red *Redactor, partial Response) error {
	if ctx.Err() != nil {
		return transportError(ctx, callCtx, "openai", err, red)
	}
	var e *Error
	var apiErr *openai.Error
	var streamErr *ssestream.StreamError
	switch {
	case errors.As(err, &apiErr):
		var header http.Header
		if apiErr.Response != nil {
			header = apiErr.Response.Header
		}
		e = statusError("openai", apiErr.StatusCode, header, apiErr.Message, red)
		if apiErr.Code == "insufficient_quota" { // billing, not a passing limit
			e.Retryable, e.RetryAfter = false, 0
		}
	case httpResp != nil && httpResp.StatusCode >= 400:
		e = statusError("openai", httpResp.StatusCode, httpResp.Header, "", red)
	case errors.As(err, &streamErr): // an error event inside a 200 stream
		var body struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal([]byte(streamErrorJSON(streamErr.Event.Data)), &body)
		e = &Error{Code: "provider_error", Retryable: true,
			Message: red.Message(strings.TrimSpace("openai: error in the stream: " + body.Message))}
	default:
		return withUsage(transportError(ctx, callCtx, "openai", err, red), partial)
	}
	return withUsage(e, partial)
}

// streamErrorJSON is the "error" member of an OpenAI stream event's data.
func streamErrorJSON(data []byte) string {
	var event struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &event) != nil {
		return ""
	}
	return string(event.Error)
}
