package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

func TestJobNext(t *testing.T) {
	base := jobs.Job{Job: jobtype.Job{ID: "job_x", Seq: 3, Status: jobs.StatusWorking, Progress: 10, Attempt: 1}}
	for _, tc := range []struct {
		name string
		job  jobs.Job
		ev   jobs.Event
		ok   bool
		want jobs.Job
	}{
		{"output", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 4, Type: jobs.EventOutput, Status: jobs.StatusWorking, Progress: 20, Intent: jobs.IntentGeneral, Text: "hi"}}, true,
			jobs.Job{Job: jobtype.Job{ID: "job_x", Seq: 4, Status: jobs.StatusWorking, Progress: 20, Attempt: 1, Intent: jobs.IntentGeneral}}},
		{"progress", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 4, Type: jobs.EventProgress, Status: jobs.StatusWorking, Progress: 30}}, true,
			jobs.Job{Job: jobtype.Job{ID: "job_x", Seq: 4, Status: jobs.StatusWorking, Progress: 30, Attempt: 1}}},
		{"a gap", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 5, Type: jobs.EventOutput, Status: jobs.StatusWorking}}, false, jobs.Job{}},
		{"an old event", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 3, Type: jobs.EventOutput, Status: jobs.StatusWorking}}, false, jobs.Job{}},
		{"another job", base, jobs.Event{Event: jobtype.Event{JobID: "job_y", Seq: 4, Type: jobs.EventOutput, Status: jobs.StatusWorking}}, false, jobs.Job{}},
		{"a status", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 4, Type: jobs.EventStatus, Status: jobs.StatusRetrying}}, false, jobs.Job{}},
		{"the end", base, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 4, Type: jobs.EventCompleted, Status: jobs.StatusCompleted, Terminal: true}}, false, jobs.Job{}},
		{"after the end", jobs.Job{Job: jobtype.Job{ID: "job_x", Seq: 3, Terminal: true, Status: jobs.StatusFailed}}, jobs.Event{Event: jobtype.Event{JobID: "job_x", Seq: 4, Type: jobs.EventOutput}}, false, jobs.Job{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.job.Next(tc.ev)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if ok && !sameSnapshot(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Next, applied to the events of a real run, gives exactly the snapshot
// the store has: the /cable feeds rely on it to skip reading.
func TestJobNextMatchesTheStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	if _, err := b.svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	// As a feed has it: read (Start's own answer keeps the clock's
	// nanoseconds, which the store does not).
	prev, err := b.svc.Get(ctx, b.user.ID, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []struct {
		intent   jobs.Intent
		text     string
		progress int
	}{
		{"", "", 5}, {jobs.IntentSmartGoal, "Plan", 10}, {"", " the", 8}, {"", "", 40}, {jobs.IntentGeneral, " week", 120},
	} {
		if _, err := b.svc.Report(ctx, j.ID, 1, r.intent, r.text, r.progress); err != nil {
			t.Fatal(err)
		}
		stored, err := b.svc.Get(ctx, b.user.ID, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := b.store.Events(ctx, j.ID, prev.Seq, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("report %d: events %v, %v", i, evs, err)
		}
		got, ok := prev.Next(evs[0])
		if !ok {
			t.Fatalf("report %d: Next refused %+v", i, evs[0])
		}
		if !sameSnapshot(got, stored) || got.Node != stored.Node || got.UserID != stored.UserID || got.TokensOut != stored.TokensOut {
			t.Fatalf("report %d: Next gives %+v, the store has %+v", i, got, stored)
		}
		prev = stored
	}
}

// sameSnapshot reports whether two jobs look the same to a client.
func sameSnapshot(a, b jobs.Job) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
