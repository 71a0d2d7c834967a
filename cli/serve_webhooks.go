package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
	"github.com/aijobs/aijobs/webhook"
)

// webhookFlags are serve's flags for webhook deliveries.
type webhookFlags struct {
	allowPrivate bool
	timeout      time.Duration
	schedule     string
	workers      int
}

func (f *webhookFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.allowPrivate, "webhook-allow-private", false, "let webhooks go to loopback, private and link-local addresses (for a receiver on this machine or network; off: refused, checked on the resolved address)")
	fs.DurationVar(&f.timeout, "webhook-timeout", 10*time.Second, "time limit of one webhook delivery try")
	fs.IntVar(&f.workers, "webhook-workers", 20, "webhook delivery tries run at once by this process (beside --workers; a receiver that hangs holds one for up to --webhook-timeout)")
	fs.StringVar(&f.schedule, "webhook-retry-schedule", "", "comma-separated waits before each retry of a webhook delivery (default: 5s,30s,2m,10m,30m,1h,2h,4h,8h,8h, about a day)")
}

// new returns the webhooks of these flags.
func (f *webhookFlags) new(st *store.Store, keys *secret.Keys, svc *jobs.Service, targets webhook.Targets, reg prometheus.Registerer, log *slog.Logger) (*webhook.Webhooks, error) {
	var schedule []time.Duration
	if f.schedule != "" {
		for _, p := range strings.Split(f.schedule, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(p))
			if err != nil || d < 0 {
				return nil, fmt.Errorf("--webhook-retry-schedule: %q is not a duration of 0 or more", p)
			}
			schedule = append(schedule, d)
		}
	}
	if f.workers < 1 {
		return nil, fmt.Errorf("--webhook-workers: want at least 1, got %d", f.workers)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--webhook-timeout: want a positive duration, got %s", f.timeout)
	}
	return webhook.New(webhook.Config{Store: st, Keys: keys, Jobs: svc, Targets: targets, Timeout: f.timeout,
		Schedule: schedule, Registerer: reg, Logger: log})
}
