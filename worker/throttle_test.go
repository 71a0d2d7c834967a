package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/throttle"
)

const paris = `{"answer":"Paris is the capital of France.","key_points":["Paris"]}`

// downProvider fails with a 503-like error until up is closed, then
// answers.
type downProvider struct {
	mu    sync.Mutex
	up    bool
	calls int
}

func (*downProvider) Name() string       { return "down" }
func (*downProvider) Model() string      { return "down-1" }
func (*downProvider) NeedsKey() bool     { return false }
func (*downProvider) HasServerKey() bool { return false }

func (p *downProvider) Generate(ctx context.Context, _ ai.Request, emit func(string)) (ai.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if !p.up {
		return ai.Response{}, &ai.Error{Code: jobtype.CodeProviderError, Retryable: true, Message: "down: HTTP 503 Service Unavailable"}
	}
	emit(paris)
	return ai.Response{Text: paris}, nil
}

func (p *downProvider) setUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

// runAsQueue runs attempt a as the queue would: a RetryError for the same
// attempt runs it again when it is due.
func runAsQueue(t *testing.T, w *Worker, a queue.Attempt, each func(n int)) error {
	t.Helper()
	for n := 0; ; n++ {
		err := w.Run(context.Background(), a)
		var retry *queue.RetryError
		if !errors.As(err, &retry) || !retry.SameAttempt {
			return err
		}
		if each != nil {
			each(n)
		}
		time.Sleep(time.Until(retry.At))
	}
}

// TestProviderTroubleUsesNoAttempt: with a throttle, a provider that fails
// temporarily suspends the attempt (retrying with the reason
// waiting_for_provider, the same attempt next) until it answers; the job
// completes on attempt 1.
func TestProviderTroubleUsesNoAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, j := setupWith(t, "What is the capital of France?")
	p := &downProvider{}
	th := throttle.New(st, throttle.Config{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, OpenAfter: 3, Poll: 10 * time.Millisecond})
	w := New(svc, p, Config{Throttle: th, FlushEvery: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	sawReason := false
	err := runAsQueue(t, w, queue.Attempt{JobID: j.ID, Number: 1, Max: 1, Node: "n1"}, func(n int) {
		got, _ := st.Job(ctx, j.ID)
		sawReason = sawReason || (got.Status == jobtype.StatusRetrying && got.Reason == jobtype.ReasonWaitingForProvider)
		if n == 5 {
			p.setUp()
		}
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, _ := st.Job(ctx, j.ID)
	if got.Status != jobtype.StatusCompleted || got.Attempt != 1 || got.Reason != "" {
		t.Fatalf("job %s on attempt %d, reason %q: want completed on attempt 1 (of 1), no reason", got.Status, got.Attempt, got.Reason)
	}
	if !sawReason {
		t.Error("the job never showed retrying with the reason waiting_for_provider")
	}
	if s, _ := th.Peek(ctx, "down/down-1"); s.Open || s.Failures != 0 {
		t.Errorf("the provider's state after it answered: %+v, want closed", s)
	}
}

// TestProviderWaitRunsOut: a job whose provider stays down longer than the
// provider wait fails with provider_unavailable, on its first attempt.
func TestProviderWaitRunsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, j := setupWith(t, "What is the capital of France?")
	th := throttle.New(st, throttle.Config{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond})
	w := New(svc, &downProvider{}, Config{Throttle: th, ProviderWait: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	start := time.Now()
	err := runAsQueue(t, w, queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}, nil)
	if !errors.Is(err, errFinished) {
		t.Fatalf("Run: %v, want the job finished", err)
	}
	got, _ := st.Job(ctx, j.ID)
	if got.Status != jobtype.StatusFailed || got.Attempt != 1 || got.Error == nil || got.Error.Code != jobtype.CodeProviderUnavailable {
		t.Fatalf("job %s on attempt %d, error %+v: want failed with provider_unavailable on attempt 1", got.Status, got.Attempt, got.Error)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %v, want soon after the 300 ms provider wait", took)
	}
}

// TestWaitForCapacityShows: a job whose slot is more than a second away
// shows queued with the reason waiting_for_capacity, then runs.
func TestWaitForCapacityShows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, j := setupWith(t, "What is the capital of France?")
	th := throttle.New(st, throttle.Config{RPM: 40}) // 1.5 s apart
	if _, err := th.Take(ctx, throttle.Call{Key: "down/down-1"}); err != nil {
		t.Fatal(err)
	}
	p := &downProvider{up: true}
	w := New(svc, p, Config{Throttle: th, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}) }()
	deadline := time.Now().Add(time.Second)
	for {
		got, _ := st.Job(ctx, j.ID)
		if got.Status == jobtype.StatusQueued && got.Reason == jobtype.ReasonWaitingForCapacity && got.RetryAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job while its slot is 1.5 s away: %s reason %q", got.Status, got.Reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Job(ctx, j.ID); got.Status != jobtype.StatusCompleted || got.Reason != "" {
		t.Fatalf("job %s reason %q, want completed", got.Status, got.Reason)
	}
}

// TestProviderWaitDefault is the sibling of TestProviderWaitRunsOut at the
// default provider wait (throttle.DefaultWait, 10 min, with Config's zero):
// a job that began waiting 11 minutes ago fails with provider_unavailable,
// one that began 5 minutes ago goes on waiting.
func TestProviderWaitDefault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		waited   time.Duration
		wantFail bool
	}{{11 * time.Minute, true}, {5 * time.Minute, false}} {
		t.Run(c.waited.String(), func(t *testing.T) {
			t.Parallel()
			svc, st, j := setupWith(t, "What is the capital of France?")
			since := time.Now().Add(-c.waited).UnixMicro()
			if _, err := st.DB().Exec(`UPDATE aijobs_jobs SET waiting_since = ? WHERE id = ?`, since, j.ID); err != nil {
				t.Fatal(err)
			}
			th := throttle.New(st, throttle.Config{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond})
			w := New(svc, &downProvider{}, Config{Throttle: th, Logger: slog.New(slog.DiscardHandler)})
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			a := queue.Attempt{JobID: j.ID, Number: 1, Max: 3, Node: "n1"}
			for ctx.Err() == nil {
				var retry *queue.RetryError
				if err := w.Run(ctx, a); !errors.As(err, &retry) || !retry.SameAttempt {
					break
				}
			}
			got, _ := st.Job(context.Background(), j.ID)
			failed := got.Status == jobtype.StatusFailed && got.Error != nil && got.Error.Code == jobtype.CodeProviderUnavailable
			if failed != c.wantFail {
				t.Errorf("waiting since %s ago, with the default provider wait: job %s (error %+v), want failed with provider_unavailable: %v", c.waited, got.Status, got.Error, c.wantFail)
			}
		})
	}
}
