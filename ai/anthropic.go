package ai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// The Anthropic provider's defaults.
const (
	DefaultAnthropicBaseURL   = "https://api.anthropic.com"
	DefaultAnthropicModel     = "claude-haiku-4-5"
	DefaultAnthropicMaxTokens = 4096
)

// AnthropicConfig configures NewAnthropic.
type AnthropicConfig struct {
	// BaseURL is the API's base URL, the part before /v1/messages; default
	// DefaultAnthropicBaseURL.
	BaseURL string
	// APIKey is the server's key; empty means none. A request's own
	// APIKey replaces it for that request.
	APIKey string
	// Model is the model asked for; default DefaultAnthropicModel.
	Model string
	// MaxTokens bounds the answer's length; default DefaultAnthropicMaxTokens.
	MaxTokens int64
	// Timeout bounds one Generate call; 0 means only the caller's context.
	Timeout time.Duration
	// HTTPClient, when set, replaces the SDK's default HTTP client.
	HTTPClient *http.Client
}

// anthropicProvider is the provider for Anthropic's Messages API.
type anthropicProvider struct {
	cfg    AnthropicConfig
	client anthropic.Client
}

// NewAnthropic returns the provider for Anthropic's Messages API, through
// the official SDK: it streams, puts the intent's JSON Schema in the
// system prompt and asks for JSON only, counts usage from message_start
// and message_delta, and leaves retries to the job system (the SDK's own
// are off). It reads nothing from the environment (ANTHROPIC_API_KEY and
// the like): the configuration and the request say which key is used.
// Failures are *Error, with keys redacted from every message.
func NewAnthropic(cfg AnthropicConfig) Provider {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultAnthropicBaseURL
	}
	if cfg.Model == "" {
		cfg.Model = DefaultAnthropicModel
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultAnthropicMaxTokens
	}
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(cfg.BaseURL),
		option.WithMaxRetries(0),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &anthropicProvider{cfg: cfg, client: anthropic.NewClient(opts...)}
}

// Name is "anthropic".
func (p *anthropicProvider) Name() string { return "anthropic" }

// Model is the configured model.
func (p *anthropicProvider) Model() string { return p.cfg.Model }

// NeedsKey is true: every call needs a key.
func (p *anthropicProvider) NeedsKey() bool { return true }

// HasServerKey reports whether a server key is configured.
func (p *anthropicProvider) HasServerKey() bool { return p.cfg.APIKey != "" }

// serverKey is the server's key, for RedactorFor.
func (p *anthropicProvider) serverKey() string { return p.cfg.APIKey }

// Generate streams one message.
func (p *anthropicProvider) Generate(ctx context.Context, req Request, emit func(chunk string)) (Response, error) {
	emit = orDiscard(emit)
	key := req.APIKey
	if key == "" {
		key = p.cfg.APIKey
	}
	if key == "" {
		return Response{}, noKey("anthropic")
	}
	red := RedactorFor(p, req.APIKey)
	callCtx, cancel := withTimeout(ctx, p.cfg.Timeout)
	defer cancel()

	var httpResp *http.Response
	stream := p.client.Messages.NewStreaming(callCtx, anthropic.MessageNewParams{
		Model:     anthropic.Model(p.cfg.Model),
		MaxTokens: p.cfg.MaxTokens,
		System:    []anthropic.TextBlockParam{{Text: SystemPrompt(req.Intent)}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(userPrompt(req)))},
	}, option.WithAPIKey(key), option.WithResponseInto(&httpResp))
	defer stream.Close()

	resp := Response{Model: p.cfg.Model}
	var text strings.Builder
	var stop anthropic.StopReason
	var refusal string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			if ev.Message.Model != "" {
				resp.Model = string(ev.Message.Model)
			}
			u := ev.Message.Usage
			resp.TokensIn = u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
			resp.TokensOut = u.OutputTokens
		case "content_block_delta":
			if ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
				text.WriteString(ev.Delta.Text)
				emit(ev.Delta.Text)
			}
		case "message_delta":
			stop, refusal = ev.Delta.StopReason, ev.Delta.StopDetails.Explanation
			u := ev.Usage
			if in := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens; in > 0 {
				resp.TokensIn = in
			}
			if u.OutputTokens > 0 {
				resp.TokensOut = u.OutputTokens
			}
		}
	}
	resp.Text = text.String()
	if err := stream.Err(); err != nil || ctx.Err() != nil {
		return Response{}, p.classify(ctx, callCtx, err, httpResp, red, resp)
	}
	estimateUsage(&resp, req)
	if stop == "" {
		return Response{}, incomplete("anthropic", resp)
	}
	if stop == anthropic.StopReasonRefusal {
		return Response{}, refused("anthropic", refusal, red, resp)
	}
	return resp, nil
}

// classify turns a failed stream into the caller's context error or an *Error.
func (p *anthropicProvider) classify(ctx, callCtx context.Context, err error, httpResp *http.Response, red *Redactor, partial Response) error {
	if ctx.Err() != nil {
		return transportError(ctx, callCtx, "anthropic", err, red)
	}
	var apiErr *anthropic.Error
	switch {
	case errors.As(err, &apiErr):
		status := apiErr.StatusCode
		if status < 400 { // an error event in a stream that began with 200
			status = anthropicErrorStatus(string(apiErr.Type()))
		}
		var header http.Header
		if apiErr.Response != nil && apiErr.StatusCode >= 400 {
			header = apiErr.Response.Header
		}
		return withUsage(statusError("anthropic", status, header, apiErr.Message, red), partial)
	case httpResp != nil && httpResp.StatusCode >= 400:
		return statusError("anthropic", httpResp.StatusCode, httpResp.Header, "", red)
	}
	return withUsage(transportError(ctx, callCtx, "anthropic", err, red), partial)
}

// anthropicErrorStatus is the HTTP status that goes with an error type
// sent as a stream event, so that it is classified like the status.
func anthropicErrorStatus(errType string) int {
	switch errType {
	case "overloaded_error":
		return statusOverloaded
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusRequestTimeout
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "invalid_request_error", "not_found_error", "billing_error":
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
