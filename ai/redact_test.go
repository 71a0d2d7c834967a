package ai

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     string
		secrets []string
		want    string
	}{
		{"no secret", "plain message", nil, "plain message"},
		{"every occurrence", "key abc123xyz456 and abc123xyz456 again", []string{"abc123xyz456"}, "key [REDACTED] and [REDACTED] again"},
		{"empty secret ignored", "nothing here", []string{""}, "nothing here"},
		{"longest first", "token longsecret-extra", []string{"longsecret", "longsecret-extra"}, "token [REDACTED]"},
		{"several secrets", "a=one-secret b=two-secret", []string{"one-secret", "two-secret"}, "a=[REDACTED] b=[REDACTED]"},
		{"sk token", "Incorrect API key provided: sk-proj-abcdefgh12345.", nil, "Incorrect API key provided: [REDACTED]."},
		{"masked sk token", "key sk-proj-********************abcd is wrong", nil, "key [REDACTED] is wrong"},
		{"anthropic sk token", "x-api-key sk-ant-api03-AbCdEfGh_ij", nil, "x-api-key [REDACTED]"},
		{"short sk- kept", "the sk-abc option", nil, "the sk-abc option"},
		{"sk- inside a word kept", "disk-abcdefghijkl", nil, "disk-abcdefghijkl"},
		{"sk token at the end", "key=sk-0123456789", nil, "key=[REDACTED]"},
	}
	for _, tt := range tests {
		if got := Redact(tt.msg, tt.secrets...); got != tt.want {
			t.Errorf("%s: Redact(%q, %q) = %q, want %q", tt.name, tt.msg, tt.secrets, got, tt.want)
		}
	}
}

func TestValidKeyShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"sk-proj-abcdefghijklmnop", true},
		{strings.Repeat("a", MinKeyLen), true},
		{strings.Repeat("a", MaxKeyLen), true},
		{strings.Repeat("a", MinKeyLen-1), false},
		{strings.Repeat("a", MaxKeyLen+1), false},
		{"sk-proj abcdefghijklmnop", false},
		{"sk-proj-abcdefghijklmnop\n", false},
		{"sk-proj-abcdefghijklmnopé", false},
		{"sk-proj-abcdefghij\x00klmnop", false},
		{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidKeyShape(tt.key); got != tt.want {
			t.Errorf("ValidKeyShape(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"absent", nil, 0},
		{"seconds", map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date", map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"milliseconds win", map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, 250 * time.Millisecond},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"huge is capped", map[string]string{"Retry-After": "99999999999999"}, maxRetryAfter},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("%s: retryAfter(%v) = %v, want %v", tt.name, tt.header, got, tt.want)
		}
	}
}
