package metrics

import "github.com/prometheus/client_golang/prometheus"

// Registerer is where other components register their own metrics (the
// webhook deliveries), served by Handler with the rest.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }
