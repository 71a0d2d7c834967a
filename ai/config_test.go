package ai

import (
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		wantName  string
		wantModel string
		serverKey bool
	}{
		{"default is offline", Config{}, "offline", "offline-1", true},
		{"offline, any case", Config{Provider: " Offline "}, "offline", "offline-1", true},
		{"openai defaults", Config{Provider: "openai"}, "openai", DefaultOpenAIModel, false},
		{"openai configured", Config{Provider: "openai", Model: "llama3.2", OpenAIBaseURL: "http://localhost:11434/v1", OpenAIAPIKey: serverKey}, "openai", "llama3.2", true},
		{"anthropic defaults", Config{Provider: "anthropic"}, "anthropic", DefaultAnthropicModel, false},
		{"anthropic configured", Config{Provider: "anthropic", Model: "claude-test", AnthropicAPIKey: serverKey}, "anthropic", "claude-test", true},
	}
	for _, tt := range tests {
		p, err := New(tt.cfg)
		if err != nil {
			t.Errorf("%s: New: %v", tt.name, err)
			continue
		}
		if p.Name() != tt.wantName || p.Model() != tt.wantModel || p.HasServerKey() != tt.serverKey {
			t.Errorf("%s: got %s %s HasServerKey %v, want %s %s %v",
				tt.name, p.Name(), p.Model(), p.HasServerKey(), tt.wantName, tt.wantModel, tt.serverKey)
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		errHas  string
		secrets []string
	}{
		{"unknown provider", Config{Provider: "gemini"}, "Config.Provider", nil},
		{"relative OpenAI URL", Config{Provider: "openai", OpenAIBaseURL: "localhost:11434"}, "Config.OpenAIBaseURL", nil},
		{"ftp Anthropic URL", Config{Provider: "anthropic", AnthropicBaseURL: "ftp://example.com"}, "Config.AnthropicBaseURL", nil},
		{"credentials in URL", Config{Provider: "openai", OpenAIBaseURL: "https://user:hunter2secret@example.com/v1"}, "Config.OpenAIBaseURL", []string{"hunter2secret"}},
		{"key with a newline", Config{Provider: "openai", OpenAIAPIKey: serverKey + "\n"}, "Config.OpenAIAPIKey", []string{serverKey}},
		{"key with a space", Config{Provider: "anthropic", AnthropicAPIKey: "sk-ant abc"}, "Config.AnthropicAPIKey", []string{"sk-ant abc"}},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.errHas)
			continue
		}
		wantNoSecret(t, err, tt.secrets...)
	}
}

func TestNewDurations(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want time.Duration
	}{{0, 0}, {-1, 0}, {5 * time.Millisecond, 5 * time.Millisecond}} {
		p, _ := New(Config{OfflineChunkDelay: tt.in})
		if got := p.(*offline).delay; got != tt.want {
			t.Errorf("OfflineChunkDelay %v: delay %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in, want time.Duration
	}{{0, DefaultTimeout}, {-1, 0}, {time.Second, time.Second}} {
		p, _ := New(Config{Provider: "openai", Timeout: tt.in})
		if got := p.(*openAI).cfg.Timeout; got != tt.want {
			t.Errorf("openai Timeout %v: %v, want %v", tt.in, got, tt.want)
		}
		p, _ = New(Config{Provider: "anthropic", Timeout: tt.in})
		if got := p.(*anthropicProvider).cfg.Timeout; got != tt.want {
			t.Errorf("anthropic Timeout %v: %v, want %v", tt.in, got, tt.want)
		}
	}
}
