// Package metrics exposes aijobs' Prometheus metrics: HTTP requests by
// route and code, request latency, open subscriptions and database pool use.
package metrics

import (
	"database/sql"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds one process's metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// New returns a Registry with the Go runtime and process collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aijobs_http_requests_total", Help: "HTTP requests by method and status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aijobs_http_request_duration_seconds", Help: "HTTP request latency (streams included, for their whole life).",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 60},
		}, []string{"method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aijobs_http_requests_in_flight", Help: "HTTP requests being served, open streams included.",
		}),
	}
	r.reg.MustRegister(r.requests, r.duration, r.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Wrap counts and times the requests h serves. promhttp's wrappers keep the
// Flusher and Hijacker of the ResponseWriter, so SSE and WebSocket work.
func (r *Registry) Wrap(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerInFlight(r.inflight,
		promhttp.InstrumentHandlerCounter(r.requests,
			promhttp.InstrumentHandlerDuration(r.duration, h)))
}

// Observe registers gauges read from the live system at scrape time: open
// subscriptions of the broker and the database pool's connections.
func (r *Registry) Observe(broker interface{ Subscribers() int }, db interface{ DB() *sql.DB }) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aijobs_subscriptions", Help: "Open event subscriptions (streams, long-polls, workers).",
	}, func() float64 { return float64(broker.Subscribers()) }))
	r.reg.MustRegister(collectors.NewDBStatsCollector(db.DB(), "aijobs"))
}
