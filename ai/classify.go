package ai

import (
	"strings"
	"unicode"

	"github.com/aijobs/aijobs/jobs"
)

// cue is a phrase that hints at an intent. A phrase ending in "*" matches
// any word that starts with it ("priorit*" matches prioritize, priorities).
type cue struct {
	phrase string
	weight int
}

// prioritizationCues are the phrases that point at ordering tasks. Asking
// to order things outweighs what the things are: "rank my goals" is a
// prioritization.
func prioritizationCues() []cue {
	return []cue{
		{"priorit*", 7}, {"which first", 7}, {"what first", 7},
		{"do first", 7}, {"order these", 7}, {"in what order", 7},
		{"what order", 7}, {"rank", 7}, {"ranking", 7}, {"eisenhower", 7},
		{"most important", 2}, {"most urgent", 2},
		{"triage", 2}, {"to do list", 2}, {"todo list", 2}, {"todo", 1},
		{"to dos", 2}, {"todos", 2}, {"backlog", 2}, {"tasks", 2}, {"task", 1},
		{"chores", 1}, {"errands", 1}, {"deadlines", 1}, {"urgent", 1},
		{"too much to do", 2}, {"overwhelmed", 1},
	}
}

// smartGoalCues are the phrases that point at setting a goal.
func smartGoalCues() []cue {
	return []cue{
		{"smart goal", 4}, {"smart", 2}, {"goal", 3}, {"goals", 3},
		{"i want to", 3}, {"i d like to", 3}, {"i would like to", 3},
		{"i wish i could", 2}, {"i plan to", 2}, {"i hope to", 2},
		{"my aim", 2}, {"objective", 2}, {"target", 2}, {"targets", 2},
		{"habit", 3}, {"habits", 3}, {"resolution", 2}, {"achieve", 2},
		{"milestone*", 2}, {"get better at", 2}, {"improve my", 2},
		{"learn to", 2}, {"learn how to", 2}, {"lose weight", 3},
		{"get fit", 2}, {"save money", 2}, {"save up", 2},
		{"run a marathon", 3}, {"by the end of", 1}, {"per week", 1},
		{"every day", 1}, {"each day", 1},
	}
}

// Classify sorts the user's input into an intent with deterministic
// keyword heuristics: smart_goal for goals, targets, habits and "I want
// to…" statements; prioritization for requests to order or rank tasks and
// for bulleted or numbered lists of three or more lines; general for
// everything else. When both score, the higher score wins; a tie goes to
// prioritization if the input is a list and to smart_goal otherwise.
func Classify(input string) jobs.Intent {
	words := normalizeWords(input)
	prio := score(words, prioritizationCues())
	goal := score(words, smartGoalCues())
	isList := listItems(input) >= 3
	if isList {
		prio += 2
	}
	switch {
	case prio == 0 && goal == 0:
		return jobs.IntentGeneral
	case prio > goal, prio == goal && isList:
		return jobs.IntentPrioritization
	default:
		return jobs.IntentSmartGoal
	}
}

// normalizeWords lowercases s and splits it into words of letters and
// digits; an apostrophe splits too, so "I'd" becomes "i d".
func normalizeWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// score sums the weights of the cues found in words; each cue counts once.
func score(words []string, cues []cue) int {
	total := 0
	for _, c := range cues {
		if containsPhrase(words, strings.Fields(c.phrase)) {
			total += c.weight
		}
	}
	return total
}

// containsPhrase reports whether phrase occurs as consecutive words; a
// last word ending in "*" is a prefix.
func containsPhrase(words, phrase []string) bool {
	for i := 0; i+len(phrase) <= len(words); i++ {
		match := true
		for j, p := range phrase {
			w := words[i+j]
			if prefix, ok := strings.CutSuffix(p, "*"); ok {
				match = strings.HasPrefix(w, prefix)
			} else {
				match = w == p
			}
			if !match {
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// listItems counts the lines of s that look like list items: bulleted or
// numbered lines. Comma-separated text is not counted: "explain X, Y and Z"
// is a question, not a list of tasks.
func listItems(s string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if isListLine(strings.TrimSpace(line)) {
			n++
		}
	}
	return n
}

// isListLine reports whether line starts with a bullet ("- ", "* ", "• ",
// "[ ] ") or a number ("1. ", "2) ").
func isListLine(line string) bool {
	_, ok := cutBullet(line)
	return ok
}

// cutBullet returns line without its leading bullet or number, and whether
// it had one.
func cutBullet(line string) (string, bool) {
	for _, bullet := range []string{"- ", "* ", "• ", "[ ] ", "[x] "} {
		if rest, ok := strings.CutPrefix(line, bullet); ok {
			return rest, true
		}
	}
	rest := strings.TrimLeftFunc(line, unicode.IsDigit)
	if len(rest) < len(line) && (strings.HasPrefix(rest, ". ") || strings.HasPrefix(rest, ") ")) {
		return rest[2:], true
	}
	return line, false
}
