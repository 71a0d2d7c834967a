package jobs_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/store"
)

// bundle is a Service on a real SQLite store in a temporary directory.
type bundle struct {
	svc   *jobs.Service
	store *store.Store
	user  jobs.User
}

func setup(t *testing.T) *bundle {
	t.Helper()
	st := jobstest.Store(t, "sqlite", nil)
	u, _, err := st.EnsureUser(context.Background(), "tess", 10)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{svc: jobstest.Service(t, st, jobs.Config{}), store: st, user: u}
}

func (b *bundle) submit(t *testing.T) jobs.Job {
	t.Helper()
	j, created, err := b.svc.Submit(context.Background(), b.user, jobs.SubmitRequest{Input: "hello"})
	if err != nil || !created {
		t.Fatalf("submit: %v (created %v)", err, created)
	}
	return j
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestFencingByAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	if _, err := b.svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	// River rescues the job: attempt 2 starts while attempt 1 still runs.
	if _, err := b.svc.Start(ctx, j.ID, 2, "node-a"); err != nil {
		t.Fatal(err)
	}
	_, err := b.svc.Report(ctx, j.ID, 1, jobs.IntentGeneral, "stale text", 50)
	mustErr(t, err, jobs.ErrStale)
	_, err = b.svc.Complete(ctx, j.ID, 1, jobs.Result{Intent: jobs.IntentGeneral}, jobs.Tokens{})
	mustErr(t, err, jobs.ErrStale)
	// Attempt 1 may not start again either.
	_, err = b.svc.Start(ctx, j.ID, 1, "node-a")
	mustErr(t, err, jobs.ErrStale)
	got, err := b.svc.Complete(ctx, j.ID, 2, jobs.Result{Intent: jobs.IntentGeneral}, jobs.Tokens{In: 3, Out: 4})
	if err != nil || got.Status != jobs.StatusCompleted || got.Progress != 100 || got.Attempt != 2 {
		t.Fatalf("complete by attempt 2: %+v, %v", got, err)
	}
}

func TestCancelledNeverCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	b.svc.Start(ctx, j.ID, 1, "node-a")
	c, err := b.svc.Cancel(ctx, b.user.ID, j.ID)
	if err != nil || c.Status != jobs.StatusCancelled || !c.Terminal {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	_, err = b.svc.Complete(ctx, j.ID, 1, jobs.Result{}, jobs.Tokens{})
	mustErr(t, err, jobs.ErrTerminal)
	_, err = b.svc.Fail(ctx, j.ID, 1, jobs.Error{Code: "x"}, jobs.Tokens{})
	mustErr(t, err, jobs.ErrTerminal)
	_, err = b.svc.Cancel(ctx, b.user.ID, j.ID)
	mustErr(t, err, jobs.ErrTerminal)
	if !jobs.Lost(jobs.ErrTerminal) || !jobs.Lost(jobs.ErrStale) {
		t.Error("Lost does not recognise a lost job")
	}
}

func TestProgressNeverGoesBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	b.svc.Start(ctx, j.ID, 1, "node-a")
	for _, c := range []struct{ report, want int }{{30, 30}, {10, 30}, {100, 99}, {50, 99}} {
		got, err := b.svc.Report(ctx, j.ID, 1, "", "x", c.report)
		if err != nil || got.Progress != c.want {
			t.Errorf("report %d: progress %d (%v), want %d", c.report, got.Progress, err, c.want)
		}
	}
}

func TestRetryThenFailOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	b.svc.Start(ctx, j.ID, 1, "node-a")
	at := time.Now().Add(time.Second)
	r, err := b.svc.Retrying(ctx, j.ID, 1, at, jobs.Error{Code: "rate_limited"}, jobs.Tokens{In: 5})
	if err != nil || r.Status != jobs.StatusRetrying || r.RetryAt == nil || r.Terminal {
		t.Fatalf("retrying: %+v %v", r, err)
	}
	// An interrupted attempt may start again; a retried one moves on.
	if _, err := b.svc.Start(ctx, j.ID, 2, "node-a"); err != nil {
		t.Fatal(err)
	}
	f, err := b.svc.Fail(ctx, j.ID, 2, jobs.Error{Code: "rate_limited", Message: "still limited"}, jobs.Tokens{In: 5})
	if err != nil || f.Status != jobs.StatusFailed || f.Error.Code != "rate_limited" || f.TokensIn != 10 {
		t.Fatalf("fail: %+v %v", f, err)
	}
	_, err = b.svc.Fail(ctx, j.ID, 2, jobs.Error{Code: "again"}, jobs.Tokens{})
	mustErr(t, err, jobs.ErrTerminal)
	// The log holds every change, in order.
	evs, err := b.store.Events(ctx, j.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []jobs.EventType
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		types = append(types, ev.Type)
	}
	want := []jobs.EventType{jobs.EventStatus, jobs.EventStatus, jobs.EventStatus, jobs.EventStatus, jobs.EventFailed}
	if !slices.Equal(types, want) {
		t.Fatalf("event types %v, want %v", types, want)
	}
}

func TestWatchUserAfterExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	old := b.submit(t) // user seq 1
	b.svc.Start(ctx, old.ID, 1, "node-a")
	b.svc.Fail(ctx, old.ID, 1, jobs.Error{Code: "x"}, jobs.Tokens{}) // user seqs 2, 3
	kept := b.submit(t)                                              // user seq 4
	b.svc.Start(ctx, kept.ID, 1, "node-a")                           // 5
	if n, err := b.store.DeleteExpired(ctx, time.Now().Add(30*24*time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("delete expired: %d %v", n, err)
	}
	// A client last saw user seq 1: the old job is gone, the kept job's whole
	// log comes, with no snapshot and nothing skipped.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var got []int64
	err := b.svc.WatchUser(ctx, b.user.ID, jobs.WatchOptions{After: 1}, func(ev *jobs.Shared) error {
		if ev.JobID != kept.ID || ev.Type == jobs.EventSnapshot || ev.Type == jobs.EventResync {
			t.Errorf("unexpected event %+v", ev.Event)
		}
		got = append(got, ev.UserSeq)
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || !slices.Equal(got, []int64{4, 5}) {
		t.Errorf("user seqs %v (%v), want [4 5]", got, err)
	}
}

func TestUserStreamSeesNewJobAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan jobs.Event, 1)
	watching := make(chan struct{})
	go b.svc.WatchUser(ctx, b.user.ID, jobs.WatchOptions{After: 0, Heartbeat: 10 * time.Millisecond, Beat: func() error {
		select {
		case <-watching:
		default:
			close(watching)
		}
		return nil
	}}, func(ev *jobs.Shared) error { got <- ev.Event; return nil })
	<-watching // subscribed and caught up
	j := b.submit(t)
	select {
	case ev := <-got:
		if ev.JobID != j.ID || ev.UserSeq != 1 || ev.Status != jobs.StatusQueued {
			t.Errorf("first event = %+v", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the queued event of a new job never reached the user stream")
	}
}

// TestAbandon: a handed-back attempt can no longer write, the hand-back is
// written once, and the last attempt's hand-back fails the job.
func TestAbandon(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.submit(t)
	lost := jobs.Error{Code: "worker_lost", Message: "gone"}
	if _, err := b.svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	r, err := b.svc.Abandon(ctx, j.ID, 1, false, lost)
	if err != nil || r.Status != jobs.StatusRetrying || r.Terminal {
		t.Fatalf("abandon attempt 1: %+v %v, want retrying", r, err)
	}
	// The old worker is fenced out although its attempt number is current.
	_, err = b.svc.Report(ctx, j.ID, 1, jobs.IntentGeneral, "ghost text", 50)
	mustErr(t, err, jobs.ErrStale)
	_, err = b.svc.Complete(ctx, j.ID, 1, jobs.Result{Intent: jobs.IntentGeneral}, jobs.Tokens{})
	mustErr(t, err, jobs.ErrStale)
	// A second sweep writes nothing.
	_, err = b.svc.Abandon(ctx, j.ID, 1, false, lost)
	mustErr(t, err, jobs.ErrStale)
	if now, _ := b.store.Job(ctx, j.ID); now.Seq != r.Seq {
		t.Errorf("a repeated hand-back wrote: seq %d, was %d", now.Seq, r.Seq)
	}
	// The next attempt runs; when it too is lost with none left, the job fails.
	if _, err := b.svc.Start(ctx, j.ID, 2, "node-b"); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Abandon(ctx, j.ID, 1, true, lost)
	mustErr(t, err, jobs.ErrStale)
	f, err := b.svc.Abandon(ctx, j.ID, 2, true, lost)
	if err != nil || f.Status != jobs.StatusFailed || !f.Terminal || f.Error == nil || f.Error.Code != "worker_lost" {
		t.Fatalf("abandon the last attempt: %+v %v, want failed with worker_lost", f, err)
	}
	evs, err := b.store.Events(ctx, j.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if last := i == len(evs)-1; ev.Terminal != last {
			t.Errorf("event %d (%s): terminal %v, want %v", ev.Seq, ev.Type, ev.Terminal, last)
		}
	}
	_, err = b.svc.Abandon(ctx, j.ID, 2, true, lost)
	mustErr(t, err, jobs.ErrTerminal)
}
