package metrics

import "sync/atomic"

// The stream kinds of api.Observer (api.StreamSSE …), spelled here so that
// this package need not import the API.
var streamTransports = []string{"sse", "user_sse", "long_poll", "cable"}

const cableSubscription = "cable_subscription"

// streamCounts are the open streams by kind, for Stats; the map is
// read-only after newStreamCounts.
type streamCounts map[string]*atomic.Int64

func newStreamCounts() streamCounts {
	c := streamCounts{cableSubscription: new(atomic.Int64)}
	for _, t := range streamTransports {
		c[t] = new(atomic.Int64)
	}
	return c
}

// StreamOpened implements api.Observer.
func (r *Registry) StreamOpened(kind string) { r.stream(kind, 1) }

// StreamClosed implements api.Observer.
func (r *Registry) StreamClosed(kind string) { r.stream(kind, -1) }

func (r *Registry) stream(kind string, delta int64) {
	if n := r.open[kind]; n != nil {
		n.Add(delta)
	}
	if kind == cableSubscription {
		r.cableSubs.Add(float64(delta))
		return
	}
	r.streams.WithLabelValues(kind).Add(float64(delta))
}

// NotModified implements api.Observer.
func (r *Registry) NotModified(longPoll bool) {
	kind := "poll"
	if longPoll {
		kind = "long_poll"
	}
	r.notModified.WithLabelValues(kind).Inc()
}
