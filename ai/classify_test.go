package ai

import (
	"testing"

	"github.com/aijobs/aijobs/jobs"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	const (
		goal    = jobs.IntentSmartGoal
		prio    = jobs.IntentPrioritization
		general = jobs.IntentGeneral
	)
	tests := []struct {
		input string
		want  jobs.Intent
	}{
		{"I want to run a marathon next year", goal},
		{"Help me set a SMART goal for learning Spanish", goal},
		{"I'd like to read more books", goal},
		{"My target is to save $5,000 by December", goal},
		{"How do I build a habit of meditating every morning?", goal},
		{"I would like to lose weight before summer", goal},
		{"Help me prioritize: taxes, laundry, call mom, fix the bike", prio},
		{"Which should I do first, the report or the presentation?", prio},
		{"Order these tasks by importance: email, groceries, gym", prio},
		{"What's most urgent on my todo list?", prio},
		{"- pay rent\n- book dentist\n- finish slides\n- buy milk", prio},
		{"1. write report\n2. reply to Anna\n3. clean kitchen", prio},
		{"Rank my goals for this year: fitness, career, family", prio},
		{"My goals:\n- run 5k\n- read 12 books\n- learn to cook", goal},
		{"What is the capital of France?", general},
		{"Explain how photosynthesis works, why it matters, and what plants need", general},
		{"Write a haiku about autumn", general},
		{"", general},
		{"Prioritise my priorities", prio},
		{"I want to prioritize my goals", prio},
		{"Set a SMART goal to rank in the top 10 at chess", goal},
		{"frankly, I am tasked with nothing", general},
	}
	for _, tt := range tests {
		if got := Classify(tt.input); got != tt.want {
			t.Errorf("Classify(%q) = %s, want %s", tt.input, got, tt.want)
		}
	}
}
