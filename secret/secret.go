// Package secret keeps what must never be stored or sent in the clear: users'
// provider keys are sealed with AES-256-GCM and stream tokens are signed with
// HMAC-SHA256, both with keys derived from one master key. (API tokens, stored
// only as hashes, are the auth package's.)
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Keys seals, opens and signs with keys derived from one master key.
type Keys struct {
	aead cipher.AEAD
	sign []byte
}

// New derives the sealing and signing keys from master (at least 32 bytes).
func New(master []byte) (*Keys, error) {
	if len(master) < 32 {
		return nil, errors.New("secret key: need at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(master, "aijobs seal v1"))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Keys{aead: aead, sign: derive(master, "aijobs stream token v1")}, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Load returns the keys from hexOrBase64 (the AIJOBS_SECRET_KEY value) when
// it is set; otherwise from the file "secret.key" in dataDir, generating it
// (mode 0600) on first use.
func Load(hexOrBase64, dataDir string) (*Keys, error) {
	if hexOrBase64 != "" {
		if b, err := hex.DecodeString(hexOrBase64); err == nil {
			return New(b)
		}
		b, err := base64.StdEncoding.DecodeString(hexOrBase64)
		if err != nil {
			return nil, errors.New("AIJOBS_SECRET_KEY: want 32+ bytes as hex or base64")
		}
		return New(b)
	}
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte(hex.EncodeToString(randomBytes(32)))
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return Load("", dataDir) // another process created it first
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		_, err = f.Write(b)
		if err = errors.Join(err, f.Close()); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %w", path, err)
	}
	return New(raw)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return b
}

// Seal encrypts plain, binding it to context (the job id) so a sealed key
// cannot be moved to another job.
func (k *Keys) Seal(plain []byte, context string) []byte {
	nonce := randomBytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, plain, []byte(context))
}

// Open decrypts what Seal made for the same context.
func (k *Keys) Open(sealed []byte, context string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed key: too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, errors.New("open sealed key: authentication failed")
	}
	return plain, nil
}

// StreamTokenPrefix starts every stream token, so a URL can never be
// mistaken for one carrying an API token.
const StreamTokenPrefix = "st_"

// SignStream returns a read-only stream token for scope (for example
// "job:<id>:<user>" or "user:<id>") that expires at exp.
func (k *Keys) SignStream(scope string, exp time.Time) string {
	payload := scope + "|" + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, k.sign)
	m.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return StreamTokenPrefix + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(m.Sum(nil)[:20])
}

// VerifyStream returns the scope of a valid, unexpired stream token.
func (k *Keys) VerifyStream(token string, now time.Time) (string, error) {
	body, ok := strings.CutPrefix(token, StreamTokenPrefix)
	p64, s64, ok2 := strings.Cut(body, ".")
	if !ok || !ok2 {
		return "", errors.New("not a stream token")
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	sig, err2 := enc.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", errors.New("malformed stream token")
	}
	m := hmac.New(sha256.New, k.sign)
	m.Write(payload)
	if !hmac.Equal(sig, m.Sum(nil)[:20]) {
		return "", errors.New("bad stream token signature")
	}
	scope, expStr, _ := strings.Cut(string(payload), "|")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", errors.New("stream token expired")
	}
	return scope, nil
}

// Derive returns a 256-bit key for purpose (for example "aijobs riverui
// session v1"), derived from the signing key: a separate HMAC key for each
// kind of signed value, so that none can pass for another.
func (k *Keys) Derive(purpose string) []byte { return derive(k.sign, purpose) }
