package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
)

// countingStore counts the job reads that polls make.
type countingStore struct {
	*store.Store
	reads atomic.Int64
}

func (c *countingStore) Job(ctx context.Context, id string) (jobs.Job, error) {
	c.reads.Add(1)
	return c.Store.Job(ctx, id)
}

func (c *countingStore) UserJob(ctx context.Context, userID, id string) (jobs.Job, error) {
	c.reads.Add(1)
	return c.Store.UserJob(ctx, userID, id)
}

// liveBundle is two nodes (Services, each with its own hub) on one store
// whose reads are counted.
type liveBundle struct {
	a, b  *jobs.Service
	st    *countingStore
	user  jobs.User
	other jobs.User
}

func setupLive(t *testing.T, cfg jobs.Config) *liveBundle {
	t.Helper()
	st := &countingStore{Store: jobstest.Store(t, "sqlite", nil)}
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	lb := &liveBundle{st: st,
		a: jobs.NewService(st, hub.New(0), keys, cfg), b: jobs.NewService(st, hub.New(0), keys, cfg)}
	ctx := context.Background()
	if lb.user, _, err = st.EnsureUser(ctx, "tess", 10); err != nil {
		t.Fatal(err)
	}
	if lb.other, _, err = st.EnsureUser(ctx, "mallory", 10); err != nil {
		t.Fatal(err)
	}
	return lb
}

// running submits a job on node a and starts it there.
func (lb *liveBundle) running(t *testing.T) jobs.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := lb.a.Submit(ctx, lb.user, jobs.SubmitRequest{Input: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if j, err = lb.a.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	return j
}

// poll reads the job on svc and says how many store reads it took.
func (lb *liveBundle) poll(t *testing.T, svc *jobs.Service, id string) (jobs.Job, int64) {
	t.Helper()
	before := lb.st.reads.Load()
	j, err := svc.Get(context.Background(), lb.user.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return j, lb.st.reads.Load() - before
}

func TestLivePollOfRunningJobReadsNothing(t *testing.T) {
	t.Parallel()
	lb := setupLive(t, jobs.Config{})
	ctx := context.Background()
	j := lb.running(t)
	for range 100 {
		if got, reads := lb.poll(t, lb.a, j.ID); reads != 0 || got.Seq != j.Seq {
			t.Fatalf("poll of a running job: seq %d (want %d), %d store reads (want 0)", got.Seq, j.Seq, reads)
		}
	}
	next, err := lb.a.Report(ctx, j.ID, 1, jobs.IntentGeneral, "some text", 40)
	if err != nil {
		t.Fatal(err)
	}
	if got, reads := lb.poll(t, lb.a, j.ID); reads != 0 || got.Seq != next.Seq || got.Progress != 40 {
		t.Fatalf("poll after a progress change: seq %d progress %d, %d reads; want seq %d progress 40, 0 reads",
			got.Seq, got.Progress, reads, next.Seq)
	}
	// A long-poll is answered from the same state, at once and when the
	// job changes.
	before := lb.st.reads.Load()
	snap, err := lb.a.Wait(ctx, lb.user.ID, j.ID, next.Seq-1, time.Second)
	if err != nil || snap.Job.Seq != next.Seq {
		t.Fatalf("Wait behind: %v, seq %d", err, snap.Job.Seq)
	}
	done := make(chan *jobs.Snapshot)
	go func() {
		snap, _ := lb.a.Wait(ctx, lb.user.ID, j.ID, next.Seq, 10*time.Second)
		done <- snap
	}()
	time.Sleep(50 * time.Millisecond) // let it subscribe; it still ends correctly if not
	last, err := lb.a.Report(ctx, j.ID, 1, jobs.IntentGeneral, "more text", 60)
	if err != nil {
		t.Fatal(err)
	}
	if snap := <-done; snap == nil || snap.Job.Seq != last.Seq || snap.Job.Progress != 60 {
		t.Fatalf("Wait answered %+v, want seq %d progress 60", snap, last.Seq)
	}
	if reads := lb.st.reads.Load() - before; reads != 0 {
		t.Errorf("long-polls made %d store reads, want 0", reads)
	}
}

func TestLiveNeverServesAnotherUsersJob(t *testing.T) {
	t.Parallel()
	lb := setupLive(t, jobs.Config{})
	j := lb.running(t)
	if _, err := lb.a.Get(context.Background(), lb.other.ID, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("another user's Get of a held job: %v, want ErrNotFound", err)
	}
	if _, err := lb.a.Wait(context.Background(), lb.other.ID, j.ID, 0, time.Second); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("another user's Wait of a held job: %v, want ErrNotFound", err)
	}
}

func TestLiveOtherNodesChange(t *testing.T) {
	t.Parallel()
	lb := setupLive(t, jobs.Config{LiveFor: time.Hour})
	ctx := context.Background()
	j := lb.running(t)
	if got, reads := lb.poll(t, lb.b, j.ID); got.Seq != j.Seq || reads != 1 {
		t.Fatalf("first poll on node b: seq %d, %d reads; want seq %d, 1 read", got.Seq, reads, j.Seq)
	}
	next, err := lb.a.Report(ctx, j.ID, 1, jobs.IntentGeneral, "text", 30)
	if err != nil {
		t.Fatal(err)
	}
	// Node b heard nothing yet (no notifier here): it answers what it holds.
	if got, reads := lb.poll(t, lb.b, j.ID); got.Seq != j.Seq || reads != 0 {
		t.Fatalf("poll on b before the notification: seq %d, %d reads", got.Seq, reads)
	}
	lb.b.Changed(j.ID, next.Seq)
	if got, reads := lb.poll(t, lb.b, j.ID); got.Seq != next.Seq || reads != 1 {
		t.Fatalf("poll on b after the notification: seq %d, %d reads; want seq %d, 1 read", got.Seq, reads, next.Seq)
	}
	// An older notification changes nothing.
	lb.b.Changed(j.ID, j.Seq)
	if got, reads := lb.poll(t, lb.b, j.ID); got.Seq != next.Seq || reads != 0 {
		t.Fatalf("poll on b after an old notification: seq %d, %d reads", got.Seq, reads)
	}
}

// TestLiveStalenessIsBounded: a node that missed another node's change
// answers the new version once LiveFor has passed — a short one, and the
// default (jobs.DefaultLiveFor) that users get.
func TestLiveStalenessIsBounded(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		cfg   jobs.Config
		bound time.Duration
	}{
		{"100ms", jobs.Config{LiveFor: 100 * time.Millisecond}, 100 * time.Millisecond},
		{"default", jobs.Config{}, jobs.DefaultLiveFor},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lb := setupLive(t, tt.cfg)
			j := lb.running(t)
			lb.poll(t, lb.b, j.ID)
			next, err := lb.a.Report(context.Background(), j.ID, 1, jobs.IntentGeneral, "text", 30)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(tt.bound)
			if got, _ := lb.poll(t, lb.b, j.ID); got.Seq != next.Seq {
				t.Fatalf("after %v, node b still answers seq %d, want %d", tt.bound, got.Seq, next.Seq)
			}
		})
	}
}

func TestLiveUntrustedReadsTheStore(t *testing.T) {
	t.Parallel()
	lb := setupLive(t, jobs.Config{LiveFor: time.Hour})
	ctx := context.Background()
	j := lb.running(t)
	lb.poll(t, lb.b, j.ID)
	lb.b.Trust(false) // the listener is lost
	next, err := lb.a.Report(ctx, j.ID, 1, jobs.IntentGeneral, "text", 30)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, reads := lb.poll(t, lb.b, j.ID); got.Seq != next.Seq || reads != 1 {
			t.Fatalf("untrusted poll: seq %d, %d reads; want seq %d, 1 read each", got.Seq, reads, next.Seq)
		}
	}
	lb.b.Trust(true) // reconnected: it fills again from fresh reads
	if _, reads := lb.poll(t, lb.b, j.ID); reads != 1 {
		t.Fatalf("first poll after reconnecting made %d reads, want 1", reads)
	}
	if _, reads := lb.poll(t, lb.b, j.ID); reads != 0 {
		t.Fatalf("second poll after reconnecting made %d reads, want 0", reads)
	}
}

func TestLiveIsBoundedAndEndsWithTheJob(t *testing.T) {
	t.Parallel()
	lb := setupLive(t, jobs.Config{LiveJobs: 2})
	ctx := context.Background()
	js := []jobs.Job{lb.running(t), lb.running(t), lb.running(t)}
	if _, reads := lb.poll(t, lb.a, js[0].ID); reads != 1 {
		t.Fatalf("the least recently used job was kept beyond LiveJobs (%d reads)", reads)
	}
	if _, reads := lb.poll(t, lb.a, js[2].ID); reads != 0 {
		t.Fatalf("a recent job was not kept (%d reads)", reads)
	}
	done, err := lb.a.Complete(ctx, js[2].ID, 1, jobs.Result{Intent: jobs.IntentGeneral, Text: "done"}, jobs.Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if got, reads := lb.poll(t, lb.a, js[2].ID); reads != 0 || !got.Terminal || got.Seq != done.Seq {
		t.Fatalf("the finished job: terminal %v seq %d, %d reads; want the finished cache to answer", got.Terminal, got.Seq, reads)
	}
}
