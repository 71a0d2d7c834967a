package ai

import (
	"encoding/json"
	"math/rand/v2"
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
		if got := NewRedactor(tt.secrets...).Message(tt.msg); got != tt.want {
			t.Errorf("%s: Message(%q) with keys %q = %q, want %q", tt.name, tt.msg, tt.secrets, got, tt.want)
		}
	}
}

// testKey is a user's key in the redactor tests.
const testKey = "sk-user-SECRET-4f9a8b7c6d5e4f3a2b1c"

func TestRedactorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []string
		text string
		want string
	}{
		{"no keys", nil, "the key is " + testKey, "the key is " + testKey},
		{"whole key", []string{testKey}, "the key is " + testKey + ".", "the key is [REDACTED]."},
		{"truncated, without sk-", []string{testKey}, "Incorrect API key provided: SECRET-4f9a8b7c...", "Incorrect API key provided: [REDACTED]..."},
		{"the last 6 characters stay", []string{testKey}, "key ending in 3a2b1c", "key ending in 3a2b1c"},
		{"the last 8 characters", []string{testKey}, "key ending in 4f3a2b1c!", "key ending in [REDACTED]!"},
		{"8 characters from the middle", []string{testKey}, "x4f9a8b7cx", "x[REDACTED]x"},
		{"7 characters stay", []string{testKey}, "x4f9a8b7x", "x4f9a8b7x"},
		{"two fragments, two markers", []string{testKey}, "SECRET-4f and 6d5e4f3a2b", "[REDACTED] and [REDACTED]"},
		{"adjacent echoes, one marker", []string{testKey}, testKey + testKey, "[REDACTED]"},
		{"either key", []string{"server-key-0123456789", testKey}, "a server-key-0123 b 4f3a2b1c", "a [REDACTED] b [REDACTED]"},
		{"short key only whole", []string{"abc"}, "abc ab", "[REDACTED] ab"},
		{"the sk- rule is for messages", []string{testKey}, "keys look like sk-proj-abcdefgh12345", "keys look like sk-proj-abcdefgh12345"},
		{"key with a quote, escaped in JSON", []string{`abcdefg"hijklmn`}, `{"answer":"abcdefg\"hijklmn"}`, `{"answer":"[REDACTED]"}`},
		{"non-ASCII around", []string{testKey}, "é4f9a8b7cé", "é[REDACTED]é"},
	}
	for _, tt := range tests {
		if got := NewRedactor(tt.keys...).String(tt.text); got != tt.want {
			t.Errorf("%s: String(%q) = %q, want %q", tt.name, tt.text, got, tt.want)
		}
	}
	var nilRedactor *Redactor
	if got := nilRedactor.String("x"); got != "x" {
		t.Errorf("a nil Redactor changed %q to %q", "x", got)
	}
}

func TestRedactorMessage(t *testing.T) {
	t.Parallel()
	r := NewRedactor(testKey)
	got := r.Message("Incorrect API key provided: user-SECRET-4f9a8b. Also sk-proj-********abcd.")
	if want := "Incorrect API key provided: [REDACTED]. Also [REDACTED]."; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

// TestRedactorJSON: strings are scrubbed, names too, and the result stays
// valid JSON whatever characters the key holds.
func TestRedactorJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		doc  string
		want string
	}{
		{"value", testKey, `{"answer":"use ` + testKey + `","key_points":["a","SECRET-4f9a8b7c"]}`, `{"answer":"use [REDACTED]","key_points":["a","[REDACTED]"]}`},
		{"member name", testKey, `{"` + testKey + `":1}`, `{"[REDACTED]":1}`},
		{"nothing to do", testKey, `{"n":12345678,"ok":true,"s":"a\u00e9\n"}`, `{"n":12345678,"ok":true,"s":"a\u00e9\n"}`},
		{"quote in the key", `ab"cd"ef\gh"ij`, `{"answer":"ab\"cd\"ef\\gh\"ij"}`, `{"answer":"[REDACTED]"}`},
		{"structure-like key", `","x":"yyyyyyyy`, `{"answer":"\",\"x\":\"yyyyyyyy","b":"c"}`, `{"answer":"[REDACTED]","b":"c"}`},
		{"HTML characters kept", testKey, `{"a":"<b> & ` + testKey + `"}`, `{"a":"<b> & [REDACTED]"}`},
	}
	for _, tt := range tests {
		got := NewRedactor(tt.key).JSON([]byte(tt.doc))
		if string(got) != tt.want {
			t.Errorf("%s: JSON(%s) = %s, want %s", tt.name, tt.doc, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: JSON(%s) = %s is not valid JSON", tt.name, tt.doc, got)
		}
	}
}

// TestRedactorStream: however the text is cut into pieces, what the
// Stream sends is String of the whole text, and it never holds back
// MinFragment bytes or more.
func TestRedactorStream(t *testing.T) {
	t.Parallel()
	keys := []string{testKey, "srv-0123456789abcdef"}
	r := NewRedactor(keys...)
	texts := []string{
		"",
		"no key at all, just words",
		"the key is " + testKey + " and that is all",
		testKey,
		"ends with the key " + testKey,
		"two " + testKey + testKey + " echoes",
		"fragments SECRET-4f9a8b and 0123456789 and 4f3a2b1c",
		"near misses: SECRET-4 SECRET-4 f9a8b7c",
		"é ü " + testKey[5:20] + " ß",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, text := range texts {
		want := r.String(text)
		for range 200 {
			s := r.Stream()
			var got strings.Builder
			rest, sent := text, 0
			for rest != "" {
				n := min(len(rest), 1+rng.IntN(12))
				piece := rest[:n]
				rest = rest[n:]
				out := s.Next(piece)
				got.WriteString(out)
				sent += len(piece)
				if held := len(s.seen) - s.sent; held >= MinFragment {
					t.Fatalf("after %q the Stream holds back %d bytes", text[:sent], held)
				}
			}
			got.WriteString(s.End())
			if got.String() != want {
				t.Fatalf("streamed %q in pieces: got %q, want %q", text, got.String(), want)
			}
		}
	}
}

func TestRedactorFor(t *testing.T) {
	t.Parallel()
	p := NewOpenAI(OpenAIConfig{APIKey: serverKey})
	r := RedactorFor(p, userKey)
	if got, want := r.String(serverKey[4:16]+" "+userKey[10:]), "[REDACTED] [REDACTED]"; got != want {
		t.Errorf("openai: %q, want %q", got, want)
	}
	a := RedactorFor(NewAnthropic(AnthropicConfig{APIKey: serverKey}), "")
	if got, want := a.String(serverKey), "[REDACTED]"; got != want {
		t.Errorf("anthropic: %q, want %q", got, want)
	}
	if got := RedactorFor(NewOffline(0), "").String(serverKey); got != serverKey {
		t.Errorf("offline (no key) changed %q to %q", serverKey, got)
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
