package auth

import (
	"context"
	"strings"
)

// TokenPrincipal returns the principal of the API token with this id, as
// Authenticate returns it for the token itself: ErrRevoked for a revoked or
// deleted token, ErrExpired for an expired one. It is how a session that
// names a token (rather than carrying it) re-checks it on every request;
// lookups are cached for Config.Recheck, like every other. An id that is not
// an API token's (a JWT's) is refused: it cannot be looked up again.
func (s *Service) TokenPrincipal(ctx context.Context, id string) (Principal, error) {
	if !strings.HasPrefix(id, tokenIDPrefix) {
		return Principal{}, errUnknown
	}
	return s.tokenByID(ctx, id)
}
