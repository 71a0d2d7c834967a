package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

func TestLineView(t *testing.T) {
	t.Parallel()
	retryAt := time.Date(2026, 11, 28, 19, 0, 5, 0, time.Local)
	var out bytes.Buffer
	v := newLineView(&out)
	for _, ev := range []jobtype.Event{
		{Type: jobtype.EventSnapshot, Job: &jobtype.Job{Status: jobtype.StatusQueued}},
		{Type: jobtype.EventStatus, Status: jobtype.StatusQueued, RetryAt: &retryAt, Reason: jobtype.ReasonWaitingForCapacity},
		{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1},
		{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "ignored in plain mode"},
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 8}, // same 10% step
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 40},
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 45}, // same step
		{Type: jobtype.EventProgress, Status: jobtype.StatusWorking, Progress: 30}, // never backwards
		{Type: jobtype.EventStatus, Status: jobtype.StatusRetrying, Progress: 40, RetryAt: &retryAt, Error: &jobtype.Error{Code: "provider_unavailable", Message: "provider \x1b[2Joverloaded"}},
		{Type: jobtype.EventProgress, Status: jobtype.StatusRetrying, Progress: 40}, // no change
		{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Progress: 40, Attempt: 2},
		{Type: jobtype.EventCompleted, Terminal: true, Status: jobtype.StatusCompleted, Progress: 100},
	} {
		v.Event(ev)
	}
	v.Done()
	want := "queued 0%\nqueued 0% (waiting for capacity, next try at 19:00:05)\nworking 0%\nworking 40%\nretrying 45% (next attempt at 19:00:05: provider overloaded)\nworking 45%\ncompleted 100%\n"
	if out.String() != want {
		t.Errorf("lines\n got  %q\n want %q", out.String(), want)
	}
}

func TestBarView(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		width  int
		events []jobtype.Event
		want   string // the screen after Done, once carriage returns are applied
	}{
		{"output lines scroll above the bar", 60, []jobtype.Event{
			{Type: jobtype.EventStatus, Status: jobtype.StatusWorking},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 50, Text: "line one\nline "},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 50, Text: "two\npartial"},
			{Type: jobtype.EventCompleted, Terminal: true, Status: jobtype.StatusCompleted, Progress: 100},
		}, "line one\nline two\npartial\n[████████████████████] completed 100%\n"},
		{"long lines wrap at the width", 24, []jobtype.Event{
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: strings.Repeat("x", 30)},
			{Type: jobtype.EventFailed, Terminal: true, Status: jobtype.StatusFailed, Progress: 10},
		}, strings.Repeat("x", 23) + "\n" + strings.Repeat("x", 7) + "\n[█░░░░░░░░░] failed 10%\n"},
		{"control characters removed", 60, []jobtype.Event{
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "a\x1b[31mb\x07c\td\r\u009b0me\x1b]0;pwned\x07f\x1b(0\n"},
		}, "abc def\n[░░░░░░░░░░░░░░░░░░░░] working 0%\n"},
		{"a new attempt starts its output over", 60, []jobtype.Event{
			{Type: jobtype.EventSnapshot, Job: &jobtype.Job{Status: jobtype.StatusQueued}},
			{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 30, Text: "Log every se"},
			{Type: jobtype.EventStatus, Status: jobtype.StatusRetrying, Attempt: 1, Progress: 30, Error: &jobtype.Error{Code: "timeout", Message: "slow"}},
			{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 2, Progress: 30},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 60, Text: `{ "goal": 1 }`},
			{Type: jobtype.EventCompleted, Terminal: true, Status: jobtype.StatusCompleted, Progress: 100},
		}, "Log every se\n--- output starts over (attempt 2) ---\n{ \"goal\": 1 }\n[████████████████████] completed 100%\n"},
		{"output that did not validate starts over", 60, []jobtype.Event{
			{Type: jobtype.EventSnapshot, Job: &jobtype.Job{Status: jobtype.StatusWorking, Attempt: 1}},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "not json\nat all"},
			{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1, Error: &jobtype.Error{Code: "invalid_output", Message: "not JSON"}},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "{}"},
		}, "not json\nat all\n--- output starts over (attempt 1: invalid_output) ---\n{}\n[░░░░░░░░░░░░░░░░░░░░] working 0%\n"},
		{"the first attempt and a watch that joins late start nothing over", 60, []jobtype.Event{
			{Type: jobtype.EventSnapshot, Job: &jobtype.Job{Status: jobtype.StatusWorking, Attempt: 2}},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "one "},
			{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 2},
			{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: "two"},
		}, "one two\n[░░░░░░░░░░░░░░░░░░░░] working 0%\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			v := newBarView(&out, func() int { return tt.width })
			for _, ev := range tt.events {
				v.Event(ev)
			}
			v.Done()
			if got := screen(out.String()); got != tt.want {
				t.Errorf("screen\n got  %q\n want %q\n raw  %q", got, tt.want, out.String())
			}
			for _, seg := range strings.FieldsFunc(out.String(), func(r rune) bool { return r == '\r' || r == '\n' }) {
				if n := len([]rune(strings.TrimPrefix(seg, "\x1b[K"))); n > tt.width-1 {
					t.Errorf("a line of %d columns on a %d-column terminal: %q", n, tt.width, seg)
				}
			}
		})
	}
}

// TestBarViewResize: the width is read again for every redraw, so after
// the terminal narrows no line, the bar or the output being written, is
// wider than the new width.
func TestBarViewResize(t *testing.T) {
	t.Parallel()
	width := 80
	var out bytes.Buffer
	v := newBarView(&out, func() int { return width })
	v.Event(jobtype.Event{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 40, Text: strings.Repeat("y", 50)})
	out.Reset()
	width = 30
	v.Event(jobtype.Event{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 50, Text: "z"})
	v.Done()
	for _, seg := range strings.FieldsFunc(out.String(), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if n := len([]rune(strings.TrimPrefix(seg, "\x1b[K"))); n > width-1 {
			t.Errorf("a line of %d columns on a %d-column terminal: %q", n, width, seg)
		}
	}
	if got, want := screen(out.String()), strings.Repeat("y", 29)+"\n"+strings.Repeat("y", 21)+"z\n"; !strings.HasPrefix(got, want) {
		t.Errorf("screen %q, want it to start with %q", got, want)
	}
}

// screen replays what a terminal would keep of the output: "\r\x1b[K"
// erases the current line.
func screen(s string) string {
	var lines []string
	cur := ""
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, "\r\x1b[K"):
			cur, s = "", s[4:]
		case s[0] == '\n':
			lines, cur, s = append(lines, cur), "", s[1:]
		default:
			cur, s = cur+s[:1], s[1:]
		}
	}
	out := strings.Join(lines, "\n") + "\n"
	if cur != "" {
		out += cur
	}
	return out
}
