// Package throttle keeps each provider's limits for the whole fleet: a
// budget of requests and of tokens per minute shared by every worker of
// every node, the pause a provider asks for (429/529 with Retry-After), a
// backoff shared by the fleet after the provider fails, and a circuit that
// opens after repeated failures and lets one probe through at a time.
//
// The state of each provider and model is one row in the database (Store):
// a caller takes its turn in one short transaction, at the database's
// clock, and is told when it may call — a reserved slot it sleeps until, or
// a time to ask again. Budgets use GCRA (the generic cell rate algorithm)
// with a burst of one request: requests are spaced 60 s / RPM apart, so no
// 1-second window holds more than the per-second budget plus one. Tokens
// are reserved on an estimate before the call and settled with the real
// usage after it.
//
// It uses only the standard library: the worker decides what is a
// temporary failure of the provider, the store keeps the rows.
package throttle

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// State is the fleet-wide state of one provider and model. The zero State
// is a provider never limited nor failing.
type State struct {
	// RequestTAT is the GCRA theoretical arrival time of the next request:
	// no request may go before it.
	RequestTAT time.Time
	// TokenTAT is the same for tokens: a call may go once it has passed,
	// and pushes it by its tokens' share of the minute.
	TokenTAT time.Time
	// PausedUntil stops every call until then: the provider's Retry-After,
	// or the backoff after a failure. PauseReason says which
	// (jobtype.ReasonWaitingForCapacity or ReasonWaitingForProvider).
	PausedUntil time.Time
	PauseReason string
	// Failures counts the provider's consecutive temporary failures.
	Failures int
	// Open is the circuit: once open, only a probe calls the provider;
	// ProbeUntil is when a probe in flight is presumed lost.
	Open       bool
	ProbeUntil time.Time
}

// Store keeps the State of each key, shared by every node.
type Store interface {
	// Throttle runs fn on the state of key at the database's current time
	// (the zero State for a key never seen). When fn reports a change, the
	// new state is written atomically with the read: no other caller's fn
	// sees the state in between. fn may run more than once.
	Throttle(ctx context.Context, key string, fn func(now time.Time, s *State) (changed bool)) error
}

// The reasons a call waits, as jobtype names them (this package uses only
// the standard library).
const (
	ReasonCapacity = "waiting_for_capacity"
	ReasonProvider = "waiting_for_provider"
)

// Defaults of Config, also the defaults of `aijobs serve`'s flags.
const (
	// DefaultRPM and DefaultTPM: no budget of requests or tokens.
	DefaultRPM = 0
	DefaultTPM = 0
	// DefaultWait is how long a job may wait for its provider (capacity,
	// a pause, an open circuit) before it fails with provider_unavailable.
	DefaultWait = 10 * time.Minute
	// DefaultOpenAfter consecutive temporary failures open the circuit.
	DefaultOpenAfter = 5
	// DefaultMinBackoff is the fleet's pause after the first failure; it
	// doubles with each next one, up to DefaultMaxBackoff.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// DefaultProbeLease is how long a probe of an open circuit may take
	// before another caller probes instead.
	DefaultProbeLease = 2 * time.Minute
	// DefaultPoll is how often a caller behind an open circuit looks again.
	DefaultPoll = time.Second
)

// Config configures a Throttle.
type Config struct {
	// RPM is the budget of requests per minute of each provider and model,
	// shared by the fleet. 0: unlimited.
	RPM int
	// TPM is the budget of tokens per minute. 0: unlimited.
	TPM int64
	// OpenAfter is how many consecutive failures open the circuit.
	// Defaults to DefaultOpenAfter.
	OpenAfter int
	// MinBackoff and MaxBackoff bound the fleet's backoff. Default to
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ProbeLease defaults to DefaultProbeLease.
	ProbeLease time.Duration
	// Poll defaults to DefaultPoll.
	Poll time.Duration
}

func (c Config) withDefaults() Config {
	c.OpenAfter = cmp.Or(c.OpenAfter, DefaultOpenAfter)
	c.MinBackoff = cmp.Or(c.MinBackoff, DefaultMinBackoff)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, DefaultMaxBackoff)
	c.ProbeLease = cmp.Or(c.ProbeLease, DefaultProbeLease)
	c.Poll = cmp.Or(c.Poll, DefaultPoll)
	return c
}

// Throttle hands out turns to call providers. It is safe for concurrent
// use; all its state is in the Store.
type Throttle struct {
	st  Store
	cfg Config
}

// New returns a Throttle on st.
func New(st Store, cfg Config) *Throttle {
	return &Throttle{st: st, cfg: cfg.withDefaults()}
}

// Call is one call a caller wants to make.
type Call struct {
	// Key names the provider and model: the budgets and the circuit are
	// per key.
	Key string
	// Tokens is the estimate reserved against the token budget.
	Tokens int64
	// OwnKey: the call runs on the user's own API key. The server's budgets
	// do not apply and a 429 is that user's own limit, not the fleet's; the
	// provider's outages (and so the circuit) are everyone's.
	OwnKey bool
}

// Turn is the answer of Take.
type Turn struct {
	// Go: the call has its slot and may go after Wait. Otherwise the caller
	// waits Wait and takes again.
	Go   bool
	Wait time.Duration
	// Reason is why the caller waits (ReasonCapacity or ReasonProvider),
	// "" when it need not.
	Reason string
	// Probe: this call probes the open circuit; its outcome closes it or
	// keeps it open.
	Probe bool
	// Tokens is what was reserved, settled by Done.
	Tokens int64
	// Open: the circuit was open when the turn was taken.
	Open bool
}

// Take asks for a turn to make c.
func (t *Throttle) Take(ctx context.Context, c Call) (Turn, error) {
	var turn Turn
	err := t.st.Throttle(ctx, c.Key, func(now time.Time, s *State) bool {
		var changed bool
		turn, changed = t.take(now, s, c)
		return changed
	})
	if err != nil {
		return Turn{}, fmt.Errorf("take a turn at %s: %w", c.Key, err)
	}
	return turn, nil
}

// take is Take on the state s at now.
func (t *Throttle) take(now time.Time, s *State, c Call) (Turn, bool) {
	if now.Before(s.PausedUntil) {
		return Turn{Wait: s.PausedUntil.Sub(now), Reason: cmp.Or(s.PauseReason, ReasonProvider), Open: s.Open}, false
	}
	turn := Turn{Go: true, Open: s.Open}
	changed := false
	if s.Open {
		if now.Before(s.ProbeUntil) {
			return Turn{Wait: min(s.ProbeUntil.Sub(now), t.cfg.Poll), Reason: ReasonProvider, Open: true}, false
		}
		s.ProbeUntil = now.Add(t.cfg.ProbeLease)
		turn.Probe, changed = true, true
	}
	if c.OwnKey || (t.cfg.RPM <= 0 && t.cfg.TPM <= 0) {
		return turn, changed
	}
	slot := now
	if t.cfg.RPM > 0 {
		slot = later(slot, s.RequestTAT)
	}
	if t.cfg.TPM > 0 {
		slot = later(slot, s.TokenTAT)
	}
	if t.cfg.RPM > 0 {
		s.RequestTAT = slot.Add(time.Minute / time.Duration(t.cfg.RPM))
	}
	if t.cfg.TPM > 0 && c.Tokens > 0 {
		s.TokenTAT = slot.Add(t.perTokens(c.Tokens))
		turn.Tokens = c.Tokens
	}
	turn.Wait = slot.Sub(now)
	if turn.Wait > 0 {
		turn.Reason = ReasonCapacity
	}
	return turn, true
}

// perTokens is the share of a minute that n tokens take of the budget.
func (t *Throttle) perTokens(n int64) time.Duration {
	return time.Duration(float64(n) * float64(time.Minute) / float64(t.cfg.TPM))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Outcome is how a call went, as the caller classified it.
type Outcome struct {
	// Failed: the provider failed temporarily (429, 5xx, 529, a connection
	// error, a timeout) — its trouble, not the call's.
	Failed bool
	// RateLimited: the failure was a 429.
	RateLimited bool
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Tokens is what the call really consumed (0: unknown, the estimate
	// stands).
	Tokens int64
	// Abandoned: the call was cut short by the caller (a cancellation, a
	// shutdown), which says nothing of the provider. A probe's turn goes to
	// the next caller at once.
	Abandoned bool
}

// After is the provider's state once a call was recorded.
type After struct {
	// Pause is how long the fleet now pauses (0 after a success).
	Pause time.Duration
	// Open reports whether the circuit is open.
	Open bool
}

// Done records the outcome of a call made on turn: a success closes the
// circuit and settles the tokens; a temporary failure pauses the provider
// for the fleet (its Retry-After, or a backoff that doubles with every
// consecutive failure) and opens the circuit after OpenAfter of them.
func (t *Throttle) Done(ctx context.Context, c Call, turn Turn, o Outcome) (After, error) {
	var after After
	err := t.st.Throttle(ctx, c.Key, func(now time.Time, s *State) bool {
		var changed bool
		after.Pause, changed = t.done(now, s, c, turn, o)
		after.Open = s.Open
		return changed
	})
	if err != nil {
		return After{}, fmt.Errorf("record a call to %s: %w", c.Key, err)
	}
	return after, nil
}

func (t *Throttle) done(now time.Time, s *State, c Call, turn Turn, o Outcome) (time.Duration, bool) {
	if o.Abandoned {
		if turn.Probe && !s.ProbeUntil.IsZero() {
			s.ProbeUntil = time.Time{}
			return 0, true
		}
		return 0, false
	}
	if !o.Failed {
		changed := false
		if turn.Tokens > 0 && o.Tokens > 0 && o.Tokens != turn.Tokens && t.cfg.TPM > 0 {
			s.TokenTAT = s.TokenTAT.Add(t.perTokens(o.Tokens) - t.perTokens(turn.Tokens))
			changed = true
		}
		if s.Failures > 0 || s.Open || !s.ProbeUntil.IsZero() {
			s.Failures, s.Open, s.ProbeUntil = 0, false, time.Time{}
			changed = true
		}
		return 0, changed
	}
	if c.OwnKey && o.RateLimited {
		return 0, false // the user's own limit
	}
	s.Failures++
	if turn.Probe {
		s.ProbeUntil = time.Time{}
	}
	if s.Failures >= t.cfg.OpenAfter {
		s.Open = true
	}
	// The provider's own word wins: a Retry-After pauses for that long.
	pause := o.RetryAfter
	if pause <= 0 {
		pause = t.backoff(s.Failures)
	}
	reason := ReasonProvider
	if o.RateLimited {
		reason = ReasonCapacity
	}
	if until := now.Add(pause); until.After(s.PausedUntil) {
		s.PausedUntil, s.PauseReason = until, reason
	}
	return s.PausedUntil.Sub(now), true
}

// backoff is the fleet's pause after the n-th consecutive failure:
// MinBackoff doubled n-1 times, at most MaxBackoff, jittered by ±20% so
// that nodes do not come back in step.
func (t *Throttle) backoff(n int) time.Duration {
	d := t.cfg.MaxBackoff
	if n-1 < 30 {
		d = min(t.cfg.MinBackoff<<(n-1), t.cfg.MaxBackoff)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Peek reads the state of key without changing it, for tests and metrics.
func (t *Throttle) Peek(ctx context.Context, key string) (State, error) {
	var st State
	err := t.st.Throttle(ctx, key, func(_ time.Time, s *State) bool { st = *s; return false })
	return st, err
}
