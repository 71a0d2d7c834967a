package webhook

import (
	"context"
	"fmt"

	"github.com/aijobs/aijobs/jobs"
)

// The methods in this file are the API's side of webhooks.

// secretContext binds a sealed secret to its user: it cannot be moved to
// another.
func secretContext(userID string) string { return "webhook secret " + userID }

// RotateSecret gives the user a new webhook secret, replacing the one
// before (deliveries signed from now on use it), and returns it: the only
// time it is shown.
func (w *Webhooks) RotateSecret(ctx context.Context, userID string) (string, error) {
	sec := NewSecret()
	if err := w.cfg.Store.SetWebhookSecret(ctx, userID, w.cfg.Keys.Seal([]byte(sec), secretContext(userID))); err != nil {
		return "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return sec, nil
}

// Deliveries returns the deliveries of the user's job, with their tries;
// another user's job is jobs.ErrNotFound.
func (w *Webhooks) Deliveries(ctx context.Context, userID, jobID string) ([]jobs.Delivery, error) {
	if _, err := w.cfg.Jobs.Get(ctx, userID, jobID); err != nil {
		return nil, err
	}
	return w.cfg.Store.Deliveries(ctx, jobID)
}

// SetDefault sets (url "": clears) the user's default webhook, used by
// their submits that name none, and returns it.
func (w *Webhooks) SetDefault(ctx context.Context, userID, url string, events []string) (*jobs.Webhook, error) {
	var hook *jobs.Webhook
	if url != "" {
		if err := w.cfg.Targets.CheckURL(url); err != nil {
			return nil, jobs.Errorf(jobs.KindInvalid, "invalid_webhook_url", "url: %v", err)
		}
		evs, err := jobs.ParseWebhookEvents(events)
		if err != nil {
			return nil, err
		}
		hook = &jobs.Webhook{URL: url, Events: evs}
	}
	if err := w.cfg.Store.SetUserWebhook(ctx, userID, hook); err != nil {
		return nil, err
	}
	return hook, nil
}

// Default returns the user's default webhook (nil: none).
func (w *Webhooks) Default(ctx context.Context, userID string) (*jobs.Webhook, error) {
	return w.cfg.Store.UserWebhook(ctx, userID)
}
