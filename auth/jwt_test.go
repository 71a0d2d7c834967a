package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const (
	jwtTestIssuer   = "https://app.example"
	jwtTestAudience = "aijobs"
	jwtTestAdmin    = "aijobs_admin"
)

// jwtTestKey is a signing key the app's identity provider holds; its
// public half is what the JWKS serves.
type jwtTestKey struct {
	kid  string
	alg  jwkset.ALG // "" = no alg in the JWK
	priv crypto.Signer
}

func jwtNewRSA(t *testing.T, kid string) jwtTestKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jwtTestKey{kid: kid, priv: k}
}

func jwtNewEC(t *testing.T, kid string) jwtTestKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jwtTestKey{kid: kid, alg: jwkset.AlgES256, priv: k}
}

func jwtNewEd(t *testing.T, kid string) jwtTestKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jwtTestKey{kid: kid, alg: jwkset.AlgEdDSA, priv: k}
}

// jwtTestServer is the identity provider's JWKS endpoint on loopback.
type jwtTestServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   int
}

func jwtNewServer(t *testing.T, keys ...jwtTestKey) *jwtTestServer {
	t.Helper()
	s := &jwtTestServer{status: http.StatusOK}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		if s.status == http.StatusOK {
			_, _ = w.Write(s.body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server publish exactly keys from now on.
func (s *jwtTestServer) serve(t *testing.T, keys ...jwtTestKey) {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	body, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwtTestServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func (s *jwtTestServer) hitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// jwtClaims are the claims the app puts in a normal login token, with
// edits applied (a nil value deletes the claim).
func jwtClaims(edits jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": "alice",
		"iss": jwtTestIssuer,
		"aud": jwtTestAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// jwtSign signs claims with method and key, naming kid in the header
// unless it is "".
func jwtSign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwtVerifier(t *testing.T, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwtCheckErr reports how err differs from want (nil, ErrJWTInvalid or
// ErrJWTUnavailable), or "" when it matches.
func jwtCheckErr(err, want error) string {
	switch {
	case want == nil && err != nil:
		return "refused: " + err.Error()
	case want == nil:
		return ""
	case !errors.Is(err, want):
		return "got " + jwtErrString(err) + ", want " + want.Error()
	case errors.Is(err, ErrJWTInvalid) && errors.Is(err, ErrJWTUnavailable):
		return "both invalid and unavailable: " + err.Error()
	}
	return ""
}

func jwtErrString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestJWTCheck(t *testing.T) {
	secret := []byte("the app's shared HS256 secret, 32+ bytes long")
	rsaKey := jwtNewRSA(t, "rsa-1")
	ecKey := jwtNewEC(t, "ec-1")
	edKey := jwtNewEd(t, "ed-1")
	srv := jwtNewServer(t, rsaKey, ecKey, edKey)
	other := jwtNewRSA(t, "rsa-1") // an attacker's key using the real kid

	der, err := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1 := x509.MarshalPKCS1PublicKey(rsaKey.priv.Public().(*rsa.PublicKey))

	base := JWTConfig{
		Issuer:     jwtTestIssuer,
		Audience:   jwtTestAudience,
		AdminClaim: jwtTestAdmin,
	}
	both, jwksOnly, secretOnly := base, base, base
	both.Secret, both.JWKSURL = secret, srv.URL
	jwksOnly.JWKSURL = srv.URL
	secretOnly.Secret = secret
	verifiers := map[string]*JWTVerifier{
		"both":   jwtVerifier(t, both),
		"jwks":   jwtVerifier(t, jwksOnly),
		"secret": jwtVerifier(t, secretOnly),
	}

	rs := jwt.SigningMethodRS256
	tampered := jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(nil))
	parts := strings.Split(tampered, ".")
	parts[1] = strings.Split(jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"sub": "mallory"})), ".")[1]
	tampered = strings.Join(parts, ".")
	noneTok := jwtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, rsaKey.kid, jwtClaims(nil))

	cases := []struct {
		name     string
		notice   string // what the app's user notices
		verifier string
		token    string
		wantSub  string
		admin    bool
		want     error
	}{
		{"RS256", "signs in with the app's RSA-signed login", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(nil)), "alice", false, nil},
		{"PS256", "signs in with an RSA-PSS-signed login", "jwks",
			jwtSign(t, jwt.SigningMethodPS256, rsaKey.priv, rsaKey.kid, jwtClaims(nil)), "alice", false, nil},
		{"ES256", "signs in with an ECDSA P-256-signed login", "both",
			jwtSign(t, jwt.SigningMethodES256, ecKey.priv, ecKey.kid, jwtClaims(nil)), "alice", false, nil},
		{"EdDSA", "signs in with an Ed25519-signed login", "both",
			jwtSign(t, jwt.SigningMethodEdDSA, edKey.priv, edKey.kid, jwtClaims(nil)), "alice", false, nil},
		{"RS256 without kid", "a provider that omits kid still works", "jwks",
			jwtSign(t, rs, rsaKey.priv, "", jwtClaims(nil)), "alice", false, nil},
		{"HS256 secret", "signs in with the app's HS256 login", "both",
			jwtSign(t, jwt.SigningMethodHS256, secret, "", jwtClaims(nil)), "alice", false, nil},
		{"HS256 secret only", "HS256 works without a JWKS", "secret",
			jwtSign(t, jwt.SigningMethodHS256, secret, "", jwtClaims(nil)), "alice", false, nil},
		{"admin claim", "an admin of the app is an admin here", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{jwtTestAdmin: true})), "alice", true, nil},
		{"admin claim as string", "\"true\" as a string does not make an admin", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{jwtTestAdmin: "true"})), "alice", false, nil},
		{"admin claim false", "an ordinary user stays one", "secret",
			jwtSign(t, jwt.SigningMethodHS256, secret, "", jwtClaims(jwt.MapClaims{jwtTestAdmin: false})), "alice", false, nil},
		{"expired within leeway", "a slightly fast clock does not log users out", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()})), "alice", false, nil},
		{"expired", "an old login is refused (401)", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), "", false, ErrJWTInvalid},
		{"not yet valid", "a token for later is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})), "", false, ErrJWTInvalid},
		{"issued in the future", "a token dated ahead is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"iat": time.Now().Add(time.Hour).Unix()})), "", false, ErrJWTInvalid},
		{"wrong issuer", "another app's login is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"iss": "https://evil.example"})), "", false, ErrJWTInvalid},
		{"no issuer", "a login without iss is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"iss": nil})), "", false, ErrJWTInvalid},
		{"wrong audience", "a token meant for another service is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"aud": "billing"})), "", false, ErrJWTInvalid},
		{"audience list", "a token for several services including aijobs works", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"aud": []string{"billing", jwtTestAudience}})), "alice", false, nil},
		{"alg none", "an unsigned token is refused", "both", noneTok, "", false, ErrJWTInvalid},
		{"alg none, secret only", "an unsigned token is refused", "secret", noneTok, "", false, ErrJWTInvalid},
		{"HS256 keyed with RSA public PEM", "the public key cannot forge logins", "both",
			jwtSign(t, jwt.SigningMethodHS256, pemBytes, rsaKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS256 keyed with RSA public PEM, JWKS only", "the public key cannot forge logins", "jwks",
			jwtSign(t, jwt.SigningMethodHS256, pemBytes, rsaKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS256 keyed with RSA public DER", "the public key cannot forge logins", "jwks",
			jwtSign(t, jwt.SigningMethodHS256, der, rsaKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS256 keyed with RSA public PKCS1", "the public key cannot forge logins", "both",
			jwtSign(t, jwt.SigningMethodHS256, pkcs1, "", jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS256 wrong secret", "a guessed secret cannot forge logins", "both",
			jwtSign(t, jwt.SigningMethodHS256, []byte("not the secret, but 32 bytes long!"), "", jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS384", "only HS256 is accepted with the secret", "secret",
			jwtSign(t, jwt.SigningMethodHS384, secret, "", jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"RS256 with secret only", "asymmetric tokens need --jwks-url", "secret",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"HS256 with JWKS only", "HMAC tokens need --jwt-secret", "jwks",
			jwtSign(t, jwt.SigningMethodHS256, secret, "", jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"forged with the real kid", "another RSA key cannot pose as the app's", "both",
			jwtSign(t, rs, other.priv, other.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"ES256 naming the RSA kid", "a key of the wrong type is refused", "both",
			jwtSign(t, jwt.SigningMethodES256, ecKey.priv, rsaKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"RS256 naming the ES256 key", "the JWK's alg is enforced", "both",
			jwtSign(t, rs, rsaKey.priv, ecKey.kid, jwtClaims(nil)), "", false, ErrJWTInvalid},
		{"tampered payload", "editing the subject breaks the signature", "both", tampered, "", false, ErrJWTInvalid},
		{"missing sub", "a token naming nobody is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"sub": nil})), "", false, ErrJWTInvalid},
		{"empty sub", "a token naming nobody is refused", "secret",
			jwtSign(t, jwt.SigningMethodHS256, secret, "", jwtClaims(jwt.MapClaims{"sub": ""})), "", false, ErrJWTInvalid},
		{"missing exp", "a token that never expires is refused", "both",
			jwtSign(t, rs, rsaKey.priv, rsaKey.kid, jwtClaims(jwt.MapClaims{"exp": nil})), "", false, ErrJWTInvalid},
		{"garbage", "a mangled header is refused", "both", "eyJhbGciOi.eyJzdWIi.c2ln", "", false, ErrJWTInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := verifiers[tc.verifier]
			id, err := v.Check(t.Context(), tc.token)
			sub, admin, exp := id.Subject, id.Admin, id.Expires
			if msg := jwtCheckErr(err, tc.want); msg != "" {
				t.Fatalf("%s: %s", tc.notice, msg)
			}
			if err != nil {
				if m := err.Error(); !strings.HasPrefix(m, "invalid JWT: ") || len(m) > 80 {
					t.Errorf("%s: message %q is not a short \"invalid JWT: …\"", tc.notice, m)
				}
				return
			}
			if sub != tc.wantSub || admin != tc.admin {
				t.Errorf("%s: got sub %q admin %v, want %q %v", tc.notice, sub, admin, tc.wantSub, tc.admin)
			}
			if d := time.Until(exp); d < -time.Minute || d > time.Hour+time.Minute {
				t.Errorf("%s: expires %v, want about the token's exp", tc.notice, exp)
			}
		})
	}
}

// TestJWTRotation: the provider rotates its key; logins signed with the new
// key work without restarting aijobs, and the removed key stops working.
func TestJWTRotation(t *testing.T) {
	oldKey := jwtNewRSA(t, "2024-old")
	newKey := jwtNewEd(t, "2025-new")
	srv := jwtNewServer(t, oldKey)
	v := jwtVerifier(t, JWTConfig{JWKSURL: srv.URL})
	oldTok := jwtSign(t, jwt.SigningMethodRS256, oldKey.priv, oldKey.kid, jwtClaims(nil))
	newTok := jwtSign(t, jwt.SigningMethodEdDSA, newKey.priv, newKey.kid, jwtClaims(nil))
	unknown := jwtNewRSA(t, "never-published")
	unknownTok := jwtSign(t, jwt.SigningMethodRS256, unknown.priv, unknown.kid, jwtClaims(nil))

	steps := []struct {
		name   string
		notice string
		before func()
		token  string
		want   error
	}{
		{"old key before rotation", "logins work", nil, oldTok, nil},
		{"new key after rotation", "logins with the new key work at once, no restart",
			func() { srv.serve(t, newKey) }, newTok, nil},
		{"old key after rotation", "the retired key's logins are refused", nil, oldTok, ErrJWTInvalid},
		{"unknown kid", "a key never published is refused (401, not 503)", nil, unknownTok, ErrJWTInvalid},
		{"new key again", "logins keep working", nil, newTok, nil},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		_, err := v.Check(t.Context(), st.token)
		if msg := jwtCheckErr(err, st.want); msg != "" {
			t.Fatalf("%s: %s: %s", st.name, st.notice, msg)
		}
	}
	// One start-up fetch, one for the new kid; the later unknown kids were
	// within the rate limit and did not hit the provider.
	if n := srv.hitCount(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (refreshes on unknown kid are rate-limited)", n)
	}
}

// TestJWTRotationBurst: many users sign in at once right after a rotation;
// all of them get in, and the provider is asked once.
func TestJWTRotationBurst(t *testing.T) {
	oldKey, newKey := jwtNewEC(t, "old"), jwtNewEC(t, "new")
	srv := jwtNewServer(t, oldKey)
	v := jwtVerifier(t, JWTConfig{JWKSURL: srv.URL})
	if _, err := v.Check(t.Context(), jwtSign(t, jwt.SigningMethodES256, oldKey.priv, oldKey.kid, jwtClaims(nil))); err != nil {
		t.Fatal(err)
	}
	srv.serve(t, newKey)
	tok := jwtSign(t, jwt.SigningMethodES256, newKey.priv, newKey.kid, jwtClaims(nil))
	errs := make(chan error, 20)
	for range cap(errs) {
		go func() {
			_, err := v.Check(t.Context(), tok)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("a login right after the rotation is refused: %v", err)
		}
	}
	if n := srv.hitCount(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

// TestJWTUnavailable: the provider's JWKS is down.
func TestJWTUnavailable(t *testing.T) {
	known := jwtNewEC(t, "ec-known")
	srv := jwtNewServer(t, known)
	v := jwtVerifier(t, JWTConfig{JWKSURL: srv.URL})
	knownTok := jwtSign(t, jwt.SigningMethodES256, known.priv, known.kid, jwtClaims(nil))
	if _, err := v.Check(t.Context(), knownTok); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	newKey := jwtNewRSA(t, "rsa-unseen")
	newTok := jwtSign(t, jwt.SigningMethodRS256, newKey.priv, newKey.kid, jwtClaims(nil))
	other := jwtNewEd(t, "ed-unseen")
	otherTok := jwtSign(t, jwt.SigningMethodEdDSA, other.priv, other.kid, jwtClaims(nil))

	cases := []struct {
		name   string
		notice string
		token  string
		want   error
	}{
		{"unseen kid", "a login with a key not yet fetched gets 503, not 401", newTok, ErrJWTUnavailable},
		{"another unseen kid", "still 503 while the JWKS stays down (rate-limited)", otherTok, ErrJWTUnavailable},
		{"cached key", "users whose key is cached keep working", knownTok, nil},
		{"expired, cached key", "an expired login is still a 401", jwtSign(t, jwt.SigningMethodES256, known.priv, known.kid,
			jwtClaims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), ErrJWTInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Check(t.Context(), tc.token)
			if msg := jwtCheckErr(err, tc.want); msg != "" {
				t.Fatalf("%s: %s", tc.notice, msg)
			}
		})
	}
}

// TestJWTStartupUnreachable: aijobs starts while the provider is down and
// recovers by itself once it is back.
func TestJWTStartupUnreachable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := NewJWTVerifier(t.Context(), JWTConfig{JWKSURL: closed.URL}); err != nil {
		t.Fatalf("start-up fails while the JWKS is unreachable: %v", err)
	}

	key := jwtNewEd(t, "ed-1")
	srv := jwtNewServer(t, key)
	srv.setStatus(http.StatusServiceUnavailable)
	v := jwtVerifier(t, JWTConfig{JWKSURL: srv.URL})
	tok := jwtSign(t, jwt.SigningMethodEdDSA, key.priv, key.kid, jwtClaims(nil))
	if _, err := v.Check(t.Context(), tok); !errors.Is(err, ErrJWTUnavailable) {
		t.Fatalf("while the JWKS answers 503: got %v, want ErrJWTUnavailable", err)
	}
	srv.setStatus(http.StatusOK)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Check(t.Context(), tok)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrJWTUnavailable) || time.Now().After(deadline) {
			t.Fatalf("logins do not recover once the JWKS is back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestJWTConfig(t *testing.T) {
	cases := []struct {
		name   string
		notice string
		cfg    JWTConfig
		ok     bool
	}{
		{"nothing", "serve refuses JWT flags with no key source", JWTConfig{Issuer: "x"}, false},
		{"relative URL", "a typo in --jwks-url is reported at start-up", JWTConfig{JWKSURL: "keys.json"}, false},
		{"bad scheme", "only http(s) JWKS URLs", JWTConfig{JWKSURL: "file:///etc/keys.json"}, false},
		{"negative leeway", "a nonsense leeway is reported", JWTConfig{Secret: []byte("s"), Leeway: -time.Second}, false},
		{"secret", "HS256 alone is enough", JWTConfig{Secret: []byte("s")}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewJWTVerifier(t.Context(), tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("%s: err = %v", tc.notice, err)
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	jwtTok := jwtSign(t, jwt.SigningMethodHS256, []byte("k"), "", jwtClaims(nil))
	cases := []struct {
		name   string
		notice string
		token  string
		want   bool
	}{
		{"JWT", "an app login goes to the JWT verifier", jwtTok, true},
		{"unsigned JWT", "an alg:none token is routed here and refused clearly", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", true},
		{"API token", "API tokens keep working", "aj_" + strings.Repeat("A", 43), false},
		{"stream token", "stream tokens keep working", "st_c2NvcGU.c2ln", false},
		{"four segments", "not a JWT", "a2V5.a2V5.a2V5.a2V5", false},
		{"empty payload", "not a JWT", "eyJhbGciOiJub25lIn0..c2ln", false},
		{"padding", "base64url without padding only", "eyJh==.eyJz.c2ln", false},
		{"space", "not a JWT", "eyJh bGc.eyJz.c2ln", false},
		{"empty", "no credential", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := LooksLikeJWT(tc.token); got != tc.want {
				t.Errorf("%s: LooksLikeJWT(%q) = %v", tc.notice, tc.token, got)
			}
		})
	}
}
