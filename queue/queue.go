// Package queue runs aijobs jobs on River: the submit transaction inserts a
// River job that carries only the job id, River's workers call the Runner,
// and River does retries, timeouts and periodic maintenance (our cleaner
// included). Liveness, not timeouts, decides when an attempt is orphaned:
// each worker process holds a lease in the database (lease.go), and the
// attempts of a node whose lease lapsed are handed back at once.
package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/logs"
	"github.com/aijobs/aijobs/store"
)

// RunArgs is the River job of one aijobs job: only its id, never the input
// or a key.
type RunArgs struct {
	JobID string `json:"job_id"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return "aijobs_run" }

type cleanupArgs struct{}

func (cleanupArgs) Kind() string { return "aijobs_cleanup" }

// Attempt is one run of a job, as River hands it to a Runner.
type Attempt struct {
	JobID string
	// Number is the attempt, from 1; Max is how many the job may have.
	Number, Max int
	// Node is the worker process that runs it.
	Node string
}

// Final reports whether no attempt is left after this one.
func (a Attempt) Final() bool { return a.Number >= a.Max }

// Runner runs attempts of jobs, and records those that cannot finish.
type Runner interface {
	// Run runs one attempt. It returns nil when the job is done (whatever
	// its outcome was, already written), *RetryError to have River try
	// again, and any other error when no further attempt should be made.
	Run(ctx context.Context, a Attempt) error
	// Abandon records that attempt a will not finish — its worker died,
	// panicked, or could not record an outcome: the job goes retrying or,
	// when final, failed with why. An attempt that is no longer the job's
	// current one is left alone (nil).
	Abandon(ctx context.Context, a Attempt, final bool, why jobs.Error) error
}

// RetryError asks for another attempt at At.
type RetryError struct {
	At  time.Time
	Err error
	// SameAttempt runs the same attempt again (it was interrupted, not
	// failed): River snoozes the job instead of counting an attempt.
	SameAttempt bool
}

func (e *RetryError) Error() string {
	return "retry at " + e.At.Format(time.RFC3339) + ": " + e.Err.Error()
}
func (e *RetryError) Unwrap() error { return e.Err }

// Config configures the queue.
type Config struct {
	// Work runs workers in this process (roles all and worker). Without it
	// the queue only inserts (role api).
	Work bool
	// FairShare shares the workers between users with queued work when the
	// queue is contended (a weighted turn each, every user's jobs in its
	// submit order) instead of first in, first out. Every node of one
	// database should agree.
	FairShare bool
	// MaxRunningPerUser caps, with FairShare, how many jobs of one user are
	// in River at once (ready, running or retrying); 0: no cap.
	MaxRunningPerUser int
	// Workers is how many jobs run at once. Defaults to 50: the work is
	// mostly waiting on a model.
	Workers int
	// MaxAttempts per job. Defaults to 3.
	MaxAttempts int
	// JobTimeout bounds one attempt. Defaults to 5 minutes (River's 1-minute
	// default is too short for a model).
	JobTimeout time.Duration
	// Lease is how long this node's lease lasts without renewal: when it
	// lapses, the node's attempts are handed back. Renewed every Lease/5.
	// Defaults to 10 s.
	Lease time.Duration
	// Node names this worker process (River's client id too). Defaults to
	// the host name and a random suffix.
	Node string
	// CleanupEvery is how often expired jobs are deleted. Defaults to 1 hour.
	CleanupEvery time.Duration
	// PollInterval is how often workers look for jobs when they are not
	// notified (SQLite). Defaults to 100 ms.
	PollInterval time.Duration
	// Observer is told of attempts, lease renewals and hand-backs (nil:
	// nobody).
	Observer Observer
	// Kinds are more kinds of River job this process inserts and works
	// (webhook deliveries), each on a queue of its own.
	Kinds  []Kind
	Logger *slog.Logger
}

// Kind is one more kind of River job (besides aijobs' runs). Its jobs must
// be safe to run again: those running on a node whose lease lapsed are made
// available again at once, with no Runner.Abandon.
type Kind struct {
	// Name is the River kind.
	Name string
	// Queue is the River queue its jobs are inserted on, worked by up to
	// MaxWorkers at once in this process.
	Queue      string
	MaxWorkers int
	// Register adds its worker.
	Register func(*river.Workers)
}

// Defaults of Config, also the defaults of `aijobs serve`'s flags.
const (
	DefaultWorkers     = 50
	DefaultMaxAttempts = 3
	DefaultJobTimeout  = 5 * time.Minute
	DefaultLease       = 10 * time.Second
	// DefaultDrain is how long Run lets running jobs finish on shutdown.
	DefaultDrain = 30 * time.Second
)

func (c Config) withDefaults() Config {
	c.Workers = cmp.Or(c.Workers, DefaultWorkers)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.JobTimeout = cmp.Or(c.JobTimeout, DefaultJobTimeout)
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	if c.Node == "" {
		host, _ := os.Hostname()
		c.Node = strings.ToLower(cmp.Or(host, "node")) + "-" + strings.ToLower(rand.Text()[:8])
	}
	c.CleanupEvery = cmp.Or(c.CleanupEvery, time.Hour)
	c.PollInterval = cmp.Or(c.PollInterval, 100*time.Millisecond)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// Queue is the River side of aijobs.
type Queue struct {
	// sqlClient inserts River jobs in the store's database/sql
	// transactions on SQLite, where it also works them; nil on PostgreSQL.
	sqlClient *river.Client[*sql.Tx]
	// pgxClient inserts River jobs in the store's pgx transactions on
	// PostgreSQL; nil on SQLite.
	pgxClient *river.Client[pgx.Tx]
	// worker runs jobs; nil for role api. On SQLite it is sqlClient.
	worker interface {
		Start(context.Context) error
		Stop(context.Context) error
		StopAndCancel(context.Context) error
	}
	// exec is River's own executor, with which a dead node's River jobs
	// are rescued the way River's rescuer does it.
	exec   riverdriver.Executor
	store  *store.Store
	runner Runner
	work   *worker
	cfg    Config
}

// Migrate brings River's tables up to date on the store's database.
func Migrate(ctx context.Context, st *store.Store) error {
	var err error
	if st.Postgres() {
		err = migrate(ctx, riverpgxv5.New(st.Pool()))
	} else {
		err = migrate(ctx, riversqlite.New(st.DB()))
	}
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

func migrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New[TTx](d, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// New wires River to the store: it sets the store's enqueuer and, with
// cfg.Work, prepares workers that call runner, and the periodic cleaner.
func New(st *store.Store, runner Runner, cleanup func(context.Context) (int, error), cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	w := &worker{runner: runner, node: cfg.Node, log: cfg.Logger, obs: cfg.Observer, retryAt: map[int64]time.Time{}, freed: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	for _, k := range cfg.Kinds {
		k.Register(workers)
	}
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[cleanupArgs]) error {
		n, err := cleanup(ctx)
		if n > 0 {
			cfg.Logger.InfoContext(ctx, "deleted expired jobs", slog.Int("count", n))
		}
		return err
	}))
	rc := &river.Config{
		ID:          cfg.Node,
		Workers:     workers,
		MaxAttempts: cfg.MaxAttempts,
		JobTimeout:  cfg.JobTimeout,
		// River's rescuer is only a backstop: leases hand back a dead
		// node's attempts long before, and a live attempt never runs past
		// JobTimeout.
		RescueStuckJobsAfter: cfg.JobTimeout + cfg.Lease + time.Minute,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 50*time.Millisecond),
		Logger:               cfg.Logger,
	}
	if cfg.Work {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		for _, k := range cfg.Kinds {
			rc.Queues[k.Queue] = river.QueueConfig{MaxWorkers: k.MaxWorkers}
		}
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.CleanupEvery),
			func() (river.JobArgs, *river.InsertOpts) { return cleanupArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	}
	q := &Queue{store: st, runner: runner, work: w, cfg: cfg}
	var err error
	if st.Postgres() {
		// Inserts share aijobs' pgx transaction, in a client of their own
		// that works nothing (role api has no worker); work brings
		// LISTEN/NOTIFY wake-ups and cross-node cancellation.
		d := riverpgxv5.New(st.Pool())
		insertCfg := *rc
		insertCfg.Queues, insertCfg.PeriodicJobs = nil, nil
		insertCfg.ID = cfg.Node + "-insert"
		if q.pgxClient, err = river.NewClient(d, &insertCfg); err != nil {
			return nil, fmt.Errorf("river insert client: %w", err)
		}
		q.exec = d.GetExecutor()
		if cfg.Work {
			if q.worker, err = river.NewClient(d, rc); err != nil {
				return nil, fmt.Errorf("river client: %w", err)
			}
		}
	} else {
		rc.PollOnly = true
		d := riversqlite.New(st.DB())
		q.exec = d.GetExecutor()
		if q.sqlClient, err = river.NewClient(d, rc); err != nil {
			return nil, fmt.Errorf("river client: %w", err)
		}
		if cfg.Work {
			q.worker = q.sqlClient
		}
	}
	st.SetEnqueuer(q.enqueue)
	st.SetFairShare(cfg.FairShare, cfg.MaxRunningPerUser)
	return q, nil
}

func (q *Queue) enqueue(ctx context.Context, tx store.Tx, jobID string) (int64, error) {
	res, err := q.insertTx(ctx, tx, RunArgs{JobID: jobID}, nil)
	if err != nil {
		return 0, fmt.Errorf("insert the river job of %s: %w", jobID, err)
	}
	return res.Job.ID, nil
}

// InsertTx inserts a River job in tx, the transaction of aijobs' own rows
// it belongs to.
func (q *Queue) InsertTx(ctx context.Context, tx store.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.insertTx(ctx, tx, args, opts)
	return err
}

// insertTx inserts with the client of the store's driver, in the driver's
// transaction under tx.
func (q *Queue) insertTx(ctx context.Context, tx store.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if q.pgxClient != nil {
		return q.pgxClient.InsertTx(ctx, tx.Pgx(), args, opts)
	}
	return q.sqlClient.InsertTx(ctx, tx.SQL(), args, opts)
}

// riverClient is what the queue asks of its River client besides inserts,
// the same on either driver.
type riverClient interface {
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobDelete(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// client is the River client of the store's driver.
func (q *Queue) client() riverClient {
	if q.pgxClient != nil {
		return q.pgxClient
	}
	return q.sqlClient
}

// Run works jobs until ctx ends, then drains: no new job is fetched,
// running attempts get until drain to finish, and those still running then
// are interrupted — they record it and the same attempt resumes on another
// node or after a restart. While it runs, the node holds its lease, and
// the maintenance leader hands back dead nodes' attempts.
func (q *Queue) Run(ctx context.Context, drain time.Duration) error {
	if q.worker == nil {
		<-ctx.Done()
		return nil
	}
	now := time.Now()
	if err := q.store.RegisterNode(ctx, q.cfg.Node, q.cfg.Workers, now, now.Add(q.cfg.Lease)); err != nil {
		return fmt.Errorf("take the node lease: %w", err)
	}
	mctx, stopMaintain := context.WithCancel(context.WithoutCancel(ctx))
	var maintained sync.WaitGroup
	maintained.Go(func() { q.maintain(mctx) })
	maintained.Go(func() { q.dispatch(mctx) })
	defer func() {
		stopMaintain()
		maintained.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.store.RemoveNode(rctx, q.cfg.Node); err != nil {
			q.cfg.Logger.Warn("give up the node lease", slog.String("error", err.Error()))
		}
	}()
	// Jobs run on a context of their own: the signal that stops the
	// process starts the drain, it does not interrupt them.
	if err := q.worker.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	<-ctx.Done()
	q.cfg.Logger.Info(fmt.Sprintf("draining: %d jobs running, up to %s", q.work.running.Load(), drain),
		slog.Int64("running", q.work.running.Load()), slog.Duration("grace", drain))
	softCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := q.worker.Stop(softCtx); err == nil {
		q.cfg.Logger.Info("drained: every running job finished")
		return nil
	}
	q.cfg.Logger.Warn(fmt.Sprintf("interrupting %d jobs still running; they resume on another node or after restart", q.work.running.Load()),
		slog.Int64("running", q.work.running.Load()))
	hardCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.worker.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("stop river: %w", err)
	}
	return nil
}

// worker adapts River's worker interface to the Runner.
type worker struct {
	river.WorkerDefaults[RunArgs]
	runner Runner
	node   string
	log    *slog.Logger
	obs    Observer
	// running counts the attempts in progress, for the drain's log.
	running atomic.Int64
	// freed gets a value when an attempt ends: a worker is free, and the
	// dispatcher may move a waiting job to River.
	freed chan struct{}

	mu sync.Mutex
	// retryAt holds the time a RetryError asked for, from Work until River
	// calls NextRetry for the same job right after. Guarded by mu.
	retryAt map[int64]time.Time
}

// internalError is what a user sees of a panic or of an attempt that could
// not record its outcome; the log has the details.
var internalError = jobs.Error{Code: jobtype.CodeInternalError, Message: "the job failed on an internal error"}

func (w *worker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	w.running.Add(1)
	defer func() {
		w.running.Add(-1)
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}()
	start := time.Now()
	if job.AttemptedAt != nil {
		start = *job.AttemptedAt
	}
	w.obs.AttemptStarted(job.Attempt, max(start.Sub(job.ScheduledAt), 0))
	result := AttemptAbandoned
	defer func() { w.obs.AttemptEnded(result, time.Since(start)) }()
	a := Attempt{JobID: job.Args.JobID, Number: job.Attempt, Max: job.MaxAttempts, Node: w.node}
	// Every line logged for this attempt names it.
	ctx = logs.With(ctx, slog.String("job_id", a.JobID), slog.Int("attempt", a.Number))
	err := w.run(ctx, a)
	var retry *RetryError
	switch {
	case err == nil:
		result = AttemptOK
		return nil
	case errors.As(err, &retry) && retry.SameAttempt:
		result = AttemptInterrupted
		return river.JobSnooze(max(time.Until(retry.At), 0))
	case errors.As(err, &retry) && !a.Final():
		result = AttemptRetry
		w.retryLater(job.ID, retry.At)
		return err
	case errors.As(err, &retry), errors.As(err, new(*panicError)):
		// The attempt could not record its own outcome (a store error or a
		// panic): record it here, so the job ends or retries visibly
		// instead of hanging in working. Should that fail too, River retries
		// or discards the job and reconciliation finishes it later.
		w.log.ErrorContext(ctx, "attempt failed without recording an outcome", slog.Bool("final", a.Final()), slog.String("error", err.Error()))
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if aerr := w.runner.Abandon(wctx, a, a.Final(), internalError); aerr != nil {
			return fmt.Errorf("%w (and recording it: %v)", err, aerr)
		}
		if a.Final() {
			return river.JobCancel(err)
		}
		w.retryLater(job.ID, time.Now().Add(Backoff(a.Number)))
		return err
	default:
		result = AttemptFailed
		return river.JobCancel(err)
	}
}

// panicError is a panic of a Runner, turned into an error.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// run calls the runner and turns its panic into a *panicError.
func (w *worker) run(ctx context.Context, a Attempt) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return w.runner.Run(ctx, a)
}

func (w *worker) retryLater(riverID int64, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.retryAt[riverID] = at
}

func (w *worker) NextRetry(job *river.Job[RunArgs]) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := w.retryAt[job.ID]
	delete(w.retryAt, job.ID)
	return at
}

// Backoff is the least wait before attempt+1: 1 s, 2 s, 4 s … at most 1 min.
func Backoff(attempt int) time.Duration {
	return min(time.Second<<min(attempt-1, 6), time.Minute)
}

// SQLClient is the River client that inserts jobs on SQLite (the same one
// works them), for tools that read and manage River's tables, such as
// River UI; nil on PostgreSQL (see PgxClient).
func (q *Queue) SQLClient() *river.Client[*sql.Tx] { return q.sqlClient }

// PgxClient is the River client that inserts jobs on PostgreSQL, for
// tools that read and manage River's tables, such as River UI; nil on
// SQLite (see SQLClient).
func (q *Queue) PgxClient() *river.Client[pgx.Tx] { return q.pgxClient }
