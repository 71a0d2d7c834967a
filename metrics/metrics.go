// Package metrics exposes aijobs' Prometheus metrics and keeps the short
// in-memory history that the operator page charts (Stats). Nothing here is
// package-level: cli/serve.go makes one Registry and hands it, as the small
// observer interfaces they declare, to the parts that report to it — the
// jobs broker (Broker), the queue (queue.Observer), the AI provider
// (ai.Observer), the API (api.Observer, also for every HTTP request).
// Every label has a small, fixed set of values: no job, user or
// token id ever becomes a label. docs/metrics.md lists every metric.
package metrics

import (
	"database/sql"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds one process's metrics.
type Registry struct {
	reg   *prometheus.Registry
	stats *Stats

	// HTTP (http.go).
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
	inflight prometheus.Gauge
	http     sync.Map // routeKey → httpSeries: routes and codes are a fixed set

	// Jobs, from the events this process writes (jobs.go).
	events    *prometheus.CounterVec // type
	submitted prometheus.Counter
	finished  *prometheus.CounterVec // status, intent, code
	retries   *prometheus.CounterVec // code

	// The queue (queue.go).
	attempts   *prometheus.CounterVec   // result
	wait       *prometheus.HistogramVec // attempt: first, retry
	run        *prometheus.HistogramVec // result
	leases     *prometheus.CounterVec   // result
	nodes      *prometheus.GaugeVec     // state: live, lapsed
	handedBack *prometheus.CounterVec   // final
	orphans    prometheus.Counter
	unfinished *prometheus.GaugeVec // status, sampled by Stats.Run

	// Provider calls (provider.go).
	providerCalls  *prometheus.HistogramVec // provider, model
	providerErrors *prometheus.CounterVec   // provider, model, code
	providerTokens *prometheus.CounterVec   // provider, model, direction
	// Waits for the provider (provider.go).
	providerWaits   *prometheus.CounterVec // provider, model, reason
	providerCircuit *prometheus.GaugeVec   // provider, model

	// Streams (streams.go).
	streams     *prometheus.GaugeVec // transport
	cableSubs   prometheus.Gauge
	notModified *prometheus.CounterVec // kind: poll, long_poll
	open        streamCounts
}

// latencyBuckets suit calls from a millisecond to minutes: HTTP requests
// (streams last their whole life), queue waits, attempts, model calls.
var latencyBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// New returns a Registry with aijobs' metrics, the Go runtime's and the
// process's.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), open: newStreamCounts()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
		r.reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		r.reg.MustRegister(g)
		return g
	}

	r.requests = counter("aijobs_http_requests_total", "HTTP requests by route pattern (as registered on the mux, \"unmatched\" for none) and status code.", "route", "code")
	r.duration = histogram("aijobs_http_request_duration_seconds", "HTTP request latency by route pattern (streams and long-polls for their whole life).", "route")
	r.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "aijobs_http_requests_in_flight", Help: "HTTP requests being served, open streams included."})
	r.reg.MustRegister(r.inflight)

	r.events = counter("aijobs_events_total", "Job events written by this process, by type (status, progress, output, completed, failed, cancelled).", "type")
	r.submitted = prometheus.NewCounter(prometheus.CounterOpts{Name: "aijobs_jobs_submitted_total", Help: "Jobs submitted (created) through this process."})
	r.reg.MustRegister(r.submitted)
	r.finished = counter("aijobs_jobs_finished_total", "Jobs that reached a terminal status, written by this process, by status, intent (\"\" before classification) and error code.", "status", "intent", "code")
	r.retries = counter("aijobs_job_retries_total", "Attempts that ended with the job retrying, by error code (rate_limited, timeout, worker_lost, interrupted, …).", "code")

	r.attempts = counter("aijobs_attempts_total", "Attempts run by this process's workers, by result: ok, failed, retry, interrupted, abandoned.", "result")
	r.wait = histogram("aijobs_queue_wait_seconds", "How long an attempt waited between becoming available and a worker of this process taking it, by attempt (first, retry).", "attempt")
	r.run = histogram("aijobs_attempt_duration_seconds", "How long an attempt ran on this process, by result.", "result")
	r.leases = counter("aijobs_node_lease_renewals_total", "Renewals of this process's node lease, by result: renewed, lapsed (another node had declared it dead), error.", "result")
	r.nodes = gauge("aijobs_nodes", "Worker processes seen at the last lease renewal, by state: live, lapsed (not yet swept).", "state")
	r.handedBack = counter("aijobs_handed_back_total", "Attempts of lost nodes handed back by this process, by final (true: the job failed with worker_lost).", "final")
	r.orphans = prometheus.NewCounter(prometheus.CounterOpts{Name: "aijobs_orphans_finished_total", Help: "Jobs finished by reconciliation: their River job had ended or was gone while no live node ran them."})
	r.reg.MustRegister(r.orphans)
	r.unfinished = gauge("aijobs_jobs_unfinished", "Unfinished jobs of the whole database, by status (queued, working, retrying); sampled every 5 s.", "status")

	r.providerCalls = histogram("aijobs_provider_call_duration_seconds", "Provider (model) call latency, streaming included, by provider and configured model.", "provider", "model")
	r.providerErrors = counter("aijobs_provider_errors_total", "Failed provider calls, by provider, model and error code.", "provider", "model", "code")
	r.providerWaits = counter("aijobs_provider_waits_total", "Jobs that started to wait for their provider instead of calling it, by provider, model and reason (waiting_for_capacity, waiting_for_provider).", "provider", "model", "reason")
	r.providerCircuit = gauge("aijobs_provider_circuit_open", "1 while the provider's circuit is open (after repeated failures only a probe calls it), as this process last saw it; by provider and model.", "provider", "model")
	r.providerTokens = counter("aijobs_provider_tokens_total", "Tokens consumed by provider calls, by provider, model and direction (in, out).", "provider", "model", "direction")

	r.streams = gauge("aijobs_streams_open", "Streams open on this process, by transport: sse, user_sse, long_poll, cable.", "transport")
	r.cableSubs = prometheus.NewGauge(prometheus.GaugeOpts{Name: "aijobs_cable_subscriptions_open", Help: "Subscriptions of the /cable connections open on this process."})
	r.reg.MustRegister(r.cableSubs)
	r.notModified = counter("aijobs_not_modified_total", "304 Not Modified answers to job polls, by kind: poll, long_poll.", "kind")

	for _, t := range streamTransports {
		r.streams.WithLabelValues(t) // present at 0 from the start
	}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.stats = newStats(r)
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Stats is the operator page's history, fed by this Registry.
func (r *Registry) Stats() *Stats { return r.stats }

// Store is what the Registry reads from the store: its pools and the
// depth of the queue (store.Store implements it).
type Store interface {
	// DB is SQLite's pool that takes writes, ReadDB its pool that serves
	// reads (both unused on PostgreSQL).
	DB() *sql.DB
	ReadDB() *sql.DB
	// Pool is the pgx pool on PostgreSQL, nil on SQLite.
	Pool() *pgxpool.Pool
	UnfinishedCounter
}

// Observe registers what is read from the live system: open subscriptions
// of the broker, the database pools' connections (on SQLite database/sql's
// go_sql_* with db_name "aijobs" for the write pool and "aijobs_read" for
// the read-only pool; on PostgreSQL the pgx pool as aijobs_db_pool_*), and
// lets Stats sample the queue's depth from the store.
func (r *Registry) Observe(broker interface{ Subscribers() int }, st Store) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aijobs_subscriptions", Help: "Open event subscriptions of the hub (streams, long-polls, workers).",
	}, func() float64 { return float64(broker.Subscribers()) }))
	if p := st.Pool(); p != nil {
		r.reg.MustRegister(newPoolCollector(p))
	} else {
		r.reg.MustRegister(collectors.NewDBStatsCollector(st.DB(), "aijobs"))
		r.reg.MustRegister(collectors.NewDBStatsCollector(st.ReadDB(), "aijobs_read"))
	}
	r.stats.setStore(st)
}
