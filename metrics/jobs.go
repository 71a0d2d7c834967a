package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aijobs/aijobs/jobs"
)

// countingBroker counts the events this process writes as they are
// published; everything else it passes through.
type countingBroker struct {
	jobs.Broker
	events   *prometheus.CounterVec
	finished *prometheus.CounterVec
}

// Broker wraps b so every event written by this process is counted:
// aijobs_events_total by type, and aijobs_jobs_finished_total by final
// status and error code. Summed over nodes they give the cluster's totals.
func (r *Registry) Broker(b jobs.Broker) jobs.Broker {
	c := &countingBroker{
		Broker: b,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aijobs_events_total", Help: "Job events written, by type (status, progress, output, completed, failed, cancelled).",
		}, []string{"type"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aijobs_jobs_finished_total", Help: "Jobs that reached a terminal status, by status and error code.",
		}, []string{"status", "code"}),
	}
	r.reg.MustRegister(c.events, c.finished)
	return c
}

func (c *countingBroker) Publish(evs ...jobs.Event) {
	for _, ev := range evs {
		c.events.WithLabelValues(string(ev.Type)).Inc()
		if ev.Type.Terminal() {
			code := ""
			if ev.Error != nil {
				code = ev.Error.Code
			}
			c.finished.WithLabelValues(string(ev.Status), code).Inc()
		}
	}
	c.Broker.Publish(evs...)
}
