package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/store"
)

// fakeRunner records what the queue asks of it; run decides each attempt,
// and abandoned attempts are recorded on the job through the real service.
type fakeRunner struct {
	run func(ctx context.Context, a Attempt) error
	svc *jobs.Service

	mu        sync.Mutex
	abandoned []abandonCall
}

type abandonCall struct {
	a     Attempt
	final bool
	code  string
}

func (f *fakeRunner) Run(ctx context.Context, a Attempt) error { return f.run(ctx, a) }

func (f *fakeRunner) Abandon(ctx context.Context, a Attempt, final bool, why jobs.Error) error {
	f.mu.Lock()
	f.abandoned = append(f.abandoned, abandonCall{a: Attempt{JobID: a.JobID, Number: a.Number}, final: final, code: why.Code})
	f.mu.Unlock()
	if _, err := f.svc.Abandon(ctx, a.JobID, a.Number, final, why); err != nil && !jobs.Lost(err) {
		return err
	}
	return nil
}

// newRunner returns a fakeRunner whose attempts run with run.
func newRunner(t *testing.T, st *store.Store, run func(ctx context.Context, a Attempt) error) *fakeRunner {
	t.Helper()
	return &fakeRunner{run: run, svc: jobstest.Service(t, st, jobs.Config{})}
}

// wantJob checks the job's status and error code as a client would see them.
func wantJob(t *testing.T, st *store.Store, id string, status jobs.Status, code string) {
	t.Helper()
	j, err := st.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if j.Error != nil {
		got = j.Error.Code
	}
	if j.Status != status || got != code {
		t.Errorf("job is %s with error code %q, want %s with %q", j.Status, got, status, code)
	}
}

func (f *fakeRunner) calls() []abandonCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]abandonCall(nil), f.abandoned...)
}

// openStore opens a fresh store with River's tables.
func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	return jobstest.Store(t, db, Migrate)
}

// forEachDB runs f on SQLite and PostgreSQL.
func forEachDB(t *testing.T, f func(t *testing.T, db string)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			f(t, db)
		})
	}
}

// submit writes a job with its River job, as the API's submit does.
func submit(t *testing.T, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	u, _, err := st.EnsureUser(ctx, "quinn", 100)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	id := "job_" + strings.ToLower(rand.Text())
	_, _, err = st.Create(ctx, jobs.NewJob{
		Job:   jobs.Job{UserID: u.ID, Job: jobtype.Job{ID: id, Status: jobs.StatusQueued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}},
		First: jobs.Event{Event: jobtype.Event{Type: jobs.EventStatus, At: now, Status: jobs.StatusQueued}},
		Input: "x", Day: now.Format(time.DateOnly), Quota: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// riverJob reads the only River job of kind aijobs_run.
func riverJob(t *testing.T, q *Queue) *rivertype.JobRow {
	t.Helper()
	res, err := q.client().JobList(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		if j.Kind == (RunArgs{}).Kind() {
			return j
		}
	}
	t.Fatal("no aijobs_run River job")
	return nil
}

// claimAs makes node fetch the job the way a River producer does, so it
// is running, attempted by node, as if node then died.
func claimAs(t *testing.T, q *Queue, node string) {
	t.Helper()
	now := time.Now()
	got, err := q.exec.JobGetAvailable(context.Background(), &riverdriver.JobGetAvailableParams{
		ClientID: node, MaxAttemptedBy: 100, MaxToLock: 10, Now: &now, Queue: "default",
	})
	if err != nil || len(got.Jobs) != 1 {
		t.Fatalf("claim the job as %s: %+v, %v", node, got, err)
	}
}

func newQueue(t *testing.T, st *store.Store, r Runner, cfg Config) *Queue {
	t.Helper()
	cfg.Work = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	q, err := New(st, r, func(context.Context) (int, error) { return 0, nil }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSweepHandsBackDeadNodesAttempts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		maxAttempts int
		wantFinal   bool
		wantState   rivertype.JobState
		wantStatus  jobs.Status
		wantCode    string // a retrying job's reason is on its event, not on the job
	}{
		{"attempts left: runs again at once", 3, false, rivertype.JobStateAvailable, jobs.StatusRetrying, ""},
		{"last attempt: failed with worker_lost", 1, true, rivertype.JobStateDiscarded, jobs.StatusFailed, "worker_lost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db string) {
				ctx := context.Background()
				st := openStore(t, db)
				r := newRunner(t, st, nil)
				q := newQueue(t, st, r, Config{Node: "alive", MaxAttempts: c.maxAttempts})
				id := submit(t, st)
				now := time.Now()
				if err := st.RegisterNode(ctx, "dead", 1, now.Add(-time.Minute), now.Add(-time.Second)); err != nil {
					t.Fatal(err)
				}
				if err := st.RegisterNode(ctx, "alive", 1, now, now.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				claimAs(t, q, "dead")

				if err := q.tick(ctx); err != nil {
					t.Fatal(err)
				}
				calls := r.calls()
				want := abandonCall{a: Attempt{JobID: id, Number: 1}, final: c.wantFinal, code: "worker_lost"}
				if len(calls) != 1 || calls[0] != want {
					t.Fatalf("abandoned %+v, want exactly %+v", calls, want)
				}
				if got := riverJob(t, q).State; got != c.wantState {
					t.Errorf("River job is %s after the sweep, want %s", got, c.wantState)
				}
				wantJob(t, st, id, c.wantStatus, c.wantCode)
				live, lapsed, err := st.Nodes(ctx, time.Now())
				if err != nil || len(live) != 1 || live[0] != "alive" || len(lapsed) != 0 {
					t.Errorf("leases after the sweep: live %v lapsed %v (%v), want only alive", live, lapsed, err)
				}
				// A second sweep finds nothing more to do.
				if err := q.tick(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(r.calls()); n != 1 {
					t.Errorf("a second sweep abandoned again: %+v", r.calls())
				}
			})
		})
	}
}

func TestSweepLeavesLiveNodesAlone(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openStore(t, db)
		r := newRunner(t, st, nil)
		q := newQueue(t, st, r, Config{Node: "alive"})
		submit(t, st)
		now := time.Now()
		for _, n := range []string{"alive", "busy"} {
			if err := st.RegisterNode(ctx, n, 1, now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		claimAs(t, q, "busy")
		if err := q.tick(ctx); err != nil {
			t.Fatal(err)
		}
		if calls := r.calls(); len(calls) != 0 {
			t.Fatalf("the sweep abandoned a live node's attempt: %+v", calls)
		}
		if got := riverJob(t, q).State; got != rivertype.JobStateRunning {
			t.Errorf("River job is %s, want still running", got)
		}
	})
}

func TestOrphanWhoseRiverJobWasDeleted(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openStore(t, db)
		r := newRunner(t, st, nil)
		q := newQueue(t, st, r, Config{Node: "alive"})
		id := submit(t, st)
		if _, err := q.client().JobDelete(ctx, riverJob(t, q).ID); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := st.RegisterNode(ctx, "alive", 1, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := q.tick(ctx); err != nil {
			t.Fatal(err)
		}
		want := abandonCall{a: Attempt{JobID: id}, final: true, code: "worker_lost"}
		if calls := r.calls(); len(calls) != 1 || calls[0] != want {
			t.Fatalf("abandoned %+v, want exactly %+v", calls, want)
		}
		wantJob(t, st, id, jobs.StatusFailed, "worker_lost")
	})
}

// TestLastAttemptWithoutOutcome: a panic or an infrastructure error on the
// last attempt is recorded (failed), not left to River's discard.
func TestLastAttemptWithoutOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(ctx context.Context, a Attempt) error
	}{
		{"panic", func(context.Context, Attempt) error { panic("boom") }},
		{"store error", func(context.Context, Attempt) error {
			return &RetryError{At: time.Now(), Err: errors.New("record outcome: database is gone")}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db string) {
				st := openStore(t, db)
				r := newRunner(t, st, c.run)
				q := newQueue(t, st, r, Config{Node: "n1", MaxAttempts: 1, PollInterval: 20 * time.Millisecond})
				id := submit(t, st)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- q.Run(ctx, time.Second) }()
				deadline := time.Now().Add(10 * time.Second)
				for len(r.calls()) == 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				want := abandonCall{a: Attempt{JobID: id, Number: 1}, final: true, code: "internal_error"}
				if calls := r.calls(); len(calls) != 1 || calls[0] != want {
					t.Fatalf("abandoned %+v, want exactly %+v", calls, want)
				}
				if got := riverJob(t, q).State; got != rivertype.JobStateCancelled {
					t.Errorf("River job is %s, want cancelled (finished, not to be retried)", got)
				}
				wantJob(t, st, id, jobs.StatusFailed, "internal_error")
			})
		})
	}
}
