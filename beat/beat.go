// Package beat is one heartbeat shared by many streams: a timer wheel that
// signals each member once per interval, so ten thousand idle streams cost
// one timer, not ten thousand tickers. It uses only the standard library.
package beat

import (
	"sync"
	"time"
)

// slots is how many parts an interval is cut into: members are spread over
// them, so a tick wakes about 1/slots of them.
const slots = 16

// Wheel signals every member once per interval. A member that joins is
// signalled for the first time within one interval, then once every
// interval: the wheel keeps time from when it started, so the period does
// not drift with the work done on each tick. While it has no member it
// holds no timer.
type Wheel struct {
	tick time.Duration

	mu sync.Mutex
	// slot[i] are the members signalled when slot i comes round; next is
	// the slot of the next tick, due at due; running is set while a tick is
	// scheduled. All guarded by mu.
	slot    [slots]map[chan struct{}]struct{}
	next    int
	members int
	due     time.Time
	running bool
}

// New returns a Wheel that beats every interval (at least slots
// nanoseconds).
func New(every time.Duration) *Wheel {
	w := &Wheel{tick: max(every/slots, 1)}
	for i := range w.slot {
		w.slot[i] = map[chan struct{}]struct{}{}
	}
	return w
}

// Interval is how often a member is signalled.
func (w *Wheel) Interval() time.Duration { return w.tick * slots }

// Join adds a member. beats receives a value once per interval (a beat the
// member has not taken yet is not doubled); leave removes the member and
// may be called more than once.
func (w *Wheel) Join() (beats <-chan struct{}, leave func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		w.running = true
		w.due = time.Now().Add(w.tick)
		time.AfterFunc(w.tick, w.fire)
	}
	// The slot that fired last comes round again in one interval at most.
	i := (w.next + slots - 1) % slots
	w.slot[i][ch] = struct{}{}
	w.members++
	var once sync.Once
	return ch, func() { once.Do(func() { w.leave(i, ch) }) }
}

func (w *Wheel) leave(i int, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.slot[i], ch)
	w.members--
}

// fire signals the members of the slot whose turn it is and schedules the
// next tick, unless no member is left.
func (w *Wheel) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.slot[w.next] {
		select {
		case ch <- struct{}{}:
		default: // the last beat is not taken yet
		}
	}
	w.next = (w.next + 1) % slots
	if w.members == 0 {
		w.running = false
		return
	}
	w.due = w.due.Add(w.tick)
	time.AfterFunc(max(time.Until(w.due), 0), w.fire)
}
