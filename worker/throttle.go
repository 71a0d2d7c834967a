package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/throttle"
)

// The provider's trouble is not the job's: with a Throttle, a job waits for
// its provider's capacity before it calls (admit), and a temporary failure
// of the provider (429, 5xx, 529, a connection error, a timeout) stops the
// attempt without using it up (suspend): the same attempt runs again once
// the fleet's backoff has passed, until the job has waited longer than
// Config.ProviderWait in all.

const (
	// markAfter: a wait for a slot longer than this is shown on the job.
	markAfter = time.Second
	// holdFor is how long an attempt waits in the worker; a longer wait
	// hands the job back to the queue until it is due (a snooze, which
	// uses no attempt), so that a draining node is not held up by jobs
	// that have not started.
	holdFor = 10 * time.Second
)

// Observer is told how jobs wait for their provider (metrics.Registry
// implements it). Its methods must not block.
type Observer interface {
	// ProviderWait reports a job that starts to wait for provider and
	// model, for reason (jobtype.ReasonWaitingForCapacity or
	// ReasonWaitingForProvider).
	ProviderWait(provider, model, reason string)
	// ProviderCircuit reports the state of the provider's circuit as this
	// process last saw it.
	ProviderCircuit(provider, model string, open bool)
}

type nopObserver struct{}

func (nopObserver) ProviderWait(string, string, string)  {}
func (nopObserver) ProviderCircuit(string, string, bool) {}

// errNotOurs: the job no longer needs this attempt (cancelled, or taken
// over); Run returns nil.
var errNotOurs = errors.New("the job no longer needs this attempt")

// callOf is the call req makes, as the throttle counts it.
func (w *Worker) callOf(req ai.Request) throttle.Call {
	return throttle.Call{Key: w.provider.Name() + "/" + w.provider.Model(), Tokens: ai.EstimateTokens(req), OwnKey: req.APIKey != ""}
}

// admit waits until attempt a may call the provider and returns its turn.
// A long wait shows on the job (status unchanged, reason set). It returns
// errNotOurs, errFinished (the job waited too long: failed with
// provider_unavailable) or a *queue.RetryError for the same attempt (a
// shutdown, a wait longer than holdFor, the store failing).
func (w *Worker) admit(ctx context.Context, a queue.Attempt, c throttle.Call) (throttle.Turn, error) {
	log := w.cfg.Logger
	start := time.Now()
	shown := ""
	var since *time.Time
	for {
		turn, err := w.cfg.Throttle.Take(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return turn, &queue.RetryError{At: time.Now().Add(time.Second), Err: err, SameAttempt: true}
			}
			return turn, &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: err, SameAttempt: true}
		}
		if turn.Open {
			w.cfg.Observer.ProviderCircuit(w.provider.Name(), w.provider.Model(), true)
		}
		if turn.Go && turn.Wait <= markAfter {
			return turn, w.sleepFor(ctx, c, turn)
		}
		if turn.Reason != shown {
			job, err := w.svc.Waiting(ctx, a.JobID, a.Number, turn.Reason, time.Now().Add(turn.Wait))
			if jobs.Lost(err) {
				return turn, errNotOurs
			}
			if err == nil {
				shown, since = turn.Reason, job.WaitingSince
				w.cfg.Observer.ProviderWait(w.provider.Name(), w.provider.Model(), turn.Reason)
				log.InfoContext(ctx, "waiting for the provider", slog.String("reason", turn.Reason), slog.Duration("wait", turn.Wait))
			}
		}
		if since != nil && time.Since(*since)+turn.Wait > w.cfg.ProviderWait {
			w.release(ctx, c, turn)
			return turn, w.giveUp(ctx, a, "")
		}
		if turn.Go {
			return turn, w.sleepFor(ctx, c, turn)
		}
		if time.Since(start)+turn.Wait > holdFor {
			return turn, &queue.RetryError{At: time.Now().Add(turn.Wait), Err: errors.New(turn.Reason), SameAttempt: true}
		}
		if err := w.sleep(ctx, turn.Wait); err != nil {
			return turn, err
		}
	}
}

// sleepFor waits for turn's slot; a probe's turn that will not be used
// is given back.
func (w *Worker) sleepFor(ctx context.Context, c throttle.Call, turn throttle.Turn) error {
	err := w.sleep(ctx, turn.Wait)
	if err != nil {
		w.release(ctx, c, turn)
	}
	return err
}

// sleep waits d, or returns the RetryError of an interrupted wait.
func (w *Worker) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &queue.RetryError{At: time.Now().Add(time.Second), Err: context.Cause(ctx), SameAttempt: true}
	}
}

// giveUp fails a job that waited longer than the provider wait, with the
// provider's last error in the message when there was one.
func (w *Worker) giveUp(ctx context.Context, a queue.Attempt, last string) error {
	msg := fmt.Sprintf("the provider had no capacity or kept failing for longer than %s", w.cfg.ProviderWait)
	if last != "" {
		msg += "; last: " + last
	}
	why := jobs.Error{Code: jobtype.CodeProviderUnavailable, Message: msg}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.cfg.Logger.InfoContext(ctx, "job failed: the provider stayed unavailable", slog.Duration("provider_wait", w.cfg.ProviderWait))
	if _, err := w.svc.Abandon(wctx, a.JobID, a.Number, true, why); err != nil && !jobs.Lost(err) {
		return &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: fmt.Errorf("record failure: %w", err), SameAttempt: true}
	}
	return errFinished
}

// call makes one provider call in turn and records for the fleet how it
// went; it returns how long the fleet now pauses.
func (w *Worker) call(ctx context.Context, c throttle.Call, turn throttle.Turn, req ai.Request, emit func(string)) (ai.Response, time.Duration, error) {
	resp, err := w.provider.Generate(ctx, req, emit)
	if w.cfg.Throttle == nil {
		return resp, 0, err
	}
	o := throttle.Outcome{Tokens: resp.TokensIn + resp.TokensOut}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Cancelled, shutting down, or past the attempt's own time limit:
		// nothing the fleet should learn about the provider from.
		o.Abandoned = true
	default:
		e := ai.AsError(err)
		o.Failed, o.RateLimited, o.RetryAfter = temporary(e), e.Code == jobtype.CodeRateLimited, e.RetryAfter
		o.Tokens = e.Usage.TokensIn + e.Usage.TokensOut
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	after, derr := w.cfg.Throttle.Done(wctx, c, turn, o)
	if derr != nil {
		w.cfg.Logger.WarnContext(ctx, "record the provider call for the fleet", slog.String("error", derr.Error()))
	} else if !o.Abandoned {
		w.cfg.Observer.ProviderCircuit(w.provider.Name(), w.provider.Model(), after.Open)
	}
	return resp, after.Pause, err
}

// generate is a provider call that takes its own turn first, for the second
// call of an attempt (after output that did not validate). A provider that
// is paused or failing is a temporary failure: the attempt is suspended.
func (w *Worker) generate(ctx context.Context, req ai.Request, emit func(string)) (ai.Response, error) {
	if w.cfg.Throttle == nil {
		return w.provider.Generate(ctx, req, emit)
	}
	c := w.callOf(req)
	turn, err := w.cfg.Throttle.Take(ctx, c)
	if err != nil {
		return ai.Response{}, &ai.Error{Code: jobtype.CodeProviderError, Retryable: true, Message: "the provider's limits could not be read"}
	}
	if !turn.Go {
		return ai.Response{}, &ai.Error{Code: jobtype.CodeProviderError, Retryable: true, RetryAfter: turn.Wait,
			Message: "the provider is paused for every worker (" + turn.Reason + ")"}
	}
	if err := w.sleep(ctx, turn.Wait); err != nil {
		return ai.Response{}, ctx.Err()
	}
	resp, _, err := w.call(ctx, c, turn, req, emit)
	return resp, err
}

// temporary reports whether e is the provider's trouble rather than the
// job's: what ai classifies as retryable, but for output that did not
// validate.
func temporary(e *ai.Error) bool {
	return e.Retryable && e.Code != jobtype.CodeInvalidOutput
}

// suspend stops the attempt after a temporary failure of the provider
// (genErr, scrubbed), without using it up: the job goes retrying with the
// reason, and the same attempt runs again after the fleet's pause. A job
// that has waited for its provider longer than the provider wait fails
// with provider_unavailable instead.
func (w *Worker) suspend(ctx context.Context, a queue.Attempt, job jobs.Job, pause time.Duration, genErr error) error {
	e := ai.AsError(genErr)
	if job.WaitingSince != nil && time.Since(*job.WaitingSince) > w.cfg.ProviderWait {
		return w.giveUp(ctx, a, e.Message)
	}
	reason := jobtype.ReasonWaitingForProvider
	if e.Code == jobtype.CodeRateLimited {
		reason = jobtype.ReasonWaitingForCapacity
	}
	w.cfg.Observer.ProviderWait(w.provider.Name(), w.provider.Model(), reason)
	at := time.Now().Add(max(pause, e.RetryAfter, 100*time.Millisecond))
	used := jobs.Tokens{In: e.Usage.TokensIn, Out: e.Usage.TokensOut}
	w.cfg.Logger.InfoContext(ctx, "the provider failed; the attempt waits and runs again", slog.String("code", e.Code), slog.Time("retry_at", at))
	if _, err := w.svc.Suspend(ctx, a.JobID, a.Number, at, jobs.Error{Code: e.Code, Message: e.Message}, reason, used); err != nil {
		if jobs.Lost(err) {
			return nil
		}
		w.cfg.Logger.ErrorContext(ctx, "record the wait", slog.String("error", err.Error()))
	}
	return &queue.RetryError{At: at, Err: e, SameAttempt: true}
}

// release gives back a probe's turn that was not used.
func (w *Worker) release(ctx context.Context, c throttle.Call, turn throttle.Turn) {
	if w.cfg.Throttle == nil || !turn.Probe {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := w.cfg.Throttle.Done(wctx, c, turn, throttle.Outcome{Abandoned: true}); err != nil {
		w.cfg.Logger.WarnContext(ctx, "release the provider's probe", slog.String("error", err.Error()))
	}
}
