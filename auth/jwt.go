package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ErrJWTInvalid is wrapped by every error Check returns for a credential
// that must be refused (bad signature, expired, wrong issuer, unknown key,
// ...): callers answer 401.
var ErrJWTInvalid = errors.New("invalid JWT")

// ErrJWTUnavailable is wrapped by the errors Check returns when the key
// needed to verify a token could not be had because the JWKS endpoint is
// unreachable: callers answer 503 with Retry-After.
var ErrJWTUnavailable = errors.New("JWT keys unavailable")

const (
	// jwtDefaultLeeway is the clock skew allowed when JWTConfig.Leeway is 0.
	jwtDefaultLeeway = 30 * time.Second
	// jwtFetchTimeout bounds one JWKS fetch.
	jwtFetchTimeout = 5 * time.Second
	// jwtRefreshInterval is how often the JWKS is fetched in the background.
	jwtRefreshInterval = 10 * time.Minute
	// jwtRetryMax caps the back-off between failed background fetches.
	jwtRetryMax = time.Minute
	// jwtUnknownKIDEvery rate-limits the fetches an unknown kid triggers.
	jwtUnknownKIDEvery = 5 * time.Second
	// jwtSecretAlg is the only algorithm accepted with JWTConfig.Secret.
	jwtSecretAlg = "HS256"
)

// jwtJWKSAlgs returns the algorithms accepted with keys from the JWKS
// (asymmetric only: a JWKS key never verifies an HMAC token).
func jwtJWKSAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

// JWTConfig configures JWT verification. At least one of Secret and JWKSURL
// must be set.
type JWTConfig struct {
	// Secret is the HS256 shared secret (--jwt-secret).
	Secret []byte
	// JWKSURL is where the RS256/ES256/EdDSA public keys are fetched from
	// (--jwks-url); they are cached, refreshed, and rotated by kid.
	JWKSURL string
	// Issuer, when set, is the required iss (--jwt-issuer).
	Issuer string
	// Audience, when set, must be in aud (--jwt-audience).
	Audience string
	// AdminClaim is the name of a boolean claim that makes the subject an
	// admin when it is JSON true ("" = no JWT is ever admin), e.g.
	// "aijobs_admin".
	AdminClaim string
	// QuotaClaim is the name of a numeric claim that carries the subject's
	// daily quota, a plan's tier ("" = none: users get the default quota,
	// which an admin may change).
	QuotaClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat (0 = 30 s).
	Leeway time.Duration
	// HTTPClient fetches the JWKS (nil = a client with a 5 s timeout).
	HTTPClient *http.Client
}

// JWTVerifier checks bearer JWTs. It is safe for concurrent use.
type JWTVerifier struct {
	secret     []byte
	adminClaim string
	quotaClaim string

	secretParser *jwt.Parser
	jwksParser   *jwt.Parser

	keys    *jwtKeySource   // nil without a JWKS URL
	keyfunc keyfunc.Keyfunc // over keys
}

// NewJWTVerifier returns a verifier for cfg. With a JWKS URL it fetches the
// keys in the background until ctx ends; a JWKS server that is unreachable
// at start-up does not make it fail (Check then returns ErrJWTUnavailable
// until the keys can be fetched).
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("jwt config: need a secret or a JWKS URL")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwt config: negative leeway %v", cfg.Leeway)
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = jwtDefaultLeeway
	}
	common := []jwt.ParserOption{
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if cfg.Issuer != "" {
		common = append(common, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		common = append(common, jwt.WithAudience(cfg.Audience))
	}
	v := &JWTVerifier{adminClaim: cfg.AdminClaim, quotaClaim: cfg.QuotaClaim}
	if len(cfg.Secret) > 0 {
		v.secret = append([]byte(nil), cfg.Secret...)
		v.secretParser = jwt.NewParser(append(common, jwt.WithValidMethods([]string{jwtSecretAlg}))...)
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil {
			return nil, fmt.Errorf("jwt config: JWKS URL: %w", err)
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("jwt config: JWKS URL %q is not an http(s) URL", cfg.JWKSURL)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: jwtFetchTimeout}
		}
		v.keys = &jwtKeySource{
			Storage: jwkset.NewMemoryStorage(),
			url:     cfg.JWKSURL,
			client:  client,
			limiter: rate.NewLimiter(rate.Every(jwtUnknownKIDEvery), 1),
			sem:     make(chan struct{}, 1),
		}
		kf, err := keyfunc.New(keyfunc.Options{
			Ctx:          ctx,
			Storage:      v.keys,
			UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
		})
		if err != nil {
			return nil, fmt.Errorf("jwt config: %w", err)
		}
		v.keyfunc = kf
		v.jwksParser = jwt.NewParser(append(common, jwt.WithValidMethods(jwtJWKSAlgs()))...)
		// Hold the fetch lock until the first fetch is done, so that a
		// Check meanwhile waits for it instead of fetching again.
		v.keys.sem <- struct{}{}
		go v.keys.run(ctx)
	}
	return v, nil
}

// Check verifies token and returns its subject (sub, required, non-empty),
// whether the admin claim is true, and when it expires (exp, required).
// A credential that must be refused yields an error wrapping ErrJWTInvalid
// whose message is short enough to show the user; keys that cannot be
// fetched yield one wrapping ErrJWTUnavailable.
func (v *JWTVerifier) Check(ctx context.Context, token string) (JWTIdentity, error) {
	unverified, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		return JWTIdentity{}, jwtInvalid(err)
	}
	alg := unverified.Method.Alg()

	useSecret := v.secret != nil && (v.keys == nil || strings.HasPrefix(alg, "HS"))
	var parser *jwt.Parser
	var keyFn jwt.Keyfunc
	var allowed []string
	if useSecret {
		parser, allowed = v.secretParser, []string{jwtSecretAlg}
		keyFn = func(*jwt.Token) (any, error) { return v.secret, nil }
	} else {
		parser, allowed = v.jwksParser, jwtJWKSAlgs()
		keyFn = v.keyfunc.KeyfuncCtx(ctx)
	}
	if !jwtContains(allowed, alg) {
		return JWTIdentity{}, &jwtError{msg: fmt.Sprintf("signing algorithm %.20q is not accepted", alg)}
	}

	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(token, claims, keyFn); err != nil {
		if unavailable := (*jwtUnavailableError)(nil); errors.As(err, &unavailable) {
			return JWTIdentity{}, unavailable
		}
		return JWTIdentity{}, jwtInvalid(err)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return JWTIdentity{}, &jwtError{msg: "token has no subject (sub)", cause: err}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return JWTIdentity{}, &jwtError{msg: "token has no expiry (exp)", cause: err}
	}
	id := JWTIdentity{Subject: sub, Expires: exp.Time, Quota: -1}
	if v.adminClaim != "" {
		id.Admin, _ = claims[v.adminClaim].(bool)
	}
	if q, ok := claims[v.quotaClaim].(float64); ok && v.quotaClaim != "" && q >= 0 && q == float64(int64(q)) {
		id.Quota = int64(q)
	}
	return id, nil
}

// LooksLikeJWT reports whether a bearer credential has the shape of a JWT
// (three dot-separated base64url segments, header and payload non-empty),
// so callers route it to Check rather than to API tokens.
func LooksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, p := range parts {
		if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
			return false
		}
	}
	return true
}

// jwtError is a refused credential: Error is the short message; it
// unwraps to ErrJWTInvalid and to the library's error, if any.
type jwtError struct {
	msg   string
	cause error
}

// Error returns "invalid JWT: " and the short message.
func (e *jwtError) Error() string { return ErrJWTInvalid.Error() + ": " + e.msg }

// Unwrap returns ErrJWTInvalid and the cause.
func (e *jwtError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrJWTInvalid}
	}
	return []error{ErrJWTInvalid, e.cause}
}

// jwtUnavailableError is a key that could not be had because the JWKS
// could not be fetched: it unwraps to ErrJWTUnavailable and the cause.
type jwtUnavailableError struct {
	cause error
}

// Error returns "JWT keys unavailable: " and the cause.
func (e *jwtUnavailableError) Error() string {
	return ErrJWTUnavailable.Error() + ": " + e.cause.Error()
}

// Unwrap returns ErrJWTUnavailable and the cause.
func (e *jwtUnavailableError) Unwrap() []error { return []error{ErrJWTUnavailable, e.cause} }

// jwtInvalid turns an error from the jwt library into a refused credential
// with a message a user can act on.
func jwtInvalid(err error) error {
	var msg string
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound):
		msg = "token is signed with an unknown key (kid)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "token is issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "token has the wrong issuer (iss)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = "token has the wrong audience (aud)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "token lacks a required claim (exp, iss or aud)"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		msg = "token has invalid claims"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		msg = "token cannot be verified"
	default:
		msg = "token is refused"
	}
	return &jwtError{msg: msg, cause: err}
}

// jwtContains reports whether list holds s.
func jwtContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jwtKeySource is the cached JWKS: a jwkset storage that fetches the set
// again (rate-limited) when a kid is not in the cache, and remembers
// whether the last fetch failed so that a missing key can be told apart
// from an unreachable server.
type jwtKeySource struct {
	jwkset.Storage // the cache; replaced whole by each successful fetch

	url     string
	client  *http.Client
	limiter *rate.Limiter // fetches triggered by an unknown kid

	// sem is held during a fetch; lastErr is read and written only while
	// holding it.
	sem     chan struct{}
	lastErr error
}

// run fetches the set (the caller holds sem for the first fetch), then
// again every jwtRefreshInterval, retrying failures with back-off, until
// ctx ends.
func (s *jwtKeySource) run(ctx context.Context) {
	s.fetch(ctx)
	ok := s.lastErr == nil
	<-s.sem
	retry := time.Second
	for {
		wait := jwtRefreshInterval
		if !ok {
			wait, retry = retry, min(2*retry, jwtRetryMax)
		} else {
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case <-ctx.Done():
			return
		case s.sem <- struct{}{}:
		}
		s.fetch(ctx)
		ok = s.lastErr == nil
		<-s.sem
	}
}

// fetch loads the set once into the cache and records the outcome. The
// caller holds sem.
func (s *jwtKeySource) fetch(ctx context.Context) {
	// NewStorageFromHTTP without RefreshInterval fetches once, replacing
	// the cache's keys on success and leaving them alone on failure.
	_, err := jwkset.NewStorageFromHTTP(s.url, jwkset.HTTPClientStorageOptions{
		Client:      s.client,
		Ctx:         ctx,
		HTTPTimeout: jwtFetchTimeout,
		Storage:     s.Storage,
	})
	if err != nil {
		// Drop the constructor's "failed to perform first HTTP request"
		// layer: to the operator this is just a fetch.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		s.lastErr = fmt.Errorf("fetch JWKS: %w", err)
		return
	}
	s.lastErr = nil
}

// KeyRead returns the key with id kid, fetching the set again first when
// it is not cached.
func (s *jwtKeySource) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := s.Storage.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	err = s.refreshUnless(ctx, func() bool {
		jwk, err = s.Storage.KeyRead(ctx, kid)
		return err == nil
	})
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("key %.40q: %w", kid, err)
	}
	return jwk, nil
}

// KeyReadAll returns every cached key (used for tokens without a kid),
// fetching the set first when the cache is empty.
func (s *jwtKeySource) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	all, err := s.Storage.KeyReadAll(ctx)
	if err != nil || len(all) > 0 {
		return all, err
	}
	err = s.refreshUnless(ctx, func() bool {
		all, err = s.Storage.KeyReadAll(ctx)
		return err == nil && len(all) > 0
	})
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		return nil, nil // the set is empty: the token is refused
	}
	return all, err
}

// refreshUnless fetches the set, unless found reports that the wanted key
// arrived while waiting for another fetch, or a fetch was triggered less
// than jwtUnknownKIDEvery ago. It returns nil when found is true at the
// end, an error wrapping ErrJWTUnavailable when the last fetch failed, and
// one wrapping jwkset.ErrKeyNotFound otherwise.
func (s *jwtKeySource) refreshUnless(ctx context.Context, found func() bool) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return &jwtUnavailableError{cause: fmt.Errorf("waiting for the JWKS: %w", ctx.Err())}
	}
	defer func() { <-s.sem }()
	if found() {
		return nil
	}
	if s.limiter.Allow() {
		// Finish the fetch even if this request goes away: others wait on it.
		s.fetch(context.WithoutCancel(ctx))
		if found() {
			return nil
		}
	}
	if s.lastErr != nil {
		return &jwtUnavailableError{cause: s.lastErr}
	}
	return fmt.Errorf("%w after refreshing the JWKS", jwkset.ErrKeyNotFound)
}
