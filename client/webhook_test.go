package client_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aijobs/aijobs/client"
)

// TestVerifyWebhook checks VerifyWebhook against signatures made by the
// Standard Webhooks library itself (the server's own deliveries are
// verified with it in e2e/webhook_test.go).
func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"job_id":"job_1","status":"completed","terminal":true}`)
	signed := func(id string, at time.Time, body []byte) http.Header {
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	now := time.Now()
	if err := client.VerifyWebhook(secret, signed("msg_1", now, body), body, 0); err != nil {
		t.Fatalf("a genuine delivery: %v", err)
	}
	// Several signatures (as during a key rotation): one match is enough.
	h := signed("msg_1", now, body)
	h.Set("webhook-signature", "v1,bm90IGl0 v2,whatever "+h.Get("webhook-signature"))
	if err := client.VerifyWebhook(secret, h, body, 0); err != nil {
		t.Errorf("with several signatures: %v", err)
	}
	missing := signed("msg_1", now, body)
	missing.Del("webhook-id")
	for name, c := range map[string]struct {
		secret string
		h      http.Header
		body   []byte
		tol    time.Duration
	}{
		"changed body":     {secret, signed("msg_1", now, body), []byte(`{"job_id":"job_2"}`), 0},
		"other secret":     {"whsec_" + "c2VjcmV0c2VjcmV0c2VjcmV0", signed("msg_1", now, body), body, 0},
		"too old":          {secret, signed("msg_1", now.Add(-10*time.Minute), body), body, 0},
		"too new":          {secret, signed("msg_1", now.Add(10*time.Minute), body), body, 0},
		"past a tolerance": {secret, signed("msg_1", now.Add(-2*time.Minute), body), body, time.Minute},
		"missing header":   {secret, missing, body, 0},
	} {
		if err := client.VerifyWebhook(c.secret, c.h, c.body, c.tol); !errors.Is(err, client.ErrWebhookSignature) {
			t.Errorf("%s: %v, want ErrWebhookSignature", name, err)
		}
	}
	if err := client.VerifyWebhook("whsec_???", signed("msg_1", now, body), body, 0); err == nil || errors.Is(err, client.ErrWebhookSignature) {
		t.Errorf("a malformed secret: %v, want an error about the secret", err)
	}
}
