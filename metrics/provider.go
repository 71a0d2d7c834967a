package metrics

import "time"

// ProviderCall implements ai.Observer: latency, errors and tokens of one
// model call, by provider and configured model.
func (r *Registry) ProviderCall(provider, model string, took time.Duration, tokensIn, tokensOut int64, errCode string) {
	r.providerCalls.WithLabelValues(provider, model).Observe(took.Seconds())
	if tokensIn > 0 {
		r.providerTokens.WithLabelValues(provider, model, "in").Add(float64(tokensIn))
	}
	if tokensOut > 0 {
		r.providerTokens.WithLabelValues(provider, model, "out").Add(float64(tokensOut))
	}
	if errCode != "" {
		r.providerErrors.WithLabelValues(provider, model, errCode).Inc()
		if errCode != "cancelled" {
			r.stats.providerError()
		}
	}
}

// ProviderWait implements worker.Observer: a job that starts to wait for its
// provider, by reason (waiting_for_capacity, waiting_for_provider).
func (r *Registry) ProviderWait(provider, model, reason string) {
	r.providerWaits.WithLabelValues(provider, model, reason).Inc()
}

// ProviderCircuit implements worker.Observer: 1 while the provider's
// circuit is open, as this process last saw it.
func (r *Registry) ProviderCircuit(provider, model string, open bool) {
	v := 0.0
	if open {
		v = 1
	}
	r.providerCircuit.WithLabelValues(provider, model).Set(v)
}
