package jobs

import (
	"github.com/aijobs/aijobs/jobtype"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The methods in this file are the worker's side of a job. Each is fenced by
// attempt: only the job's current attempt may write it, so a stale or rescued
// worker cannot overwrite a newer state. ErrStale and ErrTerminal tell the
// worker to stop.

// Lost reports whether err means the worker no longer owns the job: a newer
// attempt took it over, or it was cancelled.
func Lost(err error) bool { return errors.Is(err, ErrStale) || errors.Is(err, ErrTerminal) }

// Start begins attempt n (1-based) of the job on node and returns the job.
// The same attempt may start again only after it recorded an interruption
// (retrying).
func (s *Service) Start(ctx context.Context, jobID string, attempt int, node string) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if j.Terminal {
			return nil, ErrTerminal
		}
		if j.Attempt > attempt || (j.Attempt == attempt && j.Status != StatusRetrying) {
			return nil, ErrStale
		}
		ev := &Event{Event: jobtype.Event{Type: EventStatus, Attempt: attempt}}
		if j.Attempt == attempt {
			// The same attempt resumes from the start: clients drop the
			// output it streamed before, as on any working event with an
			// error.
			ev.Error = &Error{Code: jobtype.CodeInterrupted, Message: "the attempt starts over"}
		}
		j.Status, j.Attempt, j.RetryAt, j.Node, j.Reason = StatusWorking, attempt, nil, node, ""
		if j.StartedAt == nil {
			j.StartedAt = &now
		}
		return ev, nil
	})
}

// Waiting records that attempt, which has not started, waits for its
// provider (reason: jobtype.ReasonWaitingForCapacity or
// ReasonWaitingForProvider) until about until. The job keeps its status —
// queued, or retrying when an attempt was stopped by the provider's
// trouble — and shows why it waits. The first wait starts the job's
// provider-wait clock (WaitingSince). It is allowed where Start is.
func (s *Service) Waiting(ctx context.Context, jobID string, attempt int, reason string, until time.Time) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if j.Terminal {
			return nil, ErrTerminal
		}
		if j.Attempt > attempt || (j.Attempt == attempt && j.Status != StatusRetrying) {
			return nil, ErrStale
		}
		until := until.UTC().Truncate(time.Microsecond)
		j.Reason, j.RetryAt = reason, &until
		if j.WaitingSince == nil {
			j.WaitingSince = &now
		}
		return &Event{Event: jobtype.Event{Type: EventStatus, Attempt: j.Attempt, RetryAt: &until, Reason: reason}}, nil
	})
}

// fence lets only the running, current attempt write: once an attempt is
// over (retrying: it failed, was interrupted or was handed back) its worker
// may not write again.
func fence(j *Job, attempt int) error {
	switch {
	case j.Terminal:
		return ErrTerminal
	case j.Attempt != attempt || j.Status != StatusWorking:
		return ErrStale
	}
	return nil
}

// Report records streamed output and progress. Progress never goes back and
// stays below 100 until the job completes.
func (s *Service) Report(ctx context.Context, jobID string, attempt int, intent Intent, text string, progress int) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if err := fence(j, attempt); err != nil {
			return nil, err
		}
		j.Progress = min(max(j.Progress, progress), 99)
		if intent != "" {
			j.Intent = intent
		}
		if text == "" {
			return &Event{Event: jobtype.Event{Type: EventProgress, Intent: j.Intent}}, nil
		}
		return &Event{Event: jobtype.Event{Type: EventOutput, Text: text, Intent: j.Intent}}, nil
	})
}

// Restart records that the attempt starts its output over (the model is
// asked again after output that did not validate): a status event, working,
// with the reason. Clients drop the output they have on any working event.
func (s *Service) Restart(ctx context.Context, jobID string, attempt int, why Error) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if err := fence(j, attempt); err != nil {
			return nil, err
		}
		return &Event{Event: jobtype.Event{Type: EventStatus, Attempt: attempt, Error: &why}}, nil
	})
}

// Tokens is what one attempt consumed at the provider.
type Tokens struct{ In, Out int64 }

// Complete ends the job with its result. Only the current attempt of a job
// that is not terminal may complete it, so a cancelled job never completes.
func (s *Service) Complete(ctx context.Context, jobID string, attempt int, result Result, used Tokens) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if err := fence(j, attempt); err != nil {
			return nil, err
		}
		j.TokensIn += used.In
		j.TokensOut += used.Out
		result.UsageInfo.TokensIn, result.UsageInfo.TokensOut = j.TokensIn, j.TokensOut
		result.UsageInfo.UserKeyUsed = j.UserKey
		s.finish(j, StatusCompleted, now)
		res, err := json.Marshal(result)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		j.Progress, j.Intent, j.Result, j.Error = 100, result.Intent, res, nil
		return &Event{Event: jobtype.Event{Type: EventCompleted, Result: j.Result, Intent: j.Intent}}, nil
	})
}

// Retrying records that the attempt failed in a way a later attempt may not,
// and when that attempt will start.
func (s *Service) Retrying(ctx context.Context, jobID string, attempt int, at time.Time, why Error, used Tokens) (Job, error) {
	return s.retrying(ctx, jobID, attempt, at, why, "", used)
}

// Suspend records that the provider's trouble (why) stopped the attempt:
// not the job's fault. The job goes retrying with reason (see Waiting),
// and the same attempt starts again after at, without using up an
// attempt. The first suspension starts the job's provider-wait clock.
func (s *Service) Suspend(ctx context.Context, jobID string, attempt int, at time.Time, why Error, reason string, used Tokens) (Job, error) {
	return s.retrying(ctx, jobID, attempt, at, why, reason, used)
}

func (s *Service) retrying(ctx context.Context, jobID string, attempt int, at time.Time, why Error, reason string, used Tokens) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if err := fence(j, attempt); err != nil {
			return nil, err
		}
		at := at.UTC().Truncate(time.Microsecond) // the store's precision
		j.TokensIn += used.In
		j.TokensOut += used.Out
		j.Status, j.RetryAt, j.Reason = StatusRetrying, &at, reason
		if reason != "" && j.WaitingSince == nil {
			j.WaitingSince = &now
		}
		return &Event{Event: jobtype.Event{Type: EventStatus, Attempt: attempt, RetryAt: &at, Error: &why, Reason: reason}}, nil
	})
}

// Fail ends the job as failed. It is written once, by the last attempt or by
// an error no attempt can fix.
func (s *Service) Fail(ctx context.Context, jobID string, attempt int, why Error, used Tokens) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if err := fence(j, attempt); err != nil {
			return nil, err
		}
		j.TokensIn += used.In
		j.TokensOut += used.Out
		return s.failed(j, why, now), nil
	})
}

// failed ends j as failed with why at now and returns the event.
func (s *Service) failed(j *Job, why Error, now time.Time) *Event {
	s.finish(j, StatusFailed, now)
	j.Error = &why
	j.Result, _ = json.Marshal(map[string]string{"error": why.Message})
	return &Event{Event: jobtype.Event{Type: EventFailed, Attempt: j.Attempt, Error: j.Error, Result: j.Result, Intent: j.Intent}}
}

// Abandon records that attempt will not finish because its worker is gone
// (its node's lease lapsed, it panicked, or it could not record an
// outcome): the job goes retrying or, when final, failed with why. It is
// idempotent: an attempt already handed back, a newer attempt or a
// finished job is ErrStale or ErrTerminal, and nothing is written. The
// attempt need not have started (its worker may have died before Start).
func (s *Service) Abandon(ctx context.Context, jobID string, attempt int, final bool, why Error) (Job, error) {
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		switch {
		case j.Terminal:
			return nil, ErrTerminal
		case j.Attempt > attempt || (j.Attempt == attempt && j.Status == StatusRetrying && !final):
			return nil, ErrStale
		}
		j.Attempt = attempt
		if final {
			return s.failed(j, why, now), nil
		}
		j.Status, j.RetryAt, j.Reason = StatusRetrying, &now, ""
		return &Event{Event: jobtype.Event{Type: EventStatus, Attempt: attempt, RetryAt: &now, Error: &why}}, nil
	})
}

// Input returns what the worker needs to run the job: its input and the
// user's key, opened ("" when the job runs on the server's key).
func (s *Service) Input(ctx context.Context, jobID string) (input, userKey string, err error) {
	input, sealed, err := s.store.Input(ctx, jobID)
	if err != nil || sealed == nil {
		return input, "", err
	}
	key, err := s.keys.Open(sealed, jobID)
	return input, string(key), err
}

// UsageOf returns the requests used and the quota of a job's user, for
// usage_info: Usage without the tokens, which every completion would
// otherwise sum over all the user's jobs of the day.
func (s *Service) UsageOf(ctx context.Context, userID string) (Usage, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return Usage{}, err
	}
	return s.usage(ctx, u, s.store.Requests)
}

// Follow subscribes to one job's events; the worker uses it to hear about a
// cancellation at once.
func (s *Service) Follow(userID, jobID string) Subscription {
	return s.broker.Subscribe(userID, jobID)
}
