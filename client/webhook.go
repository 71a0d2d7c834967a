package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// ErrWebhookSignature is what VerifyWebhook returns (wrapped) for a request
// that is not a genuine, fresh delivery of this server: missing headers, a
// timestamp outside the tolerance, or no matching signature.
var ErrWebhookSignature = errors.New("webhook signature not valid")

// DefaultWebhookTolerance is how far a delivery's webhook-timestamp may be
// from now: the Standard Webhooks recommendation.
const DefaultWebhookTolerance = 5 * time.Minute

// VerifyWebhook checks that a request a receiver got is a delivery signed
// with secret (the whsec_… of RotateWebhookSecret), as the Standard Webhooks
// specification says: one of the v1 signatures in webhook-signature is the
// HMAC-SHA256 of "webhook-id.webhook-timestamp.body", and the timestamp is
// within tolerance of now (0: DefaultWebhookTolerance). Pass the body
// exactly as received, before any parsing. A delivery may come more than
// once: use webhook-id to drop the ones already handled.
func VerifyWebhook(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return errors.New("verify webhook: the secret is not whsec_ and base64")
	}
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", ErrWebhookSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not a number", ErrWebhookSignature, ts)
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %v from now, more than %v", ErrWebhookSignature, d.Round(time.Second), tolerance)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrWebhookSignature)
}

// RotateWebhookSecret gives the caller a new webhook secret, which signs
// every delivery from now on, and returns it: the server shows it only
// here. Store it where the receiver can read it.
func (c *Client) RotateWebhookSecret(ctx context.Context) (string, error) {
	var out struct {
		Secret string `json:"secret"`
	}
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/webhooks/secret", nil, &out); err != nil {
		return "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return out.Secret, nil
}

// Deliveries returns the webhook deliveries of the caller's job, in event
// order, with their tries.
func (c *Client) Deliveries(ctx context.Context, jobID string) ([]jobtype.Delivery, error) {
	var out struct {
		Deliveries []jobtype.Delivery `json:"deliveries"`
	}
	if _, err := c.call(ctx, http.MethodGet, jobPath(jobID)+"/deliveries", nil, &out); err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", jobID, err)
	}
	return out.Deliveries, nil
}
