package ai

import (
	"slices"
	"strings"
)

// redacted replaces a secret in a message.
const redacted = "[REDACTED]"

// minSKTokenLen is how many characters after "sk-" make a token look like
// an API key (OpenAI sk-…, sk-proj-…, Anthropic sk-ant-…).
const minSKTokenLen = 8

// Redact returns msg with every occurrence of each non-empty secret, and
// every token that looks like an API key ("sk-" followed by at least 8
// letters, digits, '-', '_' or '*', as in a provider's masked
// "sk-proj-****abcd"), replaced by [REDACTED]. Longer secrets are replaced
// first, so a secret that contains another is removed whole.
func Redact(msg string, secrets ...string) string {
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, s := range sorted {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return redactSKTokens(msg)
}

// redactSKTokens replaces the "sk-…" tokens of msg.
func redactSKTokens(msg string) string {
	var b strings.Builder
	rest := msg
	for {
		i := strings.Index(rest, "sk-")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		end := i + len("sk-")
		for end < len(rest) && isKeyChar(rest[end]) {
			end++
		}
		startsToken := i == 0 || !isKeyChar(rest[i-1])
		if startsToken && end-i-len("sk-") >= minSKTokenLen {
			b.WriteString(rest[:i])
			b.WriteString(redacted)
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
}

// isKeyChar reports whether c can be part of an API key token.
func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '*'
}

// The bounds of a user-provided key's length.
const (
	MinKeyLen = 20
	MaxKeyLen = 256
)

// ValidKeyShape reports whether key could be an API key a user brings: 20
// to 256 characters, each printable ASCII other than space (0x21–0x7E). It
// says nothing about whether the provider accepts the key; it keeps
// garbage, whitespace and header-breaking bytes out of requests.
func ValidKeyShape(key string) bool {
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}
