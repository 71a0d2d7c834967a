package ai

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// maxOfflineTasks bounds the tasks the offline provider orders.
const maxOfflineTasks = 10

// prioritizationAnswer orders the input's tasks: time-critical first, then
// tasks with consequences, quick ones, the rest, optional ones last; ties
// keep the input's order.
func prioritizationAnswer(input, topic string) []field {
	titles := extractTasks(input)
	if len(titles) == 0 {
		titles = []string{capitalize(topic)}
	}
	type task struct {
		title string
		score int
		cue   string
	}
	tasks := make([]task, len(titles))
	for i, t := range titles {
		score, cue := urgency(t)
		tasks[i] = task{t, score, cue}
	}
	slices.SortStableFunc(tasks, func(a, b task) int { return b.score - a.score })
	var out [][]field
	var order []string
	for i, t := range tasks {
		out = append(out, []field{{"title", t.title}, {"priority", i + 1}, {"reason", urgencyReason(t.score, t.cue)}})
		order = append(order, t.title)
	}
	return []field{{"tasks", out}, {"summary", orderSummary(order)}}
}

// extractTasks finds the tasks of input: its bulleted or numbered lines,
// or else the comma, semicolon, "and" or "or" separated parts of the text
// after its first colon (or of all of it).
func extractTasks(input string) []string {
	var parts []string
	for _, line := range strings.Split(input, "\n") {
		if item, ok := cutBullet(strings.TrimSpace(line)); ok {
			parts = append(parts, item)
		}
	}
	if len(parts) < 2 {
		text := input
		if _, after, ok := strings.Cut(input, ":"); ok && strings.TrimSpace(after) != "" {
			text = after
		}
		text = strings.NewReplacer(" and ", ",", " or ", ",", " then ", ",", "\n", ",", ";", ",").Replace(text)
		parts = strings.Split(text, ",")
	}
	var tasks []string
	for _, p := range parts {
		p = strings.TrimFunc(p, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(".!?", r) })
		p = cut(strings.TrimPrefix(strings.TrimPrefix(p, "and "), "or "), 80)
		dup := slices.ContainsFunc(tasks, func(t string) bool { return strings.EqualFold(t, p) })
		if p != "" && !dup && len(tasks) < maxOfflineTasks {
			tasks = append(tasks, capitalize(p))
		}
	}
	if len(tasks) < 2 {
		return nil
	}
	return tasks
}

// urgency scores a task by the sum of its words' scores and returns the
// word that tells most: the strongest positive one, or the strongest
// negative one when the sum is negative ("fix the bike someday" is optional).
func urgency(task string) (int, string) {
	sum, high, low, highCue, lowCue := 0, 0, 0, "", ""
	for _, w := range normalizeWords(task) {
		s := wordUrgency(w)
		sum += s
		if s > high {
			high, highCue = s, w
		}
		if s < low {
			low, lowCue = s, w
		}
	}
	if sum < 0 {
		return sum, lowCue
	}
	return sum, highCue
}

// wordUrgency is how much a word makes a task urgent.
func wordUrgency(w string) int {
	switch w {
	case "urgent", "asap", "overdue", "deadline", "today", "tonight", "now", "immediately":
		return 3
	case "tomorrow", "due", "tax", "taxes", "bill", "bills", "rent", "boss", "client", "doctor", "exam", "interview", "pay":
		return 2
	case "call", "email", "reply", "send", "book", "fix", "submit", "renew":
		return 1
	case "someday", "maybe", "eventually", "later", "optional", "nice":
		return -1
	}
	return 0
}

// urgencyReason explains a task's urgency score.
func urgencyReason(score int, cue string) string {
	switch {
	case score >= 3:
		return fmt.Sprintf("Time-critical (%q): do it before anything else.", cue)
	case score == 2:
		return fmt.Sprintf("It has a due date or real consequences (%q) if it slips.", cue)
	case score == 1 && cue != "":
		return fmt.Sprintf("Quick to do (%q) and it may unblock other people.", cue)
	case score < 0 && cue != "":
		return fmt.Sprintf("Optional (%q): do it when the rest is done.", cue)
	}
	return "Worth doing but not time-bound: schedule it after the time-sensitive tasks."
}

// orderSummary says the order in one or two sentences.
func orderSummary(order []string) string {
	switch len(order) {
	case 1:
		return "One task: " + order[0] + ". Start it now."
	case 2:
		return "Start with " + order[0] + ", then " + order[1] + "."
	}
	last := len(order) - 1
	return "Start with " + order[0] + ", then " + strings.Join(order[1:last], ", then ") + ". Finish with " + order[last] + "."
}
