// Package queue runs aijobs jobs on River: the submit transaction inserts a
// River job that carries only the job id, River's workers call the Runner,
// and River does retries, timeouts, rescue of jobs whose worker died and
// periodic maintenance (our cleaner included) on the leader.
package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

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

// Runner runs one attempt of a job. It returns nil when the job is done
// (whatever its outcome was, already written), *RetryError to have River try
// again, and any other error when no further attempt should be made.
type Runner interface {
	Run(ctx context.Context, jobID string, attempt, maxAttempts int) error
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
	// Workers is how many jobs run at once. Defaults to 50: the work is
	// mostly waiting on a model.
	Workers int
	// MaxAttempts per job. Defaults to 3.
	MaxAttempts int
	// JobTimeout bounds one attempt. Defaults to 5 minutes (River's 1-minute
	// default is too short for a model).
	JobTimeout time.Duration
	// RescueAfter is when a job whose worker vanished is run again. Defaults
	// to JobTimeout plus 30 s: a live attempt has timed out by then, and
	// fencing by attempt stops a stale one from writing anyway.
	RescueAfter time.Duration
	// CleanupEvery is how often expired jobs are deleted. Defaults to 1 hour.
	CleanupEvery time.Duration
	// PollInterval is how often workers look for jobs when they are not
	// notified (SQLite). Defaults to 100 ms.
	PollInterval time.Duration
	Logger       *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Workers = cmp.Or(c.Workers, 50)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 3)
	c.JobTimeout = cmp.Or(c.JobTimeout, 5*time.Minute)
	c.RescueAfter = cmp.Or(c.RescueAfter, c.JobTimeout+30*time.Second)
	c.CleanupEvery = cmp.Or(c.CleanupEvery, time.Hour)
	c.PollInterval = cmp.Or(c.PollInterval, 100*time.Millisecond)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Queue is the River side of aijobs.
type Queue struct {
	inserter *river.Client[*sql.Tx]
	// worker runs jobs; nil for role api. On SQLite it is the inserter.
	worker interface {
		Start(context.Context) error
		Stop(context.Context) error
		StopAndCancel(context.Context) error
	}
	maxAttempts int
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
	w := &worker{runner: runner, retryAt: map[int64]time.Time{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[cleanupArgs]) error {
		n, err := cleanup(ctx)
		if n > 0 {
			cfg.Logger.InfoContext(ctx, "deleted expired jobs", slog.Int("count", n))
		}
		return err
	}))
	rc := &river.Config{
		Workers:              workers,
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 50*time.Millisecond),
		Logger:               cfg.Logger,
	}
	if cfg.Work {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.CleanupEvery),
			func() (river.JobArgs, *river.InsertOpts) { return cleanupArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	}
	q := &Queue{maxAttempts: cfg.MaxAttempts}
	var err error
	if st.Postgres() {
		// Inserts share aijobs' database/sql transaction; work runs on pgx,
		// which brings LISTEN/NOTIFY wake-ups and cross-node cancellation.
		insertCfg := *rc
		insertCfg.Queues, insertCfg.PeriodicJobs = nil, nil
		if q.inserter, err = river.NewClient(riverdatabasesql.New(st.DB()), &insertCfg); err != nil {
			return nil, fmt.Errorf("river insert client: %w", err)
		}
		if cfg.Work {
			if q.worker, err = river.NewClient(riverpgxv5.New(st.Pool()), rc); err != nil {
				return nil, fmt.Errorf("river client: %w", err)
			}
		}
	} else {
		rc.PollOnly = true
		if q.inserter, err = river.NewClient(riversqlite.New(st.DB()), rc); err != nil {
			return nil, fmt.Errorf("river client: %w", err)
		}
		if cfg.Work {
			q.worker = q.inserter
		}
	}
	st.SetEnqueuer(q.enqueue)
	return q, nil
}

func (q *Queue) enqueue(ctx context.Context, tx *sql.Tx, jobID string) error {
	_, err := q.inserter.InsertTx(ctx, tx, RunArgs{JobID: jobID}, nil)
	return err
}

// Run works jobs until ctx ends, then stops River: running jobs get until
// stopTimeout to finish, then their contexts are cancelled and they record
// that they were interrupted, so the next start (or another node) retries
// them. A process killed outright is covered by River's rescuer and by
// fencing.
func (q *Queue) Run(ctx context.Context, stopTimeout time.Duration) error {
	if q.worker == nil {
		<-ctx.Done()
		return nil
	}
	if err := q.worker.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	<-ctx.Done()
	softCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := q.worker.Stop(softCtx); err == nil {
		return nil
	}
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

	mu sync.Mutex
	// retryAt holds the time a RetryError asked for, from Work until River
	// calls NextRetry for the same job right after. Guarded by mu.
	retryAt map[int64]time.Time
}

func (w *worker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	err := w.runner.Run(ctx, job.Args.JobID, job.Attempt, job.MaxAttempts)
	var retry *RetryError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &retry) && retry.SameAttempt:
		return river.JobSnooze(max(time.Until(retry.At), 0))
	case errors.As(err, &retry):
		w.mu.Lock()
		w.retryAt[job.ID] = retry.At
		w.mu.Unlock()
		return err
	default:
		return river.JobCancel(err)
	}
}

func (w *worker) NextRetry(job *river.Job[RunArgs]) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := w.retryAt[job.ID]
	delete(w.retryAt, job.ID)
	return at
}
