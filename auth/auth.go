// Package auth says who a caller is and what they may do: users, API tokens
// (create, hash, look up, cache, expiry, revocation, last use, the admin
// role), bearer JWTs through a JWTChecker, the read-only stream tokens that
// browsers put in a URL, and the streams held open by a credential, which it
// ends when that credential stops being valid. Transports ask a Service for
// the Principal of a request, then call jobs with it.
//
// # How a revocation reaches every node
//
// There is no notifier: every node reads the store. A looked-up credential
// is trusted for Config.Recheck (500 ms) and then read again, and every
// Recheck the credentials that hold streams open on this node are read again
// in one batched query; a revoked, deleted or expired one ends its streams
// (their contexts are cancelled). Expiry needs no read: a stream's context
// ends at its credential's expiry. So a revoked or expired credential stops
// working, on every node and on both databases, within about Recheck plus
// one read — under a second. The price is one indexed read per request of a
// token not seen in the last Recheck (a client polling every 2 s costs two
// reads per poll instead of one) and one read per Recheck per node for the
// streams; in exchange nothing depends on LISTEN/NOTIFY being delivered, a
// row deleted by hand also stops working, and SQLite nodes sharing one file
// need nothing more.
package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/secret"
)

// Principal is who a request comes from: the user, whether they are an
// admin, and the credential that says so.
type Principal struct {
	jobs.User
	// Admin is set for admin credentials: they reach the admin API.
	Admin bool
	// Credential is the id of the credential the principal came from: an
	// API token's id ("tok_…") or, for a JWT, "jwt_" and a hash of it. A
	// stream token names the credential that minted it.
	Credential string
	// Expires is when the credential stops being valid (zero: never).
	Expires time.Time
}

// JWTIdentity is what a verified JWT says about its bearer.
type JWTIdentity struct {
	// Subject (sub) is the aijobs user's name.
	Subject string
	// Admin is set when the JWT carries the admin role.
	Admin bool
	// Expires is the JWT's exp.
	Expires time.Time
	// Quota is the daily quota the JWT carries (-1: none; the user keeps
	// theirs, a new user gets the default).
	Quota int64
}

// JWTChecker verifies a bearer JWT. An error refuses it (one matching
// jobs.ErrUnavailable or ErrJWTUnavailable is a 503, any other a 401).
type JWTChecker interface {
	Check(ctx context.Context, token string) (JWTIdentity, error)
}

// Store is what auth needs from the database. Implementations turn "no
// rows" into jobs.ErrNotFound and an outage into jobs.ErrUnavailable.
type Store interface {
	// UserByID reads one user.
	UserByID(ctx context.Context, id string) (jobs.User, error)
	// UserByName reads the user called name.
	UserByName(ctx context.Context, name string) (jobs.User, error)
	// EnsureUser returns the user called name, creating it with dailyQuota
	// if it does not exist; a dailyQuota >= 0 also sets an existing user's.
	// A negative one leaves it alone (and gives a new user 100).
	EnsureUser(ctx context.Context, name string, dailyQuota int64) (u jobs.User, created bool, err error)
	// Users reads up to limit users whose name sorts after after, by name.
	Users(ctx context.Context, after string, limit int) ([]jobs.User, error)
	// SetQuota sets a user's daily quota and returns the user.
	SetQuota(ctx context.Context, userID string, dailyQuota int64) (jobs.User, error)
	// SetWeight sets a user's fair-share weight and returns the user.
	SetWeight(ctx context.Context, userID string, weight int64) (jobs.User, error)
	// AddToken stores a new token under the hash of its secret.
	AddToken(ctx context.Context, t Token, hash string) error
	// TokenByHash reads the token with this hash and its user.
	TokenByHash(ctx context.Context, hash string) (Token, jobs.User, error)
	// TokenByID reads one token and its user.
	TokenByID(ctx context.Context, id string) (Token, jobs.User, error)
	// Tokens reads the tokens of a user ("" for every user's), oldest
	// first.
	Tokens(ctx context.Context, userID string) ([]Token, error)
	// TokenStates reads the tokens among ids that still exist (their
	// expiry and revocation are what matters).
	TokenStates(ctx context.Context, ids []string) ([]Token, error)
	// RevokeToken sets a token's revoked_at to at, unless it is revoked
	// already, and returns the token.
	RevokeToken(ctx context.Context, id string, at time.Time) (Token, error)
	// TouchTokens sets last_used_at to at for the tokens among ids whose
	// last_used_at is unset or before before.
	TouchTokens(ctx context.Context, ids []string, at, before time.Time) error
}

// DefaultDailyQuota is the daily request quota of a user created by their
// first JWT (and of the demo user) unless configured.
const DefaultDailyQuota = 100

// Config configures a Service. Zero values take the defaults given.
type Config struct {
	// Keys signs stream tokens. Without it StreamToken mints nothing and
	// every stream token is refused (the CLI needs none).
	Keys *secret.Keys
	// StreamTokenTTL is the least time a stream token stays valid (at most
	// twice that, and never past its credential's expiry). Defaults to 1
	// hour.
	StreamTokenTTL time.Duration
	// Recheck is how long a looked-up credential is trusted before it is
	// read again, and how often the credentials of open streams are read
	// again. Defaults to 500 ms: a revocation takes effect everywhere
	// within about a second (see the package comment).
	Recheck time.Duration
	// DefaultQuota is the daily quota of a user created by their first JWT.
	// Defaults to 100.
	DefaultQuota int64
	// JWT verifies bearer JWTs (nil: a JWT is refused like any unknown
	// token).
	JWT JWTChecker
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger logs what the background loop could not do. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.StreamTokenTTL = cmp.Or(c.StreamTokenTTL, time.Hour)
	c.Recheck = cmp.Or(c.Recheck, 500*time.Millisecond)
	c.DefaultQuota = cmp.Or(c.DefaultQuota, DefaultDailyQuota)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// touchEvery is how often, at most, a token's last_used_at is written.
const touchEvery = time.Minute

// cacheSize bounds the credential cache; a full cache is simply emptied.
const cacheSize = 10000

// Service authenticates callers and manages users and tokens. Run must be
// running for last-use times to be written and for the streams of a revoked
// credential to be ended. It is safe for concurrent use.
type Service struct {
	st  Store
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// cache holds looked-up credentials for Recheck: "h:" + an API token's
	// hash, "j:" + a JWT's hash, "i:" + a token id (stream tokens), "u:" +
	// a user id (stream tokens minted from a JWT). Guarded by mu.
	cache map[string]cached
	// holds are the open streams by the id of the token they were opened
	// with. Guarded by mu.
	holds map[string]map[*hold]struct{}
	// touch are the tokens used since the last write of last_used_at that
	// need one, with when. Guarded by mu.
	touch map[string]time.Time
	// streamTokens are the stream tokens minted, by scope and expiry.
	// Guarded by mu.
	streamTokens map[streamKey]string
}

// cached is one looked-up credential.
type cached struct {
	p      Principal
	loaded time.Time
	// token is the API token's id ("" for a JWT's user) and lastUsed when
	// it was last recorded as used.
	token    string
	lastUsed time.Time
}

// hold is one stream held open by a credential.
type hold struct {
	cancel context.CancelCauseFunc
}

// New returns a Service on st.
func New(st Store, cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{st: st, cfg: cfg, log: cfg.Logger, cache: map[string]cached{},
		holds: map[string]map[*hold]struct{}{}, touch: map[string]time.Time{}, streamTokens: map[streamKey]string{}}
}

// Errors of authentication. Each is a 401 with code "unauthorized" (they
// match jobs.ErrUnauthorized with errors.Is); the message says why.
var (
	ErrRevoked = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "this credential has been revoked")
	ErrExpired = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "this credential has expired")
	// errUnknown is a bearer credential that is no token (or JWT) we know.
	errUnknown = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "missing or invalid token")
	// errStreamToken is a stream token used where only an API token goes.
	errStreamToken = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "a stream token is only for ?token= on the stream URLs; send an API token or a JWT in Authorization")
	// errJWTRefused is a JWT the checker refused, or any JWT when there
	// is no checker.
	errJWTRefused = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "the JWT was refused (bad signature, expired, or not for this server)")
)

// Authenticate returns the principal of a bearer credential: an API token
// or, when it has a JWT's shape, a JWT (its subject is the user, created
// with DefaultQuota on first use).
func (s *Service) Authenticate(ctx context.Context, credential string) (Principal, error) {
	switch {
	case credential == "" || !utf8.ValidString(credential) || len(credential) > 16<<10:
		return Principal{}, errUnknown
	case strings.HasPrefix(credential, secret.StreamTokenPrefix):
		return Principal{}, errStreamToken
	case LooksLikeJWT(credential):
		return s.authenticateJWT(ctx, credential)
	}
	hash := hashToken(credential)
	if p, ok := s.cached("h:" + hash); ok {
		return p, nil
	}
	t, u, err := s.st.TokenByHash(ctx, hash)
	if errors.Is(err, jobs.ErrNotFound) {
		return Principal{}, errUnknown
	}
	if err != nil {
		return Principal{}, err
	}
	return s.admitToken("h:"+hash, t, u)
}

// admitToken checks a token read from the store and caches its principal
// under key.
func (s *Service) admitToken(key string, t Token, u jobs.User) (Principal, error) {
	now := s.cfg.Now()
	if err := t.check(now); err != nil {
		return Principal{}, err
	}
	p := Principal{User: u, Admin: t.Admin, Credential: t.ID}
	if t.ExpiresAt != nil {
		p.Expires = *t.ExpiresAt
	}
	var lastUsed time.Time
	if t.LastUsedAt != nil {
		lastUsed = *t.LastUsedAt
	}
	s.remember(key, cached{p: p, loaded: now, token: t.ID, lastUsed: lastUsed})
	return p, nil
}

// authenticateJWT checks a JWT with the JWTChecker and finds (or creates)
// its subject's user.
func (s *Service) authenticateJWT(ctx context.Context, token string) (Principal, error) {
	if s.cfg.JWT == nil {
		return Principal{}, errJWTRefused
	}
	hash := hashToken(token)
	if p, ok := s.cached("j:" + hash); ok {
		return p, nil
	}
	id, err := s.cfg.JWT.Check(ctx, token)
	if err != nil {
		return Principal{}, jwtProblem(err)
	}
	sub, admin, exp := id.Subject, id.Admin, id.Expires
	if !s.cfg.Now().Before(exp) {
		return Principal{}, ErrExpired
	}
	if len(sub) > 200 || strings.IndexByte(sub, 0) >= 0 || !utf8.ValidString(sub) {
		return Principal{}, jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "the JWT's subject (sub) is not a usable user name: at most 200 characters of UTF-8 text")
	}
	u, err := s.st.UserByName(ctx, sub)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		quota := s.cfg.DefaultQuota
		if id.Quota >= 0 {
			quota = id.Quota
		}
		u, _, err = s.st.EnsureUser(ctx, sub, quota)
		if err != nil && jobs.ProblemOf(err) == nil {
			// Another node created it meanwhile (a unique violation): read it.
			u, err = s.st.UserByName(ctx, sub)
		}
	case err == nil && id.Quota >= 0 && id.Quota != u.DailyQuota:
		// The app's claim sets the quota (a plan changed): it wins.
		u, err = s.st.SetQuota(ctx, u.ID, id.Quota)
	}
	if err != nil {
		return Principal{}, err
	}
	p := Principal{User: u, Admin: admin, Credential: "jwt_" + hash[:24], Expires: exp}
	s.remember("j:"+hash, cached{p: p, loaded: s.cfg.Now()})
	return p, nil
}

// errJWTKeysUnavailable is a JWT that cannot be checked because the JWKS
// cannot be fetched: not the client's fault, so a 503.
var errJWTKeysUnavailable = &jobs.Problem{Kind: jobs.KindUnavailable, Code: "jwt_keys_unavailable",
	Message: "the keys to verify this JWT cannot be fetched right now; try again shortly", RetryAfter: 5 * time.Second}

// jwtProblem turns the JWTChecker's error into the API's: keys that cannot
// be fetched (ErrJWTUnavailable, or a jobs.ErrUnavailable) are a 503; a
// refused JWT (ErrJWTInvalid) a 401 with the checker's short reason; any
// other error a 401 whose text is not shown (it may name a key server).
func jwtProblem(err error) error {
	switch p := jobs.ProblemOf(err); {
	case p != nil && (p.Kind == jobs.KindUnavailable || p.Kind == jobs.KindUnauthorized):
		return err
	case errors.Is(err, ErrJWTUnavailable):
		return fmt.Errorf("%w: %w", errJWTKeysUnavailable, err)
	case errors.Is(err, ErrJWTInvalid) && len(err.Error()) <= 200:
		return jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "%s", err.Error())
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return errJWTRefused
}

// hashToken is how API tokens are stored and looked up: SHA-256, hex. The
// tokens are random 256-bit values, so a plain hash is enough.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// cached returns the principal cached under key if it was looked up less
// than Recheck ago and has not expired, and notes a token's use.
func (s *Service) cached(key string) (Principal, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[key]
	if !ok || now.Sub(c.loaded) >= s.cfg.Recheck || (!c.p.Expires.IsZero() && !now.Before(c.p.Expires)) {
		return Principal{}, false
	}
	s.used(key, &c, now)
	return c.p, true
}

// remember caches c under key and notes a token's use.
func (s *Service) remember(key string, c cached) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= cacheSize {
		clear(s.cache)
	}
	s.used(key, &c, c.loaded)
	s.cache[key] = c
}

// used queues a last_used_at write for c's token when the last one is older
// than touchEvery. Must be called with mu held.
func (s *Service) used(key string, c *cached, now time.Time) {
	if c.token == "" || now.Sub(c.lastUsed) < touchEvery {
		return
	}
	s.touch[c.token] = now
	c.lastUsed = now
	s.cache[key] = *c
}

// forget drops the cached lookups of one token (token set) or of one user's
// credentials (userID set).
func (s *Service) forget(token, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cache {
		if (token != "" && c.token == token) || (userID != "" && c.p.ID == userID) {
			delete(s.cache, k)
		}
	}
}
