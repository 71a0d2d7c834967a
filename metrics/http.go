package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	h := r.routeSeries(route, code)
	h.requests.Inc()
	h.duration.Observe(took.Seconds())
}

// routeKey names the series of one route and status code.
type routeKey struct {
	route string
	code  int
}

// httpSeries are the series of one route and status code, looked up once:
// finding them by label values costs more than the rest of a cached poll's
// accounting.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (r *Registry) routeSeries(route string, code int) httpSeries {
	k := routeKey{route, code}
	if h, ok := r.http.Load(k); ok {
		return h.(httpSeries)
	}
	h := httpSeries{requests: r.requests.WithLabelValues(route, strconv.Itoa(code)), duration: r.duration.WithLabelValues(route)}
	r.http.Store(k, h)
	return h
}
