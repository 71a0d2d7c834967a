package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a JWK set of RSA keys on loopback, as an identity
// provider does; keys can be rotated and the server stopped.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey
}

func newJWKS(t *testing.T) *jwksServer {
	t.Helper()
	j := &jwksServer{keys: map[string]*rsa.PrivateKey{}}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range j.keys {
			set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(j.Close)
	return j
}

// rotate adds a new key and returns its kid.
func (j *jwksServer) rotate(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := "k" + randText(6)
	j.mu.Lock()
	j.keys[kid] = k
	j.mu.Unlock()
	return kid
}

// sign makes an RS256 JWT with the key kid.
func (j *jwksServer) sign(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	j.mu.Lock()
	k := j.keys[kid]
	j.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are an app's login claims for sub, valid for d (negative: expired).
func claims(sub string, d time.Duration, extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iss": "https://app.example", "aud": "aijobs", "exp": time.Now().Add(d).Unix(), "iat": time.Now().Add(-time.Minute).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

// TestJWTLogin: the app's own login works as is. A bearer JWT (HS256 with
// a shared secret, or RS256 from the app's JWKS) is the user of its sub,
// created on first use; the original client's flow — submit, poll, SSE —
// is unchanged; bad tokens are 401, keys that cannot be fetched a 503.
func TestJWTLogin(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		keys := newJWKS(t)
		kid := keys.rotate(t)
		secret := "a-shared-secret-of-the-app-32-bytes!"
		s := startServer(t, db, "--jwt-secret", secret, "--jwks-url", keys.URL, "--jwt-issuer", "https://app.example",
			"--jwt-audience", "aijobs", "--jwt-admin-claim", "aijobs_admin", "--jwt-quota-claim", "aijobs_quota")
		hs := func(c jwt.MapClaims) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}

		for name, token := range map[string]string{"HS256": hs(claims("maya", time.Hour)), "RS256 from the JWKS": keys.sign(t, kid, claims("maya", time.Hour))} {
			t.Run(name, func(t *testing.T) {
				a := s.client(token)
				j := a.submit("I want to run a half marathon by June")
				if final := a.waitTerminal(j.ID); final.Status != "completed" {
					t.Fatalf("job of a JWT user: %s %+v", final.Status, final.Error)
				}
				evs := collectSSE(t, s.URL+"/api/v1/jobs/"+j.ID+"/events?after=0&token="+j.StreamToken, 30*time.Second)
				if last := evs[len(evs)-1]; last.typ != "completed" {
					t.Errorf("SSE with the JWT's stream token ended on %s", last.typ)
				}
				var usage struct {
					RequestsLimit int64 `json:"requests_limit"`
				}
				a.do("GET", "/api/v1/ai/usage", nil).json(t, &usage)
				if usage.RequestsLimit != 100 {
					t.Errorf("a user created by their first JWT has quota %d, want the default 100", usage.RequestsLimit)
				}
			})
		}
		// Both logins are the same user: one sees the other's job.
		mine := s.client(hs(claims("maya", time.Hour))).submit("plan my week")
		if r := s.client(keys.sign(t, kid, claims("maya", time.Hour))).do("GET", "/api/v1/jobs/"+mine.ID, nil); r.Status != 200 {
			t.Errorf("the same sub through the JWKS cannot read its job: %d", r.Status)
		}
		if r := s.client(hs(claims("other", time.Hour))).do("GET", "/api/v1/jobs/"+mine.ID, nil); r.Status != 404 {
			t.Errorf("another sub reads maya's job: %d, want 404", r.Status)
		}

		// The app's plan sets the quota: on the first login, and when it changes.
		limit := func(token string) int64 {
			var usage struct {
				RequestsLimit int64 `json:"requests_limit"`
			}
			s.client(token).do("GET", "/api/v1/ai/usage", nil).json(t, &usage)
			return usage.RequestsLimit
		}
		if got := limit(hs(claims("pro-user", time.Hour, "aijobs_quota", 500))); got != 500 {
			t.Errorf("quota from the JWT's claim on first use: %d, want 500", got)
		}
		time.Sleep(600 * time.Millisecond) // past the 500-ms credential cache
		if got := limit(hs(claims("pro-user", time.Hour+time.Second, "aijobs_quota", 1000))); got != 1000 {
			t.Errorf("quota after the plan changed: %d, want 1000", got)
		}

		// A rotated key works without a restart.
		newKid := keys.rotate(t)
		if r := s.client(keys.sign(t, newKid, claims("maya", time.Hour))).do("GET", "/api/v1/jobs", nil); r.Status != 200 {
			t.Errorf("a JWT signed with a rotated-in key: %d %s", r.Status, r.Body)
		}

		refused := map[string]string{
			"expired":        hs(claims("maya", -time.Hour)),
			"wrong issuer":   hs(claims("maya", time.Hour, "iss", "https://evil.example")),
			"wrong audience": hs(claims("maya", time.Hour, "aud", "someone-else")),
			"not yet valid":  hs(claims("maya", time.Hour, "nbf", time.Now().Add(time.Hour).Unix())),
			"wrong secret": func() string {
				s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("maya", time.Hour)).SignedString([]byte("guess"))
				return s
			}(),
			"alg none": func() string {
				s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("maya", time.Hour)).SignedString(jwt.UnsafeAllowNoneSignatureType)
				return s
			}(),
			"tampered":       tamper(hs(claims("maya", time.Hour))),
			"an unknown kid": signWithStranger(t, claims("maya", time.Hour)),
		}
		for name, token := range refused {
			t.Run("refused: "+name, func(t *testing.T) {
				wantError(t, s.client(token).do("GET", "/api/v1/jobs", nil), 401, "unauthorized")
			})
		}

		// Admins by claim reach the admin API; others get the unknown-path 404.
		if r := s.client(hs(claims("root", time.Hour, "aijobs_admin", true))).do("GET", "/api/v1/admin/users", nil); r.Status != 200 {
			t.Errorf("admin JWT on the admin API: %d %s", r.Status, r.Body)
		}
		wantError(t, s.client(hs(claims("maya", time.Hour))).do("GET", "/api/v1/admin/users", nil), 404, "not_found")

		// The JWKS goes away: a key never seen cannot be fetched → 503, not
		// a 401 that would log the user out; HS256 logins go on.
		keys.Close()
		time.Sleep(5500 * time.Millisecond) // the verifier asks the JWKS at most every 5 s
		r := s.client(signWithStranger(t, claims("maya", time.Hour))).do("GET", "/api/v1/jobs", nil)
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Errorf("JWKS unreachable, unknown kid: %d (Retry-After %q) %s, want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
		if r := s.client(hs(claims("maya", time.Hour))).do("GET", "/api/v1/jobs", nil); r.Status != 200 {
			t.Errorf("HS256 login while the JWKS is down: %d", r.Status)
		}
	})
}

// signWithStranger signs RS256 with a key the JWKS never published.
func signWithStranger(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "stranger-" + randText(6)
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamper changes the payload of a JWT, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"maya"`, `"mayb"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}
