package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// Kind groups errors by what the caller can do about them. Transports map
// each kind to one status code, in one place.
type Kind int

// The kinds of error a caller can act on.
const (
	KindInternal     Kind = iota // a bug or an unexpected failure: 500, generic message
	KindInvalid                  // a field is wrong: 422
	KindMalformed                // the request cannot be parsed: 400
	KindTooLarge                 // the body or input is too big: 413
	KindUnauthorized             // no or bad credentials: 401
	KindNotFound                 // no such job for this user: 404
	KindConflict                 // the state forbids it: 409
	KindLimited                  // quota or rate: 429 with Retry-After
	KindUnavailable              // the store is down: 503 with Retry-After
)

// Problem is an error that carries a machine code, a message for humans and,
// for limits and outages, when to try again.
type Problem struct {
	Kind       Kind
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// Is makes errors.Is match problems by code, so the sentinels below work
// through wrapping.
func (p *Problem) Is(target error) bool {
	t, ok := target.(*Problem)
	return ok && t.Code == p.Code
}

// Errorf returns a Problem of the given kind and code.
func Errorf(kind Kind, code, format string, args ...any) *Problem {
	return &Problem{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel problems; match them with errors.Is.
var (
	ErrNotFound     = Errorf(KindNotFound, jobtype.CodeNotFound, "job not found")
	ErrTerminal     = Errorf(KindConflict, jobtype.CodeJobTerminal, "the job has already finished")
	ErrIdempotency  = Errorf(KindConflict, jobtype.CodeIdempotencyConflict, "this request id was already used with a different body")
	ErrUnauthorized = Errorf(KindUnauthorized, jobtype.CodeUnauthorized, "missing or invalid token")
	ErrUnavailable  = &Problem{Kind: KindUnavailable, Code: jobtype.CodeStoreUnavailable, Message: "the job store is unavailable, try again shortly", RetryAfter: 2 * time.Second}
	// ErrStale means a worker's attempt is no longer the job's current one:
	// a newer attempt or a cancellation owns the job now.
	ErrStale = Errorf(KindConflict, "stale_attempt", "the attempt is no longer current")
)

// ProblemOf returns the Problem in err's chain, or nil.
func ProblemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return nil
}
