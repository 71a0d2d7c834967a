package beat

import (
	"sync"
	"testing"
	"time"
)

// TestEveryMemberBeats: one wheel beats each of many members, each within
// an interval of joining and again within every interval after.
func TestEveryMemberBeats(t *testing.T) {
	t.Parallel()
	const every, n = 40 * time.Millisecond, 200
	w := New(every)
	type member struct {
		beats <-chan struct{}
		leave func()
	}
	ms := make([]member, n)
	for i := range ms {
		ms[i].beats, ms[i].leave = w.Join()
		defer ms[i].leave()
		time.Sleep(every / n) // spread the joins over the slots
	}
	missed := make(chan int, n)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			deadline := time.After(10 * every)
			for range 3 {
				select {
				case <-m.beats:
				case <-deadline:
					missed <- i
					return
				}
			}
		})
	}
	wg.Wait()
	close(missed)
	for i := range missed {
		t.Errorf("member %d: fewer than 3 beats in 10 intervals", i)
	}
}

// TestBeatGap: the gap between two beats of a member is one interval,
// without drift (scheduling noise aside).
func TestBeatGap(t *testing.T) {
	t.Parallel()
	const every = 80 * time.Millisecond
	w := New(every)
	beats, leave := w.Join()
	defer leave()
	<-beats
	start := time.Now()
	for range 5 {
		<-beats
	}
	if got := time.Since(start); got < 5*every-every/2 || got > 5*every+every {
		t.Errorf("5 beats took %v, want about %v", got, 5*every)
	}
}

// TestLeaveStopsTheWheel: a member that left gets no beat, and a wheel
// with no member stops ticking and starts again on the next join.
func TestLeaveStopsTheWheel(t *testing.T) {
	t.Parallel()
	const every = 20 * time.Millisecond
	w := New(every)
	beats, leave := w.Join()
	<-beats
	leave()
	leave() // twice is fine
	time.Sleep(3 * every)
	select {
	case <-beats: // at most the one taken before leave could be pending
	default:
	}
	time.Sleep(2 * every)
	select {
	case <-beats:
		t.Error("a member that left was signalled")
	default:
	}
	w.mu.Lock()
	running := w.running
	w.mu.Unlock()
	if running {
		t.Error("the wheel still ticks with no member")
	}
	again, leave2 := w.Join()
	defer leave2()
	select {
	case <-again:
	case <-time.After(5 * every):
		t.Error("no beat after joining a stopped wheel")
	}
}
