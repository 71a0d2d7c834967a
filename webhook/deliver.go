package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/secret"
)

// DefaultSchedule returns the wait before each retry of a delivery: the
// first two within a minute, then growing, for about a day (23 h 42 m 35 s
// from the first try to the eleventh, the last).
func DefaultSchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
	}
}

// Defaults of Config and of `aijobs serve`'s webhook flags.
const (
	DefaultTimeout = 10 * time.Second // one try
	DefaultWorkers = 20               // tries at once per process
)

// MaxRetryAfter bounds the Retry-After a receiver may ask for.
const MaxRetryAfter = 8 * time.Hour

// Backoff is the wait before retry number retry (1: the one after the first
// try) on schedule, or false when no retry is left. A Retry-After the
// receiver sent is honoured when it asks for longer (up to MaxRetryAfter).
func Backoff(schedule []time.Duration, retry int, retryAfter time.Duration) (time.Duration, bool) {
	if retry < 1 || retry > len(schedule) {
		return 0, false
	}
	return max(schedule[retry-1], min(retryAfter, MaxRetryAfter)), true
}

// Args is the River job of one delivery: only its id.
type Args struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind is the River kind of deliveries.
const Kind = "aijobs_webhook"

// Queue is the River queue deliveries run on, apart from the AI jobs', so a
// slow or dead receiver never holds up a job. A failing receiver's retries
// wait snoozed, holding no worker; only receivers that hang while enough of
// them are tried at once to take every worker of the queue delay other
// deliveries.
const Queue = "webhooks"

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// InsertOpts puts deliveries on their queue. River's own attempts only
// count errors of the worker itself (the store unavailable): tries of the
// receiver are snoozes, counted in aijobs' own tables.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10}
}

// Store is what deliveries need from the database.
type Store interface {
	// Delivery reads a delivery with its user's sealed secret and when an
	// earlier pending delivery of its job is due.
	Delivery(ctx context.Context, id string) (jobs.Delivery, error)
	StartTry(ctx context.Context, id string, n int, at time.Time) error
	FinishTry(ctx context.Context, id string, r jobs.TryResult) error
	Deliveries(ctx context.Context, jobID string) ([]jobs.Delivery, error)
	SetWebhookSecret(ctx context.Context, userID string, sealed []byte) error
	SetUserWebhook(ctx context.Context, userID string, w *jobs.Webhook) error
	UserWebhook(ctx context.Context, userID string) (*jobs.Webhook, error)
}

// Config configures webhooks.
type Config struct {
	Store Store
	// Keys seal users' webhook secrets.
	Keys *secret.Keys
	// Jobs checks that a job is the caller's before its deliveries are shown.
	Jobs *jobs.Service
	// Targets says where deliveries may go.
	Targets Targets
	// Timeout bounds one try: connecting, sending, and the answer's
	// headers. Defaults to 10 s.
	Timeout time.Duration
	// Schedule is the wait before each retry. Defaults to DefaultSchedule.
	Schedule []time.Duration
	// Registerer takes the metrics (nil: none).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Webhooks delivers webhooks (as a River worker) and serves their API.
type Webhooks struct {
	river.WorkerDefaults[Args]
	cfg     Config
	client  *http.Client
	metrics *deliveryMetrics
}

// New returns the webhooks of cfg.
func New(cfg Config) (*Webhooks, error) {
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule()
	}
	for i, d := range cfg.Schedule {
		if d < 0 {
			return nil, fmt.Errorf("webhook schedule: wait %d is negative (%s)", i+1, d)
		}
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	m, err := newDeliveryMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Webhooks{cfg: cfg, client: cfg.Targets.client(cfg.Timeout), metrics: m}, nil
}

// Register adds the delivery worker to River's workers.
func (w *Webhooks) Register(ws *river.Workers) { river.AddWorker(ws, w) }

// Enqueuer returns the store's delivery enqueuer: it inserts a delivery's
// River job with insert (the queue's InsertTx), in the event's transaction
// tx (a store.Tx).
func Enqueuer[Tx any](insert func(context.Context, Tx, river.JobArgs, *river.InsertOpts) error) func(context.Context, Tx, string) error {
	return func(ctx context.Context, tx Tx, id string) error {
		opts := Args{}.InsertOpts()
		return insert(ctx, tx, Args{DeliveryID: id}, &opts)
	}
}

// Timeout implements river.Worker: a try, and time to record it.
func (w *Webhooks) Timeout(*river.Job[Args]) time.Duration { return w.cfg.Timeout + 15*time.Second }

// Work makes one try of a delivery: it waits (snoozes) while an earlier
// delivery of the same job is pending, sends, records the try, and snoozes
// until the next try when one is due. When River gives up on the job (the
// store failed it on every River attempt), the delivery ends dead, so that
// it neither stays pending nor holds up the job's later deliveries.
func (w *Webhooks) Work(ctx context.Context, job *river.Job[Args]) error {
	err := w.work(ctx, job)
	if err == nil || job.Attempt < job.MaxAttempts || errors.As(err, new(*river.JobSnoozeError)) {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	gaveUp := jobs.TryResult{State: jobs.DeliveryDead, Error: "the server could not record its tries and gave up", At: time.Now()}
	if ferr := w.cfg.Store.FinishTry(rctx, job.Args.DeliveryID, gaveUp); ferr != nil {
		return fmt.Errorf("%w (and ending the delivery: %v)", err, ferr)
	}
	w.metrics.observe(gaveUp)
	w.cfg.Logger.ErrorContext(ctx, "webhook delivery given up", slog.String("delivery_id", job.Args.DeliveryID), slog.String("error", err.Error()))
	return err
}

func (w *Webhooks) work(ctx context.Context, job *river.Job[Args]) error {
	d, err := w.cfg.Store.Delivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil // expired with its job
	}
	if err != nil {
		return err
	}
	if d.State != jobs.DeliveryPending {
		return nil // already done: a rerun after a crash
	}
	if d.WaitFor != nil {
		return river.JobSnooze(min(max(time.Until(*d.WaitFor)+50*time.Millisecond, 100*time.Millisecond), time.Minute))
	}
	if d.NextAttemptAt != nil {
		// Run before its next try is due (River's clock, a restart): wait
		// for it, unless it is due within a second. A delivery rescued from
		// a dead worker was due already and runs at once.
		if wait := time.Until(*d.NextAttemptAt); wait > time.Second {
			return river.JobSnooze(wait)
		}
	}
	n := d.Tries + 1
	start := time.Now()
	if err := w.cfg.Store.StartTry(ctx, d.ID, n, start); err != nil {
		return err
	}
	res := w.try(ctx, d, n, start)
	// Record the try even when the job's context ended (shutdown).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.cfg.Store.FinishTry(rctx, d.ID, res); err != nil {
		return err
	}
	w.metrics.observe(res)
	w.log(ctx, d, res)
	if res.State == jobs.DeliveryPending {
		return river.JobSnooze(max(time.Until(res.Next), 0))
	}
	return nil
}

// try sends try n of d and says how it went.
func (w *Webhooks) try(ctx context.Context, d jobs.Delivery, n int, start time.Time) jobs.TryResult {
	res := jobs.TryResult{N: n}
	status, retryAfter, err := w.send(ctx, d, start)
	res.At = time.Now()
	res.Duration, res.StatusCode = res.At.Sub(start), status
	retryable := false
	switch {
	case err != nil && ctx.Err() != nil:
		// This process is stopping: the try is not the receiver's fault.
		// It runs again at once on the next worker.
		res.Error, res.State, res.Next = "interrupted: the worker stopped", jobs.DeliveryPending, res.At
		return res
	case err != nil && errors.Is(err, errPrivate):
		res.Error = "target not allowed: " + errPrivate.Error()
	case err != nil && errors.Is(err, errNoSecret):
		res.Error = err.Error()
	case err != nil:
		res.Error, retryable = tryError(err, w.cfg.Timeout), true
	case status >= 200 && status < 300:
		res.State = jobs.DeliveryDelivered
		return res
	case status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout:
		res.Error, retryable = "HTTP "+strconv.Itoa(status), true
	case status >= 300 && status < 400:
		res.Error = "HTTP " + strconv.Itoa(status) + ": redirects are not followed"
	default:
		res.Error = "HTTP " + strconv.Itoa(status)
	}
	res.State = jobs.DeliveryFailed
	if retryable {
		res.State = jobs.DeliveryDead
		if wait, ok := Backoff(w.cfg.Schedule, n, retryAfter); ok {
			res.State, res.Next = jobs.DeliveryPending, res.At.Add(wait)
		}
	}
	return res
}

var errNoSecret = errors.New("the user has no webhook secret")

// send makes one HTTP request of d, signed at start, and returns the status
// and Retry-After of the answer.
func (w *Webhooks) send(ctx context.Context, d jobs.Delivery, start time.Time) (int, time.Duration, error) {
	if d.Secret == nil {
		return 0, 0, errNoSecret
	}
	sec, err := w.cfg.Keys.Open(d.Secret, secretContext(d.UserID))
	if err != nil {
		return 0, 0, fmt.Errorf("open webhook secret: %w", err)
	}
	sig, err := Sign(string(sec), d.ID, start, d.Body)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aijobs-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(start.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// tryError is what the record of a failed try says of a transport error: a
// fixed text by kind, never the resolver's or the dialler's own words (they
// would tell a user how this server's network resolves and routes names).
func tryError(err error, timeout time.Duration) string {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout after " + timeout.String()
	case errors.As(err, &dnsErr):
		return "connection failed: the host name does not resolve"
	case errors.As(err, &certErr), errors.As(err, &recErr):
		return "connection failed: TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection failed: connection refused"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection failed: could not connect"
	}
	return "connection failed: the connection broke before an answer"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func (w *Webhooks) log(ctx context.Context, d jobs.Delivery, r jobs.TryResult) {
	host := ""
	if u, err := url.Parse(d.URL); err == nil {
		host = u.Host // never the path or query: they may carry a token
	}
	attrs := []any{slog.String("delivery_id", d.ID), slog.String("job_id", d.JobID), slog.String("event", string(d.Event)),
		slog.String("host", host), slog.Int("try", r.N), slog.String("state", string(r.State)), slog.Int("status_code", r.StatusCode),
		slog.Duration("took", r.Duration)}
	switch r.State {
	case jobs.DeliveryDelivered:
		w.cfg.Logger.InfoContext(ctx, "webhook delivered", attrs...)
	case jobs.DeliveryPending:
		w.cfg.Logger.InfoContext(ctx, "webhook try failed; retrying", append(attrs, slog.String("error", r.Error), slog.Time("next", r.Next))...)
	default:
		w.cfg.Logger.WarnContext(ctx, "webhook not delivered", append(attrs, slog.String("error", r.Error))...)
	}
}
