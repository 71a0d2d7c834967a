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
	schedule     durations
	workers      int
}

func (f *webhookFlags) register(fs *flag.FlagSet) {
	f.schedule = webhook.DefaultSchedule()
	fs.BoolVar(&f.allowPrivate, "webhook-allow-private", false, "let webhooks go to loopback, private and link-local addresses (for a receiver on this machine or network; off: refused, checked on the resolved address)")
	fs.DurationVar(&f.timeout, "webhook-timeout", webhook.DefaultTimeout, "time limit of one webhook delivery try")
	fs.IntVar(&f.workers, "webhook-workers", webhook.DefaultWorkers, "webhook delivery tries run at once by this process (beside --workers; a receiver that hangs holds one for up to --webhook-timeout)")
	fs.Var(&f.schedule, "webhook-retry-schedule", "comma-separated waits before each retry of a webhook delivery (the default: about a day)")
}

// check refuses what the webhooks cannot run with (serveFlags.check).
func (f *webhookFlags) check(bad func(name, why string) error) error {
	switch {
	case f.workers < 1:
		return bad("webhook-workers", "must be at least 1")
	case f.timeout <= 0:
		return bad("webhook-timeout", "must be more than zero")
	case len(f.schedule) == 0:
		return bad("webhook-retry-schedule", "must name at least one wait")
	}
	return nil
}

// new returns the webhooks of these flags.
func (f *webhookFlags) new(st *store.Store, keys *secret.Keys, svc *jobs.Service, targets webhook.Targets, reg prometheus.Registerer, log *slog.Logger) (*webhook.Webhooks, error) {
	return webhook.New(webhook.Config{Store: st, Keys: keys, Jobs: svc, Targets: targets, Timeout: f.timeout,
		Schedule: f.schedule, Registerer: reg, Logger: log})
}

// durations is a flag of comma-separated durations of 0 or more.
type durations []time.Duration

func (d *durations) String() string {
	parts := make([]string, len(*d))
	for i, v := range *d {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}

func (d *durations) Set(s string) error {
	var out durations
	for _, p := range strings.Split(s, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return fmt.Errorf("%q is not a duration of 0 or more", p)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}
