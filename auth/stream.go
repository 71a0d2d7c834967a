package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// A stream token is a read-only token for the stream URLs (a browser's
// EventSource and WebSocket cannot send headers), signed by secret.Keys. Its
// scope names the user, the job ("" for all of the user's jobs) and the
// credential that minted it, so that it stops working with that credential:
//
//	s2:<user id>:<job id>:<credential id>:<credential expiry, unix seconds or 0>
//
// Ids never hold ':' or '|'. Tokens of the earlier, unbound format are
// refused.
const streamScopeVersion = "s2"

// StreamAccess is what a stream token grants: read-only access to the
// streams of Principal's user, or of one of their jobs.
type StreamAccess struct {
	// Principal is the user, with the credential that minted the token;
	// Admin is never set (a stream token is read-only).
	Principal Principal
	// JobID is set when the token is scoped to one job.
	JobID string
}

// StreamToken returns a read-only token for the streams of one of p's jobs
// (jobID set) or of all of them, and when it expires. Tokens are stable
// within a StreamTokenTTL-aligned window, so a 304 keeps a valid one, and
// never outlive p's credential. Without Config.Keys it returns "".
func (s *Service) StreamToken(p Principal, jobID string) (string, time.Time) {
	if s.cfg.Keys == nil || p.Credential == "" {
		return "", time.Time{}
	}
	ttl := s.cfg.StreamTokenTTL
	exp := s.cfg.Now().Truncate(ttl).Add(2 * ttl)
	var credExp int64
	if !p.Expires.IsZero() {
		credExp = p.Expires.Unix()
		if p.Expires.Before(exp) {
			exp = p.Expires
		}
	}
	scope := strings.Join([]string{streamScopeVersion, p.ID, jobID, p.Credential, strconv.FormatInt(credExp, 10)}, ":")
	key := streamKey{scope: scope, exp: exp.Unix()}
	s.mu.Lock()
	tok, ok := s.streamTokens[key]
	s.mu.Unlock()
	if !ok {
		// A token is a function of its scope and expiry: one signature per
		// window serves every poll of the job in it.
		tok = s.cfg.Keys.SignStream(scope, exp)
		s.mu.Lock()
		if len(s.streamTokens) >= cacheSize {
			clear(s.streamTokens)
		}
		s.streamTokens[key] = tok
		s.mu.Unlock()
	}
	return tok, exp
}

// streamKey names one minted stream token: its scope and expiry (unix
// seconds, as the token holds it).
type streamKey struct {
	scope string
	exp   int64
}

// errBadStreamToken is a token in a URL that is not a valid stream token.
var errBadStreamToken = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "the token in the URL must be a valid, unexpired stream token (API tokens go in the Authorization header only)")

// VerifyStreamToken checks a stream token and the credential that minted
// it: a token minted from a revoked, deleted or expired API token is
// refused.
func (s *Service) VerifyStreamToken(ctx context.Context, token string) (StreamAccess, error) {
	if s.cfg.Keys == nil {
		return StreamAccess{}, errBadStreamToken
	}
	scope, err := s.cfg.Keys.VerifyStream(token, s.cfg.Now())
	if err != nil {
		return StreamAccess{}, errBadStreamToken
	}
	f := strings.Split(scope, ":")
	if len(f) != 5 || f[0] != streamScopeVersion || f[1] == "" || f[3] == "" {
		return StreamAccess{}, errBadStreamToken
	}
	userID, jobID, cred := f[1], f[2], f[3]
	credExp, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return StreamAccess{}, errBadStreamToken
	}
	var p Principal
	if strings.HasPrefix(cred, tokenIDPrefix) {
		p, err = s.tokenByID(ctx, cred)
		if err == nil && p.ID != userID {
			err = errBadStreamToken
		}
	} else {
		// A JWT cannot be looked up again: the stream token ends with it
		// (its expiry is capped at the JWT's).
		p, err = s.userByID(ctx, userID)
		p.Credential = cred
		if credExp > 0 {
			p.Expires = time.Unix(credExp, 0)
		}
	}
	if err != nil {
		return StreamAccess{}, err
	}
	p.Admin = false
	return StreamAccess{Principal: p, JobID: jobID}, nil
}

// tokenByID returns the principal of the token with this id, cached for
// Recheck.
func (s *Service) tokenByID(ctx context.Context, id string) (Principal, error) {
	if p, ok := s.cached("i:" + id); ok {
		return p, nil
	}
	t, u, err := s.st.TokenByID(ctx, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return Principal{}, ErrRevoked // deleted
	}
	if err != nil {
		return Principal{}, err
	}
	return s.admitToken("i:"+id, t, u)
}

// userByID returns a user as a principal, cached for Recheck.
func (s *Service) userByID(ctx context.Context, id string) (Principal, error) {
	if p, ok := s.cached("u:" + id); ok {
		return p, nil
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return Principal{}, errBadStreamToken
	}
	if err != nil {
		return Principal{}, err
	}
	p := Principal{User: u}
	s.remember("u:"+id, cached{p: p, loaded: s.cfg.Now()})
	return p, nil
}
