// Package webhook delivers a job's events to the URL its submit (or its
// user's default) names, as the Standard Webhooks specification
// (https://www.standardwebhooks.com) describes: headers webhook-id,
// webhook-timestamp and webhook-signature, an HMAC-SHA256 with the user's
// whsec_… secret over "id.timestamp.body". Each delivery is a River job,
// inserted in the transaction of the event it delivers (at least once), tried
// on a schedule (Schedule) with the same webhook-id, one job's deliveries in
// event order, to targets checked on the address actually dialled (Targets).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every webhook secret; the rest is the key in base64.
const SecretPrefix = "whsec_"

// NewSecret returns a new random secret: whsec_ and 32 bytes in base64.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// decodeSecret returns the key of a whsec_… secret.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret: want whsec_ and base64")
	}
	return key, nil
}

// Sign returns the webhook-signature header of one try: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" with the secret's key.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
