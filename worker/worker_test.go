package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/store"
)

// slowProvider streams a chunk every 10 ms until it has sent n or ctx ends.
type slowProvider struct{ n int }

func (slowProvider) Name() string       { return "slow" }
func (slowProvider) Model() string      { return "slow-1" }
func (slowProvider) NeedsKey() bool     { return false }
func (slowProvider) HasServerKey() bool { return false }

func (p slowProvider) Generate(ctx context.Context, _ ai.Request, emit func(string)) (ai.Response, error) {
	for i := 0; i < p.n; i++ {
		select {
		case <-ctx.Done():
			return ai.Response{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		emit("word ")
	}
	return ai.Response{Text: `{"answer": "done"}`}, nil
}

func setup(t *testing.T) (*jobs.Service, *store.Store, jobs.Job) {
	t.Helper()
	ctx := context.Background()
	st := jobstest.Store(t, "sqlite", nil)
	u, _, err := st.EnsureUser(ctx, "wren", 10)
	if err != nil {
		t.Fatal(err)
	}
	svc := jobstest.Service(t, st, jobs.Config{})
	j, _, err := svc.Submit(ctx, u, jobs.SubmitRequest{Input: "plan my week"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, j
}

// TestAttemptTakenAway: an attempt that is handed back (its node was
// declared dead) or cancelled while it streams stops at its next write and
// never completes the job.
func TestAttemptTakenAway(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		takeAway   func(ctx context.Context, svc *jobs.Service, j jobs.Job) error
		wantStatus jobs.Status
	}{
		{"handed back", func(ctx context.Context, svc *jobs.Service, j jobs.Job) error {
			_, err := svc.Abandon(ctx, j.ID, 1, false, jobs.Error{Code: "worker_lost", Message: "gone"})
			return err
		}, jobs.StatusRetrying},
		{"cancelled", func(ctx context.Context, svc *jobs.Service, j jobs.Job) error {
			_, err := svc.Cancel(ctx, j.UserID, j.ID)
			return err
		}, jobs.StatusCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc, st, j := setup(t)
			w := New(svc, slowProvider{n: 300}, Config{Logger: slog.New(slog.DiscardHandler)})
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- w.Run(ctx, queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}) }()
			for {
				got, err := st.Job(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == jobs.StatusWorking && got.Progress > 5 {
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("the attempt never reported output: %+v", got)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := c.takeAway(ctx, svc, j); err != nil {
				t.Fatal(err)
			}
			taken, _ := st.Job(ctx, j.ID)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil (the job is no longer this attempt's)", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the attempt went on streaming after it was taken away")
			}
			got, _ := st.Job(ctx, j.ID)
			if got.Status != c.wantStatus || got.Seq != taken.Seq {
				t.Errorf("after the attempt was taken away the job moved on: %s seq %d, want %s seq %d", got.Status, got.Seq, c.wantStatus, taken.Seq)
			}
		})
	}
}
