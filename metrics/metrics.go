// Package metrics exposes aijobs' Prometheus metrics: HTTP requests by
// route and code, request latency, open subscriptions and database pool use.
package metrics

import (
	"database/sql"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
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
// subscriptions of the broker and the database pool's connections
// (database/sql's go_sql_* for the write pool; on PostgreSQL, when db also
// has Pool() *pgxpool.Pool, the pgx pool under it: aijobs_db_pool_*).
func (r *Registry) Observe(broker interface{ Subscribers() int }, db interface{ DB() *sql.DB }) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aijobs_subscriptions", Help: "Open event subscriptions (streams, long-polls, workers).",
	}, func() float64 { return float64(broker.Subscribers()) }))
	r.reg.MustRegister(collectors.NewDBStatsCollector(db.DB(), "aijobs"))
	if p, ok := db.(interface{ Pool() *pgxpool.Pool }); ok && p.Pool() != nil {
		r.reg.MustRegister(newPoolCollector(p.Pool()))
	}
}

// poolCollector reads a pgx pool's statistics at scrape time. A saturated
// pool shows as acquired == max with acquire waits growing.
type poolCollector struct {
	pool                                  *pgxpool.Pool
	max, acquired, idle, total, construct *prometheus.Desc
	waits, waitSeconds, canceled          *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("aijobs_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:        pool,
		max:         d("max_conns", "Most connections the PostgreSQL pool opens."),
		acquired:    d("acquired_conns", "PostgreSQL pool connections in use."),
		idle:        d("idle_conns", "PostgreSQL pool connections idle."),
		total:       d("total_conns", "PostgreSQL pool connections open or being opened."),
		construct:   d("constructing_conns", "PostgreSQL pool connections being opened."),
		waits:       d("acquire_waits_total", "Acquires from the PostgreSQL pool that had to wait for a connection."),
		waitSeconds: d("acquire_wait_seconds_total", "Time spent waiting for a PostgreSQL pool connection."),
		canceled:    d("canceled_acquires_total", "Acquires from the PostgreSQL pool given up by their caller."),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.max, c.acquired, c.idle, c.total, c.construct, c.waits, c.waitSeconds, c.canceled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.max, float64(st.MaxConns()))
	gauge(c.acquired, float64(st.AcquiredConns()))
	gauge(c.idle, float64(st.IdleConns()))
	gauge(c.total, float64(st.TotalConns()))
	gauge(c.construct, float64(st.ConstructingConns()))
	counter(c.waits, float64(st.EmptyAcquireCount()))
	counter(c.waitSeconds, st.EmptyAcquireWaitTime().Seconds())
	counter(c.canceled, float64(st.CanceledAcquireCount()))
}
