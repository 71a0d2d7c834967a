package api

import (
	"context"
	"sync"
	"time"
)

// The kinds of stream an Observer is told about: the transports that hold a
// connection open, and the subscriptions of a /cable connection.
const (
	StreamSSE       = "sse"                // GET /api/v1/jobs/{id}/events
	StreamUserSSE   = "user_sse"           // GET /api/v1/events
	StreamLongPoll  = "long_poll"          // GET /api/v1/jobs/{id}?wait=N
	StreamCable     = "cable"              // a /cable connection
	StreamCableSubs = "cable_subscription" // one subscription of a /cable connection
)

// Observer is told what the API does that its route and status code do not
// show (metrics.Registry implements it). Its methods must not block.
type Observer interface {
	// RequestStarted and RequestDone bracket every HTTP request; route is
	// the pattern the mux matched ("GET /api/v1/jobs/{id}"), "" for none.
	RequestStarted()
	RequestDone(route string, code int, took time.Duration)
	// StreamOpened and StreamClosed bracket every stream of a kind above.
	StreamOpened(kind string)
	StreamClosed(kind string)
	// NotModified counts a 304 answer to a job poll (longPoll: one that
	// waited with ?wait=N first).
	NotModified(longPoll bool)
}

// Stats serves the data of the operator page (GET /api/v1/admin/stats);
// metrics.Stats implements it. The value is answered as JSON.
type Stats interface {
	Snapshot(ctx context.Context) (any, error)
}

type nopObserver struct{}

func (nopObserver) RequestStarted()                        {}
func (nopObserver) RequestDone(string, int, time.Duration) {}
func (nopObserver) StreamOpened(string)                    {}
func (nopObserver) StreamClosed(string)                    {}
func (nopObserver) NotModified(bool)                       {}

// openStream takes one of the user's stream slots for a stream of kind and
// tells the Observer. release gives both back; calling it again does
// nothing.
func (s *Server) openStream(userID, kind string) (release func(), err error) {
	slot, err := s.limits.openStream(userID)
	if err != nil {
		return nil, err
	}
	s.obs.StreamOpened(kind)
	return sync.OnceFunc(func() {
		slot()
		s.obs.StreamClosed(kind)
	}), nil
}
