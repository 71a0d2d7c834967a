package api

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// fakeClock is a settable clock for the rate limits.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestAllowSubmit(t *testing.T) {
	type step struct {
		after time.Duration // clock advance before the submit
		user  string
		wait  time.Duration // 0: allowed
	}
	for _, tc := range []struct {
		name        string
		rate        float64
		burst       int
		steps       []step
		allowedLeft int
	}{
		{name: "burst then the rate", rate: 1, burst: 2, steps: []step{
			{0, "a", 0}, {0, "a", 0}, {0, "a", time.Second},
			{500 * time.Millisecond, "a", 500 * time.Millisecond},
			{500 * time.Millisecond, "a", 0}, {0, "a", time.Second},
		}},
		{name: "a refused submit takes no token", rate: 2, burst: 1, steps: []step{
			{0, "a", 0}, {0, "a", 500 * time.Millisecond}, {0, "a", 500 * time.Millisecond},
			{500 * time.Millisecond, "a", 0},
		}},
		{name: "users are apart", rate: 1, burst: 1, steps: []step{
			{0, "a", 0}, {0, "a", time.Second}, {0, "b", 0}, {0, "b", time.Second},
		}},
		{name: "an idle bucket is full again, no more", rate: 10, burst: 3, steps: []step{
			{0, "a", 0}, {0, "a", 0}, {0, "a", 0},
			{time.Hour, "a", 0}, {0, "a", 0}, {0, "a", 0}, {0, "a", 100 * time.Millisecond},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			l := newLimits(tc.rate, tc.burst, 1)
			l.now = clock.now
			for i, s := range tc.steps {
				clock.advance(s.after)
				if got := l.allowSubmit(s.user); got != s.wait {
					t.Fatalf("step %d (%s): wait %v, want %v", i, s.user, got, s.wait)
				}
			}
		})
	}
}

// Dropping idle buckets (to bound memory) never refills one in use: a user
// who spent their burst stays limited however many other users come, and
// only buckets full again anyway are dropped.
func TestSubmitBucketsEvictedWithoutRefill(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newLimits(1, 5, 1)
	l.now = clock.now
	buckets := func() int {
		l.submits.mu.Lock()
		defer l.submits.mu.Unlock()
		return len(l.submits.m)
	}
	for range 5 {
		l.allowSubmit("busy")
	}
	for i := range 4 * minSweep { // several sweeps, none may drop busy
		l.allowSubmit(fmt.Sprint("passer-", i))
	}
	if w := l.allowSubmit("busy"); w == 0 {
		t.Fatal("a sweep refilled a bucket in use")
	}
	if n := buckets(); n != 4*minSweep+1 {
		t.Fatalf("%d buckets, want %d: none was full, none may go", n, 4*minSweep+1)
	}
	clock.advance(10 * time.Second) // every bucket is full again
	before, later := buckets(), 0
	for ; buckets() >= before; later++ {
		if later > 10*minSweep {
			t.Fatal("no sweep")
		}
		l.allowSubmit(fmt.Sprint("later-", later))
	}
	if n := buckets(); n != later {
		t.Errorf("%d buckets after the sweep, want the %d new ones: the full ones should have gone", n, later)
	}
	for i := range 5 {
		if w := l.allowSubmit("busy"); w != 0 {
			t.Fatalf("submit %d after 10 s idle: wait %v", i, w)
		}
	}
}

func TestReserveFrames(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newLimits(1, 1, 1)
	l.now = clock.now
	if d := l.reserveFrames("a", cableFrameBurst); d != 0 {
		t.Fatalf("the burst waits %v", d)
	}
	for i, want := range []time.Duration{time.Second / cableFrameRate * 100, 2 * time.Second / cableFrameRate * 100} {
		if d := l.reserveFrames("a", 100); d != want {
			t.Errorf("reservation %d: wait %v, want %v", i, d, want)
		}
	}
	if d := l.reserveFrames("b", 100); d != 0 {
		t.Errorf("another user waits %v", d)
	}
}

func TestOpenStream(t *testing.T) {
	l := newLimits(1, 1, 2)
	r1, err1 := l.openStream("a")
	r2, err2 := l.openStream("a")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err := l.openStream("a")
	var p *jobs.Problem
	if !errors.As(err, &p) || p.Kind != jobs.KindLimited || p.Code != "too_many_streams" || p.RetryAfter <= 0 {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := l.openStream("b"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	r1()
	r1() // a second release gives back nothing more
	if n := l.openStreams("a"); n != 1 {
		t.Fatalf("after a double release: %d open, want 1", n)
	}
	r3, err := l.openStream("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.openStream("a"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	r2()
	r3()
	if n := l.openStreams("a"); n != 0 || len(l.streams) != 1 {
		t.Fatalf("%d open for a, %d users listed; want 0 and only b", n, len(l.streams))
	}
}
