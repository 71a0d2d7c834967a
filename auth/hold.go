package auth

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Hold returns a context for a stream (an SSE stream, a long-poll, a
// WebSocket) opened by p: it ends when ctx does, when p's credential expires
// (at once) or is revoked or deleted (within about Recheck, when Run is
// running). Ended tells why. release must be called when the stream ends.
func (s *Service) Hold(ctx context.Context, p Principal) (held context.Context, release context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	if !p.Expires.IsZero() {
		timer = time.AfterFunc(p.Expires.Sub(s.cfg.Now()), func() { cancel(ErrExpired) })
	}
	h := &hold{cancel: cancel}
	id := p.Credential
	if strings.HasPrefix(id, tokenIDPrefix) {
		s.mu.Lock()
		if s.holds[id] == nil {
			s.holds[id] = map[*hold]struct{}{}
		}
		s.holds[id][h] = struct{}{}
		s.mu.Unlock()
	}
	return ctx, func() {
		if timer != nil {
			timer.Stop()
		}
		if strings.HasPrefix(id, tokenIDPrefix) {
			s.mu.Lock()
			if delete(s.holds[id], h); len(s.holds[id]) == 0 {
				delete(s.holds, id)
			}
			s.mu.Unlock()
		}
		cancel(context.Canceled)
	}
}

// Ended returns why a context from Hold ended when its credential did
// (ErrRevoked or ErrExpired, both 401 problems), or nil.
func Ended(ctx context.Context) error {
	switch cause := context.Cause(ctx); cause {
	case error(ErrRevoked), error(ErrExpired):
		return cause
	}
	return nil
}

// end ends the streams held by a token and forgets its lookups.
func (s *Service) end(tokenID string, cause error) {
	s.forget(tokenID, "")
	s.mu.Lock()
	hs := s.holds[tokenID]
	delete(s.holds, tokenID)
	s.mu.Unlock()
	for h := range hs {
		h.cancel(cause)
	}
}

// Run reads the credentials of open streams again every Recheck, ending
// the streams of those revoked, deleted or expired, and writes the tokens'
// last-use times, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushTouches(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
			s.recheck(ctx)
			s.flushTouches(ctx)
			s.sweep()
		}
	}
}

// recheck reads the tokens that hold streams open here and ends those that
// no longer work. A store that cannot be read ends nothing: the streams
// stay open until it can be (an outage is no revocation).
func (s *Service) recheck(ctx context.Context) {
	s.mu.Lock()
	ids := slices.Collect(maps.Keys(s.holds))
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ts, err := s.st.TokenStates(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("recheck the credentials of open streams", slog.Int("tokens", len(ids)), slog.String("error", err.Error()))
		}
		return
	}
	now := s.cfg.Now()
	found := make(map[string]bool, len(ts))
	for _, t := range ts {
		found[t.ID] = true
		if err := t.check(now); err != nil {
			s.end(t.ID, err)
		}
	}
	for _, id := range ids {
		if !found[id] {
			s.end(id, ErrRevoked) // deleted
		}
	}
}

// flushTouches writes the last-use times queued by lookups.
func (s *Service) flushTouches(ctx context.Context) {
	s.mu.Lock()
	if len(s.touch) == 0 {
		s.mu.Unlock()
		return
	}
	touch := s.touch
	s.touch = map[string]time.Time{}
	s.mu.Unlock()
	at := s.cfg.Now().UTC()
	err := s.st.TouchTokens(ctx, slices.Collect(maps.Keys(touch)), at, at.Add(-touchEvery))
	if err != nil && ctx.Err() == nil {
		s.log.Warn("record when tokens were last used", slog.Int("tokens", len(touch)), slog.String("error", err.Error()))
	}
}

// sweep drops lookups too old to be used again.
func (s *Service) sweep() {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cache {
		if now.Sub(c.loaded) >= s.cfg.Recheck {
			delete(s.cache, k)
		}
	}
}
