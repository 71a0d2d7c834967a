package ai

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultOfflineChunkDelay makes an offline answer take about 3 s.
	DefaultOfflineChunkDelay = 100 * time.Millisecond
	DefaultTimeout           = 2 * time.Minute
)

// Config chooses and configures the provider; New builds it.
type Config struct {
	// Provider is offline, openai or anthropic; default offline.
	Provider string
	// Model is the model asked for; default per provider:
	// DefaultOpenAIModel, DefaultAnthropicModel, "offline-1" (fixed).
	Model string
	// OpenAIBaseURL is the OpenAI-compatible API's base URL; default
	// DefaultOpenAIBaseURL. Set it for vLLM, Ollama, llama.cpp server or
	// LM Studio (e.g. http://localhost:11434/v1).
	OpenAIBaseURL string
	// OpenAIAPIKey is the server's OpenAI key; default none.
	OpenAIAPIKey string
	// AnthropicBaseURL is the Anthropic API's base URL; default
	// DefaultAnthropicBaseURL.
	AnthropicBaseURL string
	// AnthropicAPIKey is the server's Anthropic key; default none.
	AnthropicAPIKey string
	// OfflineChunkDelay is the offline provider's pause between chunks;
	// 0 (or less) means none. `aijobs serve` sets DefaultOfflineChunkDelay.
	OfflineChunkDelay time.Duration
	// Timeout bounds one call to openai or anthropic; 0 means
	// DefaultTimeout, negative means no bound but the caller's context.
	Timeout time.Duration
}

// New builds the provider cfg names. Errors name the Config field at fault
// and never contain a key.
func New(cfg Config) (Provider, error) {
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}
	switch p := strings.ToLower(strings.TrimSpace(cfg.Provider)); p {
	case "", "offline":
		return NewOffline(max(cfg.OfflineChunkDelay, 0)), nil
	case "openai":
		if err := checkURL("OpenAIBaseURL", cfg.OpenAIBaseURL); err != nil {
			return nil, err
		}
		if err := checkKey("OpenAIAPIKey", cfg.OpenAIAPIKey); err != nil {
			return nil, err
		}
		return NewOpenAI(OpenAIConfig{BaseURL: cfg.OpenAIBaseURL, APIKey: cfg.OpenAIAPIKey,
			Model: cfg.Model, Timeout: timeout}), nil
	case "anthropic":
		if err := checkURL("AnthropicBaseURL", cfg.AnthropicBaseURL); err != nil {
			return nil, err
		}
		if err := checkKey("AnthropicAPIKey", cfg.AnthropicAPIKey); err != nil {
			return nil, err
		}
		return NewAnthropic(AnthropicConfig{BaseURL: cfg.AnthropicBaseURL, APIKey: cfg.AnthropicAPIKey,
			Model: cfg.Model, Timeout: timeout}), nil
	default:
		return nil, fmt.Errorf("ai: Config.Provider: unknown provider %q (want offline, openai or anthropic)", cfg.Provider)
	}
}

// checkURL accepts an empty base URL (the default) or an absolute http(s) one.
func checkURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("ai: Config.%s: not a URL", name)
	case u.User != nil:
		return fmt.Errorf("ai: Config.%s: credentials in the URL are not supported; use the API key setting", name)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("ai: Config.%s: %q is not an absolute http or https URL", name, raw)
	}
	return nil
}

// checkKey rejects a server key that would break a request header.
func checkKey(name, key string) error {
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("ai: Config.%s: the key contains spaces or control characters", name)
	}
	return nil
}
