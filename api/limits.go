package api

import (
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// The /cable frame budget: how many job snapshots per second one user's
// subscriptions are sent on one node, all of its connections together, and
// how many may go at once. Above it snapshots coalesce (each subscription
// gets the latest of each job when its turn comes), so however many
// connections and subscriptions a user opens, the work they cost the node
// is bounded and other users' requests do not wait behind it.
const (
	cableFrameRate  = 1000
	cableFrameBurst = 1000
)

// limits holds the per-user, per-node limits: the submit rate, one cap on
// everything that holds a connection open (long-polls, SSE streams, /cable
// connections and each /cable subscription) and the /cable frame budget.
type limits struct {
	maxStreams int
	// now is the clock of the rate limits.
	now func() time.Time

	submits *userLimiters
	frames  *userLimiters

	// reads shares the store reads that the /cable feeds of one user make
	// for one change of a job: one read, however many connections follow
	// the user's jobs (see cableConn.readJob).
	reads singleflight.Group

	mu      sync.Mutex
	streams map[string]int // open streams per user; guarded by mu
}

func newLimits(submitRate float64, submitBurst, maxStreams int) *limits {
	return &limits{
		maxStreams: maxStreams,
		now:        time.Now,
		submits:    newUserLimiters(rate.Limit(submitRate), submitBurst),
		frames:     newUserLimiters(cableFrameRate, cableFrameBurst),
		streams:    map[string]int{},
	}
}

// allowSubmit takes a token from the user's submit bucket, or says how long
// to wait for one (and takes none).
func (l *limits) allowSubmit(userID string) time.Duration {
	now := l.now()
	r := l.submits.reserve(userID, 1, now)
	if !r.OK() {
		return time.Second // no burst at all: nothing will ever pass
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// reserveFrames takes n (at most cableFrameBurst) frames from the user's
// /cable budget and says how long to wait before sending them.
func (l *limits) reserveFrames(userID string, n int) time.Duration {
	now := l.now()
	r := l.frames.reserve(userID, n, now)
	if !r.OK() {
		return time.Second
	}
	return r.DelayFrom(now)
}

// tooManyStreams is the answer over the cap: 429 with Retry-After.
func tooManyStreams() error {
	return &jobs.Problem{Kind: jobs.KindLimited, Code: jobtype.CodeTooManyStreams, RetryAfter: 5 * time.Second,
		Message: "too many open streams (long-polls, event streams, /cable connections and subscriptions) for this user; close one first"}
}

// openStream takes one of the user's stream slots, or returns a
// too_many_streams problem. release gives the slot back; calling it again
// does nothing, so every way a stream can end may call it.
func (l *limits) openStream(userID string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[userID] >= l.maxStreams {
		return nil, tooManyStreams()
	}
	l.streams[userID]++
	return sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.streams[userID]--; l.streams[userID] <= 0 {
			delete(l.streams, userID)
		}
	}), nil
}

// openStreams says how many stream slots the user holds.
func (l *limits) openStreams(userID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[userID]
}

// minSweep is the fewest limiters a userLimiters holds before it looks for
// ones to drop.
const minSweep = 1024

// userLimiters is one token bucket per user. A bucket that has been idle
// long enough to be full again is the same as a new one, so those (and only
// those) are dropped whenever the map has doubled since the last sweep:
// memory follows the users active in the last burst/rate seconds, the cost
// is amortised O(1), and nobody's bucket is ever refilled early.
type userLimiters struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	m       map[string]*rate.Limiter // guarded by mu
	sweepAt int                      // sweep when len(m) reaches it; guarded by mu
}

func newUserLimiters(r rate.Limit, burst int) *userLimiters {
	return &userLimiters{rate: r, burst: burst, m: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// reserve reserves n tokens of the user's bucket at now.
func (u *userLimiters) reserve(userID string, n int, now time.Time) *rate.Reservation {
	u.mu.Lock()
	defer u.mu.Unlock()
	lim := u.m[userID]
	if lim == nil {
		if len(u.m) >= u.sweepAt {
			u.sweep(now)
		}
		lim = rate.NewLimiter(u.rate, u.burst)
		u.m[userID] = lim
	}
	return lim.ReserveN(now, n)
}

// sweep drops the full buckets. u.mu must be held.
func (u *userLimiters) sweep(now time.Time) {
	for id, lim := range u.m {
		if lim.TokensAt(now) >= float64(u.burst) {
			delete(u.m, id)
		}
	}
	u.sweepAt = max(2*len(u.m), minSweep)
}
