package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/jobs"
)

// Token is an API token as it is stored and listed: never its secret, nor
// the hash of it.
type Token struct {
	// ID names the token ("tok_…"): to list and revoke it by.
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	UserName string `json:"user"`
	// Name is the operator's label for it ("" for none).
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
	// CreatedAt is when it was made; LastUsedAt when it was last used
	// (written at most once a minute; nil: never); ExpiresAt when it stops
	// working (nil: never); RevokedAt when it was revoked (nil: it was not).
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Status says whether the token works at now: "active", "expired" or
// "revoked".
func (t Token) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// check returns why the token does not work at now, or nil.
func (t Token) check(now time.Time) error {
	switch t.Status(now) {
	case "revoked":
		return ErrRevoked
	case "expired":
		return ErrExpired
	}
	return nil
}

// tokenIDPrefix starts every token id (and no other credential's id).
const tokenIDPrefix = "tok_"

// Errors of user and token management.
var (
	ErrUserNotFound  = jobs.Errorf(jobs.KindNotFound, "not_found", "user not found")
	ErrTokenNotFound = jobs.Errorf(jobs.KindNotFound, "not_found", "token not found")
)

// NewToken is what CreateToken makes.
type NewToken struct {
	// Name labels the token (optional; at most 200 characters).
	Name string
	// TTL is how long it works (0: until revoked).
	TTL time.Duration
	// Admin gives it the admin role.
	Admin bool
}

// CreateToken makes a new API token for a user and returns its secret —
// shown once, stored only as a hash — and the token.
func (s *Service) CreateToken(ctx context.Context, userID string, nt NewToken) (string, Token, error) {
	switch {
	case len(nt.Name) > 200:
		return "", Token{}, jobs.Errorf(jobs.KindInvalid, "invalid_field", "name is longer than 200 characters")
	case !utf8.ValidString(nt.Name) || strings.IndexByte(nt.Name, 0) >= 0:
		return "", Token{}, jobs.Errorf(jobs.KindInvalid, "invalid_field", "name must be UTF-8 text without NUL bytes")
	case nt.TTL < 0:
		return "", Token{}, jobs.Errorf(jobs.KindInvalid, "invalid_field", "expires must be a positive duration")
	}
	u, err := s.User(ctx, userID)
	if err != nil {
		return "", Token{}, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	t := Token{ID: tokenIDPrefix + strings.ToLower(rand.Text()), UserID: u.ID, UserName: u.Name,
		Name: nt.Name, Admin: nt.Admin, CreatedAt: now}
	if nt.TTL > 0 {
		exp := now.Add(nt.TTL)
		t.ExpiresAt = &exp
	}
	secret := newAPIToken()
	if err := s.st.AddToken(ctx, t, hashToken(secret)); err != nil {
		return "", Token{}, fmt.Errorf("create a token for user %s: %w", u.ID, err)
	}
	return secret, t, nil
}

// newAPIToken returns a new random API token ("aj_" and 43 characters).
func newAPIToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return "aj_" + base64.RawURLEncoding.EncodeToString(b)
}

// Tokens lists a user's tokens ("" for every user's), oldest first.
func (s *Service) Tokens(ctx context.Context, userID string) ([]Token, error) {
	ts, err := s.st.Tokens(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// Token reads one token.
func (s *Service) Token(ctx context.Context, id string) (Token, error) {
	if !validID(id, tokenIDPrefix) {
		return Token{}, ErrTokenNotFound
	}
	t, _, err := s.st.TokenByID(ctx, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return Token{}, ErrTokenNotFound
	}
	return t, err
}

// Revoke revokes a token: it stops working at once on this node (the
// streams it holds open are ended) and within about a second on every other
// (see the package comment). Revoking a revoked token changes nothing.
func (s *Service) Revoke(ctx context.Context, id string) (Token, error) {
	if !validID(id, tokenIDPrefix) {
		return Token{}, ErrTokenNotFound
	}
	t, err := s.st.RevokeToken(ctx, id, s.cfg.Now().UTC())
	if errors.Is(err, jobs.ErrNotFound) {
		return Token{}, ErrTokenNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	s.end(id, ErrRevoked)
	return t, nil
}

// validID reports whether id can be an id with this prefix: short text of
// letters, digits and _ (anything else cannot exist, and never reaches the
// store).
func validID(id, prefix string) bool {
	if !strings.HasPrefix(id, prefix) || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// User reads one user.
func (s *Service) User(ctx context.Context, id string) (jobs.User, error) {
	if !validID(id, "usr_") {
		return jobs.User{}, ErrUserNotFound
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.User{}, ErrUserNotFound
	}
	return u, err
}

// UserByName reads the user called name.
func (s *Service) UserByName(ctx context.Context, name string) (jobs.User, error) {
	u, err := s.st.UserByName(ctx, name)
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.User{}, ErrUserNotFound
	}
	return u, err
}

// EnsureUser returns the user called name, creating it if needed. A
// dailyQuota >= 0 sets the user's quota; a negative one leaves an existing
// user's alone and gives a new one 100.
func (s *Service) EnsureUser(ctx context.Context, name string, dailyQuota int64) (jobs.User, bool, error) {
	if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
		return jobs.User{}, false, jobs.Errorf(jobs.KindInvalid, "invalid_field", "a user name is 1 to 200 characters of UTF-8 text without NUL bytes")
	}
	u, created, err := s.st.EnsureUser(ctx, name, dailyQuota)
	if err != nil {
		return jobs.User{}, false, err
	}
	s.forget("", u.ID)
	return u, created, nil
}

// Users lists up to limit users (1 to 1000) whose name sorts after after,
// by name.
func (s *Service) Users(ctx context.Context, after string, limit int) ([]jobs.User, error) {
	if limit < 1 || limit > 1000 {
		return nil, jobs.Errorf(jobs.KindInvalid, "invalid_field", "limit must be between 1 and 1000")
	}
	if !utf8.ValidString(after) || strings.IndexByte(after, 0) >= 0 {
		return nil, jobs.Errorf(jobs.KindInvalid, "invalid_field", "cursor is not valid")
	}
	us, err := s.st.Users(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetQuota sets a user's daily request quota (0 or more); every node uses it
// within about a second.
func (s *Service) SetQuota(ctx context.Context, userID string, dailyQuota int64) (jobs.User, error) {
	if dailyQuota < 0 {
		return jobs.User{}, jobs.Errorf(jobs.KindInvalid, "invalid_field", "daily_quota must be 0 or more")
	}
	u, err := s.changeUser(userID, "quota", func() (jobs.User, error) { return s.st.SetQuota(ctx, userID, dailyQuota) })
	if err == nil {
		s.forget("", userID)
	}
	return u, err
}

// changeUser runs set, which changes the user userID's what, and turns a
// missing user into ErrUserNotFound.
func (s *Service) changeUser(userID, what string, set func() (jobs.User, error)) (jobs.User, error) {
	if !validID(userID, "usr_") {
		return jobs.User{}, ErrUserNotFound
	}
	u, err := set()
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.User{}, ErrUserNotFound
	}
	if err != nil {
		return jobs.User{}, fmt.Errorf("set the %s of user %s: %w", what, userID, err)
	}
	return u, nil
}

// MaxWeight bounds a user's fair-share weight.
const MaxWeight = 1000

// SetWeight sets a user's fair-share weight (1 to MaxWeight): under
// contention the user gets weight turns for every one of a user of weight 1.
// It counts from the next job the user submits.
func (s *Service) SetWeight(ctx context.Context, userID string, weight int64) (jobs.User, error) {
	if weight < 1 || weight > MaxWeight {
		return jobs.User{}, jobs.Errorf(jobs.KindInvalid, "invalid_field", "weight must be from 1 to %d", MaxWeight)
	}
	return s.changeUser(userID, "weight", func() (jobs.User, error) { return s.st.SetWeight(ctx, userID, weight) })
}

// ParseTTL reads a token lifetime: a number of days ("90d") or a Go
// duration ("12h", "30m", "2s", "1h30m"). It must be positive and at most
// 100 years.
func ParseTTL(v string) (time.Duration, error) {
	const most = 36500 * 24 * time.Hour
	v = strings.TrimSpace(v)
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("expiry %q: want a number of days from 1 to 36500 (90d) or a duration (12h, 30m)", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("expiry %q: want days (90d) or a duration (12h, 30m)", v)
		}
	}
	if d <= 0 || d > most {
		return 0, fmt.Errorf("expiry %q: want a positive duration of at most 100 years", v)
	}
	return d, nil
}
