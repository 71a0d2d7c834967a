package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aijobs/aijobs/jobs"
)

// deliveryMetrics counts and times the tries of deliveries.
type deliveryMetrics struct {
	tries    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newDeliveryMetrics registers aijobs_webhook_deliveries_total{outcome} and
// aijobs_webhook_delivery_duration_seconds{outcome} with reg (nil: kept
// but not registered).
func newDeliveryMetrics(reg prometheus.Registerer) (*deliveryMetrics, error) {
	m := &deliveryMetrics{
		tries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aijobs_webhook_deliveries_total",
			Help: "Webhook delivery tries by outcome: delivered, retrying (failed, tried again later), failed (not retried), dead (the last try failed).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aijobs_webhook_delivery_duration_seconds",
			Help:    "Time of one webhook delivery try, from connecting to the answer's headers, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.tries, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *deliveryMetrics) observe(r jobs.TryResult) {
	outcome := string(r.State)
	if r.State == jobs.DeliveryPending {
		outcome = "retrying"
	}
	m.tries.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(r.Duration.Seconds())
}
