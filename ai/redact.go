package ai

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// redacted replaces a secret in a message.
const redacted = "[REDACTED]"

// minSKTokenLen is how many characters after "sk-" make a token look like
// an API key (OpenAI sk-…, sk-proj-…, Anthropic sk-ant-…).
const minSKTokenLen = 8

// MinFragment is the length from which a piece of a key is redacted: any
// run of at least this many bytes that also occurs in a key, as in a
// provider's "…SECRET-4f9a8b7c" or a model that repeats half a key. A key
// shorter than this is redacted only whole.
const MinFragment = 8

// Redactor removes the API keys in play for one call or one attempt — the
// user's and the server's — from text before it is stored or sent: every
// echo of a key, whole or a fragment of MinFragment bytes or more, becomes
// [REDACTED] (one marker for each run of redacted bytes). A Redactor is
// immutable and safe for concurrent use; a nil or empty one changes
// nothing.
type Redactor struct {
	// keys are the distinct non-empty keys and, for a key with characters
	// JSON escapes, its escaped form as it appears inside a JSON string.
	keys []string
}

// NewRedactor returns the Redactor of keys; empty keys are ignored.
func NewRedactor(keys ...string) *Redactor {
	r := &Redactor{}
	for _, k := range keys {
		if k == "" {
			continue
		}
		r.keys = append(r.keys, k)
		if esc := jsonEscaped(k); esc != k {
			r.keys = append(r.keys, esc)
		}
	}
	slices.Sort(r.keys)
	r.keys = slices.Compact(r.keys)
	return r
}

// serverKeyed is a provider with a key of its own.
type serverKeyed interface{ serverKey() string }

// RedactorFor returns the Redactor of a call to p with userKey (empty for
// none): it removes the user's key and p's own server key, if p has one.
func RedactorFor(p Provider, userKey string) *Redactor {
	keys := []string{userKey}
	if s, ok := p.(serverKeyed); ok {
		keys = append(keys, s.serverKey())
	}
	return NewRedactor(keys...)
}

// Message scrubs provider error text: String, and then every token that
// looks like an API key, whoever's it is ("sk-" followed by at least 8
// letters, digits, '-', '_' or '*', as in a provider's masked
// "sk-proj-****abcd"). Model output gets String only, so that a model
// explaining key formats is left alone.
func (r *Redactor) Message(msg string) string {
	return redactSKTokens(r.String(msg))
}

// String returns s with every echo of a key replaced by [REDACTED].
func (r *Redactor) String(s string) string {
	if r == nil || len(r.keys) == 0 || s == "" {
		return s
	}
	red := make([]bool, len(s))
	r.cover(s, red)
	out, _ := render(s, red, false)
	return out
}

// JSON returns the JSON document doc with every string in it, member names
// and values, scrubbed by String and re-encoded where it changed; the rest
// is copied byte for byte. doc must be valid JSON, and so is the result.
// Scrubbing the decoded strings rather than the document's text keeps
// the structure intact whatever characters a key holds.
func (r *Redactor) JSON(doc []byte) []byte {
	if r == nil || len(r.keys) == 0 {
		return doc
	}
	var b bytes.Buffer
	for i := 0; i < len(doc); {
		if doc[i] != '"' {
			b.WriteByte(doc[i])
			i++
			continue
		}
		end := i + 1
		for end < len(doc) && doc[end] != '"' {
			if doc[end] == '\\' {
				end++
			}
			end++
		}
		end = min(end+1, len(doc))
		lit := doc[i:end]
		var s string
		if json.Unmarshal(lit, &s) == nil {
			if scrubbed := r.String(s); scrubbed != s {
				lit = []byte(`"` + jsonEscaped(scrubbed) + `"`)
			}
		}
		b.Write(lit)
		i = end
	}
	return b.Bytes()
}

// jsonEscaped is s as it appears between the quotes of a JSON string
// written by a typical encoder (no HTML escaping).
func jsonEscaped(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// cover marks in red the bytes of text that are part of an echo of a key:
// a run of at least min(MinFragment, len(key)) bytes that also occurs in
// the key. Runs are widened to whole UTF-8 characters. It returns the
// length of text's longest suffix that occurs in a key — the bytes an echo
// continued by the next piece of a stream would begin with.
func (r *Redactor) cover(text string, red []bool) (tail int) {
	ends := make([]int, len(text)+1)
	for _, k := range r.keys {
		// ends[e] is the longest suffix of text[:e] that occurs in k:
		// prev[j] and cur[j] are the longest common suffixes of text[:i]
		// and text[:i+1] with k[:j].
		prev, cur := make([]int, len(k)+1), make([]int, len(k)+1)
		for i := 0; i < len(text); i++ {
			best := 0
			for j := 1; j <= len(k); j++ {
				if text[i] == k[j-1] {
					cur[j] = prev[j-1] + 1
					best = max(best, cur[j])
				} else {
					cur[j] = 0
				}
			}
			prev, cur = cur, prev
			ends[i+1] = best
		}
		// A byte is covered when a long enough run ending after it starts
		// at or before it.
		threshold, start := min(MinFragment, len(k)), len(text)
		for e := len(text); e >= 1; e-- {
			if ends[e] >= threshold {
				start = min(start, e-ends[e])
			}
			if start <= e-1 {
				red[e-1] = true
			}
		}
		tail = max(tail, ends[len(text)])
	}
	for i := 1; i < len(text); i++ {
		if !utf8.RuneStart(text[i]) && red[i-1] {
			red[i] = true
		}
	}
	for i := len(text) - 1; i > 0; i-- { // and back to the lead byte
		if !utf8.RuneStart(text[i]) && red[i] {
			red[i-1] = true
		}
	}
	return tail
}

// render writes text with each run of red bytes replaced by one marker;
// afterMarker says the text continues output that ended with a marker, so
// that a run at the start continues it. It reports whether the result
// ends with a marker (or, for empty text, afterMarker).
func render(text string, red []bool, afterMarker bool) (string, bool) {
	var b strings.Builder
	inRun := afterMarker
	for i := 0; i < len(text); i++ {
		switch {
		case !red[i]:
			b.WriteByte(text[i])
			inRun = false
		case !inRun:
			b.WriteString(redacted)
			inRun = true
		}
	}
	return b.String(), inRun
}

// Stream scrubs text that arrives in pieces, such as a model's streamed
// output, so that an echo split across pieces is still caught: Next holds
// back the few bytes at the end of a piece that could begin an echo (fewer
// than MinFragment, since a longer run is redacted at once), and End
// releases them. What Next and End return, joined, is String of the whole
// text. A Stream is not safe for concurrent use.
type Stream struct {
	r *Redactor
	// seen is the end of the text so far that an echo continued by the
	// next piece could begin with: at most as long as the longest key.
	seen string
	// sent is how many leading bytes of seen are already out, as (part
	// of) a marker: they are redacted.
	sent int
	// marker is whether the output so far ends with a marker.
	marker bool
}

// Stream returns a Stream that scrubs with r.
func (r *Redactor) Stream() *Stream { return &Stream{r: r} }

// Next takes the next piece of text and returns what of the text so far
// can be sent now, scrubbed.
func (s *Stream) Next(piece string) string { return s.scrub(piece, false) }

// End returns the rest of the text, scrubbed, and starts the Stream afresh.
func (s *Stream) End() string { return s.scrub("", true) }

func (s *Stream) scrub(piece string, end bool) string {
	if s.r == nil || len(s.r.keys) == 0 {
		return piece
	}
	if piece == "" && !end {
		return "" // nothing new: what is held stays held
	}
	text := s.seen + piece
	red := make([]bool, len(text))
	for i := range s.sent {
		red[i] = true
	}
	tail := s.r.cover(text, red)
	// An echo the next piece continues starts in the last tail bytes:
	// everything before is final; so are redacted bytes right after.
	keep := len(text) - tail
	for keep > 0 && keep < len(text) && !utf8.RuneStart(text[keep]) {
		keep--
	}
	upto := len(text)
	if !end {
		upto = keep
		for upto < len(text) && red[upto] {
			upto++
		}
		upto = max(upto, s.sent)
	}
	out, marker := render(text[s.sent:upto], red[s.sent:upto], s.marker)
	if end {
		*s = Stream{r: s.r}
		return out
	}
	s.seen, s.sent, s.marker = text[keep:], upto-keep, marker
	return out
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
