package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads a pgx pool's statistics at scrape time. A saturated
// pool shows as acquired == max with acquire waits growing.
type poolCollector struct {
	pool                                  *pgxpool.Pool
	max, acquired, idle, total, construct *prometheus.Desc
	waits, waitSeconds, canceled, opened  *prometheus.Desc
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
		opened:      d("new_conns_total", "Connections the PostgreSQL pool opened."),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.max, c.acquired, c.idle, c.total, c.construct, c.waits, c.waitSeconds, c.canceled, c.opened} {
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
	counter(c.opened, float64(st.NewConnsCount()))
}
