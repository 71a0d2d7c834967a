package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// sleepRecorder stands in for the client's sleep: it records every pause
// and returns at once, so tests check the pacing without waiting for it.
type sleepRecorder struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// testClient returns a client of f with test-sized timeouts and a recorded
// sleep.
func testClient(t *testing.T, f *fakeServer) (*Client, *sleepRecorder) {
	t.Helper()
	c := New(f.srv.URL, f.token, &Options{UserAgent: "aijobs-test"})
	c.pollWait = 5 * time.Second
	c.minPoll = 10 * time.Millisecond
	c.minBackoff = time.Millisecond
	c.maxBackoff = 10 * time.Millisecond
	c.firstByteTimeout = 5 * time.Second
	c.idleTimeout = 5 * time.Second
	c.reconnectDelay = time.Millisecond
	rec := &sleepRecorder{}
	c.sleep = rec.sleep
	return c, rec
}

// testCtx is a context that ends with the test or after 20 s, whichever is
// first, so a hang fails instead of stalling the suite.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// driveOnPark emits the events one by one, each when a long-poll or a
// stream is waiting for it (signal), so the client sees every version.
func driveOnPark(t *testing.T, f *fakeServer, id string, signal <-chan struct{}, evs []jobtype.Event) {
	t.Helper()
	go func() {
		for _, ev := range evs {
			select {
			case <-signal:
			case <-time.After(10 * time.Second):
				return // the test's own checks report what is missing
			}
			f.emit(id, ev)
		}
	}()
}

// emitAll emits the events at once.
func emitAll(f *fakeServer, id string, evs []jobtype.Event) {
	for _, ev := range evs {
		f.emit(id, ev)
	}
}

func seqsOf(evs []jobtype.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func typesOf(evs []jobtype.Event) []jobtype.EventType {
	out := make([]jobtype.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// wantEqual fails with both values when they differ.
func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// wantSlice fails with both slices when they differ.
func wantSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// wantCompleted checks a job returned at the end of script().
func wantCompleted(t *testing.T, job *Job, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("error = %v, want the completed job", err)
	}
	if job.Status != jobtype.StatusCompleted || !job.Terminal || job.Progress != 100 {
		t.Errorf("final job: status %s terminal %v progress %d, want completed true 100", job.Status, job.Terminal, job.Progress)
	}
	var res jobtype.Result
	if err := json.Unmarshal(job.Result, &res); err != nil || res.Text != "Hello, world." {
		t.Errorf("final job result = %s (%v), want text %q", job.Result, err, "Hello, world.")
	}
}

// wantErrIs fails unless errors.Is(err, target).
func wantErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error = %v, want one matching %v", err, target)
	}
}

// describe renders v as JSON for failure messages.
func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// emitOnSubscribe emits the events at once when the next stream subscribes
// to the job's live events.
func emitOnSubscribe(f *fakeServer, id string, evs []jobtype.Event) {
	go func() {
		<-f.subscribed
		emitAll(f, id, evs)
	}()
}

// watchAll runs Watch and returns the events it passed on with its result.
func watchAll(t *testing.T, c *Client, id string, after int64) ([]jobtype.Event, *Job, error) {
	t.Helper()
	var got []jobtype.Event
	job, err := c.Watch(testCtx(t), id, after, func(ev jobtype.Event) { got = append(got, ev) })
	return got, job, err
}
