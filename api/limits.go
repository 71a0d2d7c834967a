package api

import (
	"sync"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// limits holds the per-user, per-node limits: a token bucket for submits and
// a count of open streams.
type limits struct {
	rate       float64
	burst      float64
	maxStreams int

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
	streams map[string]int     // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimits(rate float64, burst, maxStreams int) *limits {
	return &limits{rate: rate, burst: float64(burst), maxStreams: maxStreams, buckets: map[string]*bucket{}, streams: map[string]int{}}
}

// allowSubmit takes a token from the user's bucket, or says how long to wait.
func (l *limits) allowSubmit(userID string) time.Duration {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[userID]
	if b == nil {
		if len(l.buckets) > 100000 {
			clear(l.buckets)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[userID] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return 0
}

// openStream counts a new stream of the user; release must be called when it
// ends.
func (l *limits) openStream(userID string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[userID] >= l.maxStreams {
		return nil, &jobs.Problem{Kind: jobs.KindLimited, Code: "too_many_streams", Message: "too many open streams for this user; close one first", RetryAfter: 5 * time.Second}
	}
	l.streams[userID]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.streams[userID]--; l.streams[userID] <= 0 {
			delete(l.streams, userID)
		}
	}, nil
}
