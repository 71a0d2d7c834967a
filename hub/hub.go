// Package hub fans committed job events out to the streams and long-polls
// that follow them. Hub is the in-process broker; Notifier (notify.go) links
// the hubs of several nodes through PostgreSQL LISTEN/NOTIFY.
package hub

import (
	"sync"

	"github.com/aijobs/aijobs/jobs"
)

// DefaultBuffer is how many events a subscriber may fall behind before it is
// dropped (it then resumes from the durable log). The buffer holds pointers
// to events shared by all subscribers, so it costs 8 bytes a slot: 32 slots
// are 256 bytes a stream and cover bursts of a few seconds of a busy user.
const DefaultBuffer = 32

// Hub is an in-process fan-out keyed by job and by user. Publish never
// blocks: a subscriber whose buffer is full is dropped, so one slow client
// neither slows the others nor grows memory without bound.
type Hub struct {
	buffer int

	mu     sync.Mutex
	byJob  map[string]map[*sub]struct{} // guarded by mu
	byUser map[string]map[*sub]struct{} // guarded by mu
}

var _ jobs.Broker = (*Hub)(nil)

// New returns a Hub whose subscribers buffer up to buffer events (0 means
// DefaultBuffer).
func New(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, byJob: map[string]map[*sub]struct{}{}, byUser: map[string]map[*sub]struct{}{}}
}

type sub struct {
	h       *Hub
	key     string
	perUser bool
	ch      chan *jobs.Shared
	dropped chan struct{}
	once    sync.Once
}

func (s *sub) Events() <-chan *jobs.Shared { return s.ch }
func (s *sub) Dropped() <-chan struct{}    { return s.dropped }
func (s *sub) Close()                      { s.h.remove(s) }
func (s *sub) drop()                       { s.once.Do(func() { close(s.dropped) }) }

// Subscribe implements jobs.Broker.
func (h *Hub) Subscribe(userID, jobID string) jobs.Subscription {
	s := &sub{h: h, key: jobID, ch: make(chan *jobs.Shared, h.buffer), dropped: make(chan struct{})}
	m := h.byJob
	if jobID == "" {
		s.key, s.perUser, m = userID, true, h.byUser
	}
	h.mu.Lock()
	set := m[s.key]
	if set == nil {
		set = map[*sub]struct{}{}
		m[s.key] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) remove(s *sub) {
	m := h.byJob
	if s.perUser {
		m = h.byUser
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := m[s.key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(m, s.key)
		}
	}
}

// Publish implements jobs.Broker. Each event is wrapped once (jobs.Share)
// and the one value goes to every subscriber, which also share its
// encoding.
func (h *Hub) Publish(evs ...jobs.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		byJob, byUser := h.byJob[ev.JobID], h.byUser[ev.UserID]
		if len(byJob) == 0 && len(byUser) == 0 {
			continue
		}
		shared := jobs.Share(ev)
		h.deliver(byJob, shared)
		h.deliver(byUser, shared)
	}
}

// deliver must be called with mu held.
func (h *Hub) deliver(set map[*sub]struct{}, ev *jobs.Shared) {
	for s := range set {
		select {
		case s.ch <- ev:
		default:
			s.drop()
			delete(set, s)
		}
	}
}

// Subscribers says how many subscriptions are open, for metrics.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.byJob {
		n += len(set)
	}
	for _, set := range h.byUser {
		n += len(set)
	}
	return n
}

// hasSubscribers reports whether anyone here follows the job or its user.
func (h *Hub) hasSubscribers(jobID, userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byJob[jobID]) > 0 || len(h.byUser[userID]) > 0
}

// jobIDs lists the jobs followed here.
func (h *Hub) jobIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.byJob))
	for id := range h.byJob {
		ids = append(ids, id)
	}
	return ids
}
