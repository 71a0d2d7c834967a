package metrics

import (
	"strconv"
	"time"
)

// RequestStarted implements api.Observer.
func (r *Registry) RequestStarted() { r.inflight.Inc() }

// RequestDone implements api.Observer: aijobs_http_requests_total and the
// latency histogram by route pattern ("unmatched" when no route matched,
// or the request was answered before the mux, a 431) and status code.
func (r *Registry) RequestDone(route string, code int, took time.Duration) {
	r.inflight.Dec()
	if route == "" {
		route = "unmatched"
	}
	r.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	r.duration.WithLabelValues(route).Observe(took.Seconds())
}
