package metrics

import (
	"strconv"
	"time"
)

// The Registry is the queue's Observer (queue.Observer).

// AttemptStarted implements queue.Observer.
func (r *Registry) AttemptStarted(attempt int, wait time.Duration) {
	kind := "first"
	if attempt > 1 {
		kind = "retry"
	}
	r.wait.WithLabelValues(kind).Observe(wait.Seconds())
	r.stats.waited(wait)
}

// AttemptEnded implements queue.Observer.
func (r *Registry) AttemptEnded(result string, ran time.Duration) {
	r.attempts.WithLabelValues(result).Inc()
	r.run.WithLabelValues(result).Observe(ran.Seconds())
	r.stats.ran(ran)
}

// LeaseRenewal implements queue.Observer.
func (r *Registry) LeaseRenewal(result string) { r.leases.WithLabelValues(result).Inc() }

// Nodes implements queue.Observer.
func (r *Registry) Nodes(live, lapsed int) {
	r.nodes.WithLabelValues("live").Set(float64(live))
	r.nodes.WithLabelValues("lapsed").Set(float64(lapsed))
}

// HandedBack implements queue.Observer.
func (r *Registry) HandedBack(final bool) {
	r.handedBack.WithLabelValues(strconv.FormatBool(final)).Inc()
}

// OrphanFinished implements queue.Observer.
func (r *Registry) OrphanFinished() { r.orphans.Inc() }
