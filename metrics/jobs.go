package metrics

import (
	"github.com/aijobs/aijobs/jobs"
)

// countingBroker counts the events this process writes as they are
// published; everything else it passes through.
type countingBroker struct {
	jobs.Broker
	r *Registry
}

// Broker wraps b so that every event written by this process is counted:
// aijobs_events_total by type, aijobs_jobs_submitted_total,
// aijobs_jobs_finished_total by final status, intent and error code, and
// aijobs_job_retries_total by error code. Summed over nodes they give the
// cluster's totals. The operator page's job rates come from here too.
func (r *Registry) Broker(b jobs.Broker) jobs.Broker {
	return &countingBroker{Broker: b, r: r}
}

func (c *countingBroker) Publish(evs ...jobs.Event) {
	for _, ev := range evs {
		c.r.event(ev)
	}
	c.Broker.Publish(evs...)
}

func (r *Registry) event(ev jobs.Event) {
	r.events.WithLabelValues(string(ev.Type)).Inc()
	code := ""
	if ev.Error != nil {
		code = ev.Error.Code
	}
	switch {
	case ev.Type.Terminal():
		r.finished.WithLabelValues(string(ev.Status), string(ev.Intent), code).Inc()
		r.stats.finished(ev.Status)
	case ev.Type == jobs.EventStatus && ev.Status == jobs.StatusQueued:
		r.submitted.Inc()
		r.stats.submitted()
	case ev.Type == jobs.EventStatus && ev.Status == jobs.StatusRetrying:
		r.retries.WithLabelValues(code).Inc()
	}
}
