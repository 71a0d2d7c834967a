package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/secret"
)

// TestSlowStreamIsDroppedAndResumes: a stream that stops reading while its
// job changes more than the hub buffers is dropped (ErrSlow), and a watch
// resumed from the last seq it sent gets every later event, none twice and
// none missing, up to the end.
func TestSlowStreamIsDroppedAndResumes(t *testing.T) {
	t.Parallel()
	st := jobstest.Store(t, "sqlite", nil)
	u, _, err := st.EnsureUser(context.Background(), "sam", 10)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := jobs.NewService(st, hub.New(2), keys, jobs.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, _, err := svc.Submit(ctx, u, jobs.SubmitRequest{Input: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	following, stuck, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	watched := make(chan error, 1)
	go func() {
		watched <- svc.Watch(ctx, u.ID, j.ID, jobs.WatchOptions{After: -1}, func(ev *jobs.Shared) error {
			seqs = append(seqs, ev.Seq)
			if ev.Type == jobs.EventSnapshot {
				close(following)
				return nil
			}
			once.Do(func() { close(stuck); <-release }) // the client stops reading
			return nil
		})
	}()
	<-following
	if _, err := svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck:
	case err := <-watched:
		t.Fatalf("the stream ended with %v (seqs %v) before the job changed", err, seqs)
	}
	for i := 1; i <= 10; i++ { // more than the 2 the hub buffers
		if _, err := svc.Report(ctx, j.ID, 1, jobs.IntentGeneral, "chunk", i*5); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-watched; !errors.Is(err, jobs.ErrSlow) {
		t.Fatalf("the slow stream ended with %v, want ErrSlow", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- svc.Watch(ctx, u.ID, j.ID, jobs.WatchOptions{After: seqs[len(seqs)-1]}, func(ev *jobs.Shared) error {
			seqs = append(seqs, ev.Seq)
			return nil
		})
	}()
	if _, err := svc.Complete(ctx, j.ID, 1, jobs.Result{Intent: jobs.IntentGeneral, Text: "done"}, jobs.Tokens{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the resumed stream ended with %v", err)
	}
	final, err := svc.Get(ctx, u.ID, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, seq := range seqs {
		if seq != seqs[0]+int64(i) {
			t.Fatalf("seqs %v: want every seq from %d to %d once, in order", seqs, seqs[0], final.Seq)
		}
	}
	if seqs[len(seqs)-1] != final.Seq {
		t.Fatalf("seqs %v end before the job's %d", seqs, final.Seq)
	}
}

// TestSharedHeartbeatBeatsEveryStream: many idle streams share one
// heartbeat, and every one of them is beaten, again and again.
func TestSharedHeartbeatBeatsEveryStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const streams, every = 50, 40 * time.Millisecond
	var wg sync.WaitGroup
	beaten := make(chan int, streams)
	for i := range streams {
		beats := 0
		wg.Go(func() {
			b.svc.WatchUser(ctx, b.user.ID, jobs.WatchOptions{After: 0, Heartbeat: every, Beat: func() error {
				if beats++; beats == 3 {
					beaten <- i
				}
				return nil
			}}, func(*jobs.Shared) error { return nil })
		})
	}
	timeout := time.After(30 * every)
	for n := 0; n < streams; n++ {
		select {
		case <-beaten:
		case <-timeout:
			t.Fatalf("only %d of %d streams had 3 heartbeats in %v", n, streams, 30*every)
		}
	}
	cancel()
	wg.Wait()
}
