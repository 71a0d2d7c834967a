// Package worker runs one attempt of a job: it classifies the input, streams
// the model's answer into the job as coalesced output events, validates the
// structured output and writes the outcome — every write fenced by attempt
// through the jobs service. Everything it writes — output, result, error
// messages, and the errors River records — is scrubbed of the attempt's API
// keys first (ai.Redactor).
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/throttle"
)

// Config configures a Worker.
type Config struct {
	// FlushEvery is how often streamed output is written to the job: at most
	// this often per job. Defaults to 100 ms (about 10 writes a second).
	FlushEvery time.Duration
	// ExpectedChars is the output length at which progress nears 95%.
	// Defaults to 900.
	ExpectedChars int
	// Throttle, when set, holds calls to the provider to the fleet's limits
	// and waits out the provider's trouble without using up attempts (see
	// throttle.go). Without it a temporary failure uses an attempt.
	Throttle *throttle.Throttle
	// ProviderWait is how long a job may wait for its provider in all
	// before it fails with provider_unavailable. Defaults to
	// throttle.DefaultWait.
	ProviderWait time.Duration
	// Observer is told of waits for the provider and of its circuit (nil:
	// nobody).
	Observer Observer
	Logger   *slog.Logger
}

// Worker runs jobs with one provider. It implements queue.Runner.
type Worker struct {
	svc      *jobs.Service
	provider ai.Provider
	cfg      Config
}

var _ queue.Runner = (*Worker)(nil)

// New returns a Worker.
func New(svc *jobs.Service, provider ai.Provider, cfg Config) *Worker {
	cfg.FlushEvery = cmp.Or(cfg.FlushEvery, 100*time.Millisecond)
	cfg.ExpectedChars = cmp.Or(cfg.ExpectedChars, 900)
	cfg.ProviderWait = cmp.Or(cfg.ProviderWait, throttle.DefaultWait)
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Worker{svc: svc, provider: provider, cfg: cfg}
}

// errFinished tells the queue the job ended without success and must not be
// tried again; the outcome is already written.
var errFinished = errors.New("job finished without success")

// Abandon implements queue.Runner.
func (w *Worker) Abandon(ctx context.Context, a queue.Attempt, final bool, why jobs.Error) error {
	if _, err := w.svc.Abandon(ctx, a.JobID, a.Number, final, why); err != nil && !jobs.Lost(err) {
		return fmt.Errorf("abandon attempt %d of %s: %w", a.Number, a.JobID, err)
	}
	return nil
}

// Run implements queue.Runner.
func (w *Worker) Run(ctx context.Context, a queue.Attempt) error {
	jobID, attempt, maxAttempts := a.JobID, a.Number, a.Max
	log := w.cfg.Logger // ctx names the job and the attempt (queue)
	b, err := w.begin(ctx, a)
	if b == nil {
		return err
	}
	job, req, call, turn, intent, userKey := b.job, b.req, b.call, b.turn, b.req.Intent, b.req.APIKey

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub := w.svc.Follow(job.UserID, jobID)
	defer sub.Close()
	go cancelOnCancelled(ctx, sub, cancel)

	// The one scrubber of this attempt: the user's key and the server's.
	red := ai.RedactorFor(w.provider, userKey)
	out := &output{w: w, jobID: jobID, attempt: attempt, intent: intent, cancel: cancel, scrub: red.Stream()}
	stopFlush := out.start(ctx)
	resp, pause, genErr := w.call(ctx, call, turn, req, out.add)
	var result []byte
	if genErr == nil {
		result, genErr = w.validate(ctx, log, red, out, req, &resp)
	}
	stopFlush()
	if errors.Is(context.Cause(ctx), jobs.ErrTerminal) || out.lost() {
		log.InfoContext(ctx, "job was cancelled while working")
		return nil
	}
	// Writes below must land even if River's attempt context is ending.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if genErr != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// This process is stopping: not the job's fault. The same attempt
		// runs again on the next start or on another node.
		at := time.Now().Add(time.Second)
		why := jobs.Error{Code: jobtype.CodeInterrupted, Message: "the worker stopped; the job will resume shortly"}
		if _, err := w.svc.Retrying(wctx, jobID, attempt, at, why, jobs.Tokens{}); err != nil && !jobs.Lost(err) {
			log.ErrorContext(wctx, "record interruption", slog.String("error", err.Error()))
		}
		return &queue.RetryError{At: at, Err: scrubbed(red, genErr), SameAttempt: true}
	}
	if genErr != nil && w.cfg.Throttle != nil && ctx.Err() == nil && temporary(ai.AsError(genErr)) {
		return w.suspend(wctx, a, job, pause, scrubbed(red, genErr))
	}
	if genErr != nil {
		return w.failed(wctx, log, job, attempt, maxAttempts, scrubbed(red, genErr))
	}
	used := jobs.Tokens{In: resp.TokensIn, Out: resp.TokensOut}
	res := jobs.Result{Intent: intent, Output: red.JSON(result), Text: red.String(resp.Text), UsageInfo: jobs.UsageInfo{Provider: w.provider.Name(), Model: cmp.Or(resp.Model, w.provider.Model())}}
	if u, err := w.svc.UsageOf(wctx, job.UserID); err == nil {
		res.UsageInfo.RequestsUsed, res.UsageInfo.RequestsLimit = u.RequestsUsed, u.RequestsLimit
		res.UsageInfo.RequestsRemaining, res.UsageInfo.ResetsAt = u.RequestsRemaining, u.ResetsAt
	}
	if _, err := w.svc.Complete(wctx, jobID, attempt, res, used); err != nil {
		if jobs.Lost(err) {
			return nil
		}
		return &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: fmt.Errorf("complete: %w", err)}
	}
	log.InfoContext(ctx, "job completed", slog.String("intent", string(intent)), slog.Int64("tokens_out", resp.TokensOut))
	return nil
}

// begun is an attempt that has started and may call the provider.
type begun struct {
	job  jobs.Job
	req  ai.Request
	call throttle.Call
	turn throttle.Turn
}

// begin reads the job's input, waits for the provider's turn (with a
// Throttle) and starts the attempt. Without a *begun it returns what Run
// returns: nil when the job no longer needs this attempt.
func (w *Worker) begin(ctx context.Context, a queue.Attempt) (*begun, error) {
	log := w.cfg.Logger
	input, userKey, err := w.svc.Input(ctx, a.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		log.InfoContext(ctx, "job no longer needs this attempt", slog.String("reason", err.Error()))
		return nil, nil
	}
	if err != nil {
		return nil, &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: fmt.Errorf("read input: %w", err)}
	}
	b := &begun{req: ai.Request{Input: input, Intent: ai.Classify(input), APIKey: userKey, Attempt: a.Number}}
	b.call = w.callOf(b.req)
	if w.cfg.Throttle != nil {
		if b.turn, err = w.admit(ctx, a, b.call); errors.Is(err, errNotOurs) {
			log.InfoContext(ctx, "job no longer needs this attempt")
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	b.job, err = w.svc.Start(ctx, a.JobID, a.Number, a.Node)
	if err != nil {
		w.release(ctx, b.call, b.turn)
	}
	if jobs.Lost(err) {
		log.InfoContext(ctx, "job no longer needs this attempt", slog.String("reason", err.Error()))
		return nil, nil
	}
	if err != nil {
		return nil, &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: fmt.Errorf("start attempt: %w", err)}
	}
	return b, nil
}

// cancelOnCancelled cancels the attempt as soon as the job's cancellation
// is published, on this node or (through the notifier) on another. Should
// the subscription drop, the next fenced write notices instead.
func cancelOnCancelled(ctx context.Context, sub jobs.Subscription, cancel context.CancelCauseFunc) {
	for {
		select {
		case ev := <-sub.Events():
			if ev.Type == jobs.EventCancelled {
				cancel(jobs.ErrTerminal)
				return
			}
		case <-sub.Dropped():
			return
		case <-ctx.Done():
			return
		}
	}
}

// validate checks the output against the intent's schema. Output that does
// not match gets one more try, told what was wrong; clients see a status
// event that restarts the output. Usage adds up both calls. The model's
// own text is validated: scrubbing comes after (red.JSON keeps the result
// valid), so it can never make good output fail.
func (w *Worker) validate(ctx context.Context, log *slog.Logger, red *ai.Redactor, out *output, req ai.Request, resp *ai.Response) ([]byte, error) {
	result, verr := ai.Validate(req.Intent, resp.Text)
	if verr == nil {
		return result, nil
	}
	why := ai.AsError(verr).Message // it may quote the output
	log.InfoContext(ctx, "output did not validate, asking once more", slog.String("error", red.Message(why)))
	out.flushAll(ctx)
	if _, err := w.svc.Restart(ctx, out.jobID, out.attempt, jobs.Error{Code: jobtype.CodeInvalidOutput, Message: red.Message(why)}); err != nil {
		return nil, err
	}
	req.Feedback = why // the provider has the key already
	first := *resp
	again, err := w.generate(ctx, req, out.add)
	if err != nil {
		e := ai.AsError(err)
		e.Usage.TokensIn += first.TokensIn
		e.Usage.TokensOut += first.TokensOut
		return nil, e
	}
	again.TokensIn += first.TokensIn
	again.TokensOut += first.TokensOut
	*resp = again
	if result, verr = ai.Validate(req.Intent, resp.Text); verr != nil {
		return nil, &ai.Error{Code: jobtype.CodeInvalidOutput, Message: "the model's output did not match the schema twice: " + ai.AsError(verr).Message, Usage: again}
	}
	return result, nil
}

// scrubbed is err with its text scrubbed by red: what the job records, and
// what River stores as the attempt's error. A classified error stays an
// *ai.Error, its message also cleared of what the database would reject (a
// provider's text may hold NUL or invalid UTF-8); any other is kept whole
// unless scrubbing changed its text.
func scrubbed(red *ai.Redactor, err error) error {
	var e *ai.Error
	if !errors.As(err, &e) {
		if msg := red.Message(err.Error()); msg != err.Error() {
			return errors.New(msg)
		}
		return err
	}
	c := *e
	c.Message = strings.ToValidUTF8(strings.ReplaceAll(red.Message(e.Message), "\x00", ""), "\uFFFD")
	return &c
}

// failed writes retrying or failed for a provider error, already scrubbed.
func (w *Worker) failed(ctx context.Context, log *slog.Logger, job jobs.Job, attempt, maxAttempts int, genErr error) error {
	e := ai.AsError(genErr)
	used := jobs.Tokens{In: e.Usage.TokensIn, Out: e.Usage.TokensOut}
	why := jobs.Error{Code: e.Code, Message: e.Message}
	if e.Retryable && attempt < maxAttempts {
		at := time.Now().Add(max(e.RetryAfter, queue.Backoff(attempt)))
		log.InfoContext(ctx, "attempt failed, will retry", slog.String("code", e.Code), slog.Time("retry_at", at))
		if _, err := w.svc.Retrying(ctx, job.ID, attempt, at, why, used); err != nil && !jobs.Lost(err) {
			log.ErrorContext(ctx, "record retrying", slog.String("error", err.Error()))
		}
		return &queue.RetryError{At: at, Err: e}
	}
	log.InfoContext(ctx, "job failed", slog.String("code", e.Code), slog.Bool("retryable", e.Retryable))
	if _, err := w.svc.Fail(ctx, job.ID, attempt, why, used); err != nil && !jobs.Lost(err) {
		return &queue.RetryError{At: time.Now().Add(2 * time.Second), Err: fmt.Errorf("record failure: %w", err)}
	}
	return errFinished
}

// output coalesces streamed chunks into at most one write per FlushEvery,
// scrubbed of the attempt's keys: a key split across chunks or flushes is
// caught, since scrub holds back the last few bytes (under
// ai.MinFragment) that could begin one until the next flush or the end.
type output struct {
	w       *Worker
	jobID   string
	attempt int
	intent  jobs.Intent
	cancel  context.CancelCauseFunc

	// flushing serialises flushes, so chunks are written in order, and
	// guards scrub and unsent.
	flushing sync.Mutex
	scrub    *ai.Stream
	unsent   string // scrubbed text a failed write left for the next flush
	mu       sync.Mutex
	pending  []byte // guarded by mu
	total    int    // guarded by mu
	gone     bool   // guarded by mu: the job is no longer ours
}

func (o *output) add(chunk string) {
	o.mu.Lock()
	o.pending = append(o.pending, chunk...)
	o.total += len(chunk)
	o.mu.Unlock()
}

func (o *output) lost() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gone
}

// start flushes every FlushEvery until the returned stop is called, which
// flushes what is left, the held-back bytes included.
func (o *output) start(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(o.w.cfg.FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				o.flush(ctx)
			case <-done:
				o.flushAll(ctx)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// flush writes the output so far, but for the bytes scrub holds back.
func (o *output) flush(ctx context.Context) { o.write(ctx, false) }

// flushAll writes all the output so far: the model's answer is over.
func (o *output) flushAll(ctx context.Context) { o.write(ctx, true) }

func (o *output) write(ctx context.Context, all bool) {
	o.flushing.Lock()
	defer o.flushing.Unlock()
	o.mu.Lock()
	raw, total, gone := string(o.pending), o.total, o.gone
	o.pending = o.pending[:0]
	o.mu.Unlock()
	text := o.unsent + o.scrub.Next(raw)
	if all {
		text += o.scrub.End()
	}
	o.unsent = ""
	if text == "" || gone || ctx.Err() != nil {
		return
	}
	progress := 5 + int(90*(1-math.Exp(-float64(total)/float64(o.w.cfg.ExpectedChars))))
	if _, err := o.w.svc.Report(ctx, o.jobID, o.attempt, o.intent, text, progress); err != nil {
		if jobs.Lost(err) {
			o.mu.Lock()
			o.gone = true
			o.mu.Unlock()
			o.cancel(jobs.ErrTerminal)
			return
		}
		// Keep the text for the next flush: output is never dropped.
		o.unsent = text
		o.w.cfg.Logger.WarnContext(ctx, "record output", slog.String("error", err.Error()))
	}
}
