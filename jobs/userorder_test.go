package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/secret"
)

// TestUserStreamAcrossOutOfOrderCommits: on PostgreSQL a user's events are
// ordered by the transactions that wrote them, which commit in any order.
// Job A's change is written by the older transaction but commits after job
// B's: the user stream must not hand out B's event while A's can still
// come before it, then send both in order; and a client resuming from any
// position it was given misses nothing.
func TestUserStreamAcrossOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := jobstest.Store(t, "postgres", nil)
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(0)
	svc := jobs.NewService(st, h, keys, jobs.Config{})
	u, _, err := st.EnsureUser(ctx, "ursula", 100)
	if err != nil {
		t.Fatal(err)
	}
	submit := func() jobs.Job {
		j, _, err := svc.Submit(ctx, u, jobs.SubmitRequest{Input: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	a, b := submit(), submit()

	got := make(chan jobs.Event, 16)
	watch := func(after int64) {
		go svc.WatchUser(ctx, u.ID, jobs.WatchOptions{After: after}, func(ev *jobs.Shared) error {
			got <- ev.Event
			return nil
		})
	}
	watch(-1)
	for range 2 {
		if ev := next(t, got, 5*time.Second); ev.Type != jobs.EventSnapshot {
			t.Fatalf("first events: %s, want the snapshots", ev.Type)
		}
	}

	// progress writes a change of job id, holding its transaction open
	// until release is closed, and publishes it once committed.
	progress := func(id string, holding chan<- struct{}, release <-chan struct{}) <-chan jobs.Event {
		done := make(chan jobs.Event, 1)
		go func() {
			_, ev, err := st.Update(ctx, id, func(*jobs.Job) (*jobs.Event, error) {
				if holding != nil {
					close(holding)
					<-release
				}
				return &jobs.Event{Event: jobtype.Event{Type: jobs.EventProgress, Status: jobs.StatusQueued, Progress: 50}}, nil
			})
			if err != nil {
				t.Error(err)
			}
			h.Publish(ev)
			done <- ev
		}()
		return done
	}
	holding, release := make(chan struct{}), make(chan struct{})
	doneA := progress(a.ID, holding, release)
	<-holding
	evB := <-progress(b.ID, nil, nil)
	select {
	case ev := <-got:
		t.Fatalf("the user stream sent %s of %s while an older transaction was still open", ev.Type, ev.JobID)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	evA := <-doneA
	if evA.UserSeq >= evB.UserSeq {
		t.Fatalf("user seqs: A's (older transaction) %d, B's %d: want A's first", evA.UserSeq, evB.UserSeq)
	}
	for _, want := range []jobs.Event{evA, evB} {
		if ev := next(t, got, 5*time.Second); ev.JobID != want.JobID || ev.UserSeq != want.UserSeq {
			t.Fatalf("user stream sent %s's user seq %d, want %s's %d", ev.JobID, ev.UserSeq, want.JobID, want.UserSeq)
		}
	}
	// Resuming from A's position gives B's event, and nothing else.
	watch(evA.UserSeq)
	if ev := next(t, got, 5*time.Second); ev.JobID != b.ID || ev.UserSeq != evB.UserSeq {
		t.Fatalf("resumed after %d: %s's user seq %d, want %s's %d", evA.UserSeq, ev.JobID, ev.UserSeq, b.ID, evB.UserSeq)
	}
}

func next(t *testing.T, ch <-chan jobs.Event, timeout time.Duration) jobs.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
		return jobs.Event{}
	}
}
