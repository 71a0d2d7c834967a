package ai

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// field is one member of a JSON object the offline provider writes, in
// order. Its value is a string, an int, a []string or a [][]field.
type field struct {
	name  string
	value any
}

// renderObject writes fields as an indented JSON object.
func renderObject(fields []field, indent string) string {
	var b strings.Builder
	b.WriteString("{\n")
	for i, f := range fields {
		fmt.Fprintf(&b, "%s  %s: %s", indent, quote(f.name), renderValue(f.value, indent+"  "))
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + "}")
	return b.String()
}

// renderValue writes one value of a field.
func renderValue(v any, indent string) string {
	var items []string
	switch v := v.(type) {
	case string:
		return quote(v)
	case int:
		return fmt.Sprint(v)
	case []string:
		for _, s := range v {
			items = append(items, quote(s))
		}
	case [][]field:
		for _, obj := range v {
			items = append(items, renderObject(obj, indent+"  "))
		}
	}
	if len(items) == 0 {
		return "[]"
	}
	return "[\n" + indent + "  " + strings.Join(items, ",\n"+indent+"  ") + "\n" + indent + "]"
}

// quote is s as a JSON string, with <, > and & left as they are.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// summarize returns the input's topic, its first sentence (after a short
// lead-in ending in a colon) cut to about 100 characters without a leading
// "I want to", and its key words: up to four
// distinct words of four or more letters that are not common words.
func summarize(input string) (string, []string) {
	text := strings.Join(strings.Fields(input), " ")
	topic := text
	if before, after, ok := strings.Cut(topic, ":"); ok && len(strings.Fields(before)) <= 8 && strings.TrimSpace(after) != "" {
		topic = after // "Help me set a goal: run 5k" is about running 5k
	}
	if i := strings.IndexAny(topic, ".!?"); i > 0 {
		topic = topic[:i]
	}
	for _, p := range []string{"please ", "help me ", "i want to ", "i would like to ", "i'd like to ", "i need to "} {
		if len(topic) >= len(p) && strings.EqualFold(topic[:len(p)], p) {
			topic = topic[len(p):]
		}
	}
	topic = cut(strings.TrimSpace(topic), 100)
	if topic == "" {
		topic = "your request"
	}
	var words []string
	for _, w := range normalizeWords(text) {
		if len(w) >= 4 && !isCommonWord(w) && !slices.Contains(words, w) && len(words) < 4 {
			words = append(words, w)
		}
	}
	return topic, words
}

// cut shortens s to at most n bytes, at a word boundary, with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	if i := strings.LastIndexByte(s, ' '); i > n/2 {
		s = s[:i]
	}
	return strings.TrimRightFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) + "…"
}

// isCommonWord reports whether w says nothing about the topic.
func isCommonWord(w string) bool {
	switch w {
	case "want", "would", "like", "need", "please", "help", "make", "some", "more", "this",
		"that", "with", "from", "have", "about", "into", "also", "than", "then", "what",
		"which", "when", "where", "there", "their", "your", "just", "really", "should",
		"could", "goal", "goals", "smart", "tasks", "task", "prioritize", "first", "order",
		"these", "those", "them", "they", "been", "being", "much", "many", "very", "able",
		"every", "each", "week", "weeks", "month", "months", "year", "years", "days",
		"learn", "start", "stop", "become", "better", "improve", "under", "over",
		"after", "before", "until", "within", "still", "other", "thing", "things":
		return true
	}
	return false
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// smartGoalAnswer is a 12-week SMART goal for topic with milestones named
// after the key words.
func smartGoalAnswer(topic string, words []string) []field {
	term := func(i int) string {
		if len(words) == 0 {
			return "the goal"
		}
		return fmt.Sprintf("%q", words[i%len(words)])
	}
	milestones := [][]field{
		{{"title", "Define what success means for " + term(0) + " and book three sessions a week"}, {"due", "end of week 1"}},
		{{"title", "Finish the first block of sessions, focused on " + term(1)}, {"due", "end of week 4"}},
		{{"title", "Review progress on " + term(2) + " and adjust the plan"}, {"due", "end of week 8"}},
		{{"title", "Reach the goal: " + topic}, {"due", "end of week 12"}},
	}
	return []field{
		{"goal", capitalize(topic) + ", within 12 weeks."},
		{"specific", "Three focused 45-minute sessions a week toward one outcome (" + topic + "), starting with " + term(0) + "."},
		{"measurable", "Log every session; success is at least 30 of the 36 planned sessions done and each milestone reached on time."},
		{"achievable", "About 2.5 hours a week fits a normal schedule, and the first milestone is small enough to start this week."},
		{"relevant", "It moves you toward what you asked for: " + topic + "."},
		{"time_bound", "12 weeks from today, with a review at the end of weeks 4 and 8."},
		{"milestones", milestones},
	}
}

// generalAnswer restates the request and says how to get a model's answer.
func generalAnswer(topic string, words []string) []field {
	terms := "none stood out"
	if len(words) > 0 {
		terms = strings.Join(words, ", ")
	}
	return []field{
		{"answer", "You asked: “" + topic + "”. This answer comes from aijobs' built-in offline provider, " +
			"which runs without a model or a network: it restates your request and outlines how to approach it. " +
			"Start by defining what a good outcome looks like, gather what you know about it, and take one small " +
			"step today. Configure the openai or anthropic provider for an answer written by a model."},
		{"key_points", []string{
			"Your request: " + topic,
			"Key terms: " + terms,
			"Define the outcome first, then take one small step",
			"A real provider (openai or anthropic) gives a model-written answer",
		}},
	}
}
