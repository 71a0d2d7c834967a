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
