package jobtype_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

func TestViewApply(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	working := func(seq int64, attempt int, why *jobtype.Error) jobtype.Event {
		return jobtype.Event{JobID: "j", Seq: seq, Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: attempt, Error: why, At: at}
	}
	output := func(seq int64, text string, progress int) jobtype.Event {
		return jobtype.Event{JobID: "j", Seq: seq, Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Text: text, Progress: progress, At: at}
	}
	retrying := jobtype.Event{JobID: "j", Seq: 4, Type: jobtype.EventStatus, Status: jobtype.StatusRetrying, Progress: 30,
		Attempt: 1, Error: &jobtype.Error{Code: "worker_lost"}, RetryAt: &at}
	snap := jobtype.Job{ID: "j", Seq: 9, Status: jobtype.StatusWorking, Progress: 5, Attempt: 3}
	cases := []struct {
		name        string
		events      []jobtype.Event
		wantOutput  string
		wantRestart []bool
		want        func(j jobtype.Job) bool
	}{
		{"output of one attempt adds up", []jobtype.Event{working(2, 1, nil), output(3, "Log every ", 20), output(4, "session", 40)},
			"Log every session", []bool{true, false, false},
			func(j jobtype.Job) bool { return j.Progress == 40 && j.Attempt == 1 && j.StartedAt != nil }},
		{"a new attempt starts the output over", []jobtype.Event{working(2, 1, nil), output(3, "Log every se", 30), retrying, working(5, 2, nil), output(6, `{ "goal": 1 }`, 10)},
			`{ "goal": 1 }`, []bool{true, false, false, true, false},
			func(j jobtype.Job) bool { return j.Attempt == 2 && j.Progress == 30 && j.RetryAt == nil }},
		{"the model asked again in the same attempt starts over", []jobtype.Event{working(2, 1, nil), output(3, "not json", 50), working(4, 1, &jobtype.Error{Code: "invalid_output"}), output(5, "{}", 60)},
			"{}", []bool{true, false, true, false}, nil},
		{"retrying records when", []jobtype.Event{working(2, 1, nil), retrying},
			"", []bool{true, false},
			func(j jobtype.Job) bool { return j.Status == jobtype.StatusRetrying && j.RetryAt != nil && !j.Terminal }},
		{"a wait for the provider shows its reason until the job works", []jobtype.Event{
			{JobID: "j", Seq: 2, Type: jobtype.EventStatus, Status: jobtype.StatusQueued, Reason: jobtype.ReasonWaitingForCapacity, RetryAt: &at, At: at}},
			"", []bool{false},
			func(j jobtype.Job) bool {
				return j.Status == jobtype.StatusQueued && j.Reason == jobtype.ReasonWaitingForCapacity && j.RetryAt != nil && j.StartedAt == nil
			}},
		{"working clears the reason", []jobtype.Event{
			{JobID: "j", Seq: 2, Type: jobtype.EventStatus, Status: jobtype.StatusQueued, Reason: jobtype.ReasonWaitingForProvider, RetryAt: &at, At: at}, working(3, 1, nil)},
			"", []bool{false, true},
			func(j jobtype.Job) bool {
				return j.Reason == "" && j.RetryAt == nil && j.Status == jobtype.StatusWorking
			}},
		{"a resync replaces the job and the output", []jobtype.Event{working(2, 1, nil), output(3, "old", 50), {Type: jobtype.EventResync, Seq: 9, Job: &snap}, output(10, "new", 6)},
			"new", []bool{true, false, true, false},
			func(j jobtype.Job) bool { return j.Seq == 10 && j.Attempt == 3 && j.Progress == 6 }},
		{"completed is 100 and terminal", []jobtype.Event{working(2, 1, nil), output(3, "x", 70),
			{Seq: 4, Type: jobtype.EventCompleted, Status: jobtype.StatusCompleted, Terminal: true, Result: []byte(`{"text":"x"}`), At: at}},
			"x", []bool{true, false, false},
			func(j jobtype.Job) bool {
				return j.Progress == 100 && j.Terminal && j.FinishedAt != nil && j.Error == nil && string(j.Result) == `{"text":"x"}`
			}},
		{"failed keeps its error", []jobtype.Event{working(2, 1, nil),
			{Seq: 3, Type: jobtype.EventFailed, Status: jobtype.StatusFailed, Terminal: true, Error: &jobtype.Error{Code: "timeout"}, At: at}},
			"", []bool{true, false},
			func(j jobtype.Job) bool { return j.Terminal && j.Error != nil && j.Error.Code == "timeout" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var v jobtype.View
			var restarts []bool
			for _, ev := range c.events {
				restarts = append(restarts, v.Apply(ev))
			}
			if v.Output != c.wantOutput {
				t.Errorf("output %q, want %q", v.Output, c.wantOutput)
			}
			if !slices.Equal(restarts, c.wantRestart) {
				t.Errorf("restarts %v, want %v", restarts, c.wantRestart)
			}
			if c.want != nil && !c.want(v.Job) {
				t.Errorf("job after the events: %+v", v.Job)
			}
		})
	}
}

// TestLeaf keeps jobtype a leaf on the standard library and the Go client
// off the server's packages.
func TestLeaf(t *testing.T) {
	t.Parallel()
	for pkg, allowed := range map[string][]string{
		"github.com/aijobs/aijobs/jobtype": {"github.com/aijobs/aijobs/jobtype"},
		"github.com/aijobs/aijobs/client":  {"github.com/aijobs/aijobs/jobtype", "github.com/aijobs/aijobs/client"},
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !slices.Contains(allowed, dep) {
				t.Errorf("%s depends on %s; it may use only the standard library and %v", pkg, dep, allowed)
			}
		}
	}
}
