// Command bareriver is the reference for the aijobs throughput benchmark:
// bare River v0.51.2 on the same database, the same number of workers and
// the same fetch settings as aijobs' queue, inserting -n jobs with
// InsertMany and working them with a worker that does nothing.
//
//	bareriver -db sqlite -url /tmp/x/river.db -n 10000 -workers 50
//	bareriver -db postgres -url postgres://…/db -n 10000 -workers 50
//
// It prints one line "RESULT {json}" with the time from the first insert to
// the last Work call returning ("work"), and to River having marked every
// job completed ("marked"; River completes in batches).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

// noopArgs is a job that carries an id, like aijobs' RunArgs.
type noopArgs struct {
	JobID string `json:"job_id"`
}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done *atomic.Int64
	last *atomic.Int64 // unix nanos of the last Work return
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error {
	w.done.Add(1)
	w.last.Store(time.Now().UnixNano())
	return nil
}

// Result is what bareriver reports.
type Result struct {
	DB        string  `json:"db"`
	N         int     `json:"n"`
	Workers   int     `json:"workers"`
	InsertS   float64 `json:"insert_s"`
	WorkS     float64 `json:"work_s"`
	MarkedS   float64 `json:"marked_s"`
	Rate      float64 `json:"rate"` // jobs/s, n / work_s
	CPUS      float64 `json:"cpu_s"`
	Completed int64   `json:"completed"`
}

func main() {
	kind := flag.String("db", "sqlite", "sqlite or postgres")
	url := flag.String("url", "", "SQLite file path or PostgreSQL URL")
	n := flag.Int("n", 10000, "jobs")
	workers := flag.Int("workers", 50, "River MaxWorkers (aijobs --workers)")
	batch := flag.Int("batch", 0, "jobs per InsertMany call (0: all in one)")
	poll := flag.Duration("poll", 100*time.Millisecond, "FetchPollInterval (aijobs: 100ms)")
	cooldown := flag.Duration("cooldown", 50*time.Millisecond, "FetchCooldown (aijobs: 50ms)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()

	var done, last atomic.Int64
	workersReg := river.NewWorkers()
	river.AddWorker(workersReg, &noopWorker{done: &done, last: &last})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: *workers}},
		Workers:           workersReg,
		FetchPollInterval: *poll,
		FetchCooldown:     *cooldown,
		JobTimeout:        time.Minute,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}

	var (
		insertMany func([]river.InsertManyParams) error
		start      func() error
		stop       func() error
		countDone  func() (int64, error)
	)
	switch *kind {
	case "sqlite":
		db, err := sql.Open("sqlite", "file:"+*url+"?_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
		benchutil.Check(err)
		db.SetMaxOpenConns(1)
		drv := riversqlite.New(db)
		benchutil.Check(migrate(ctx, drv))
		cfg.PollOnly = true
		c, err := river.NewClient(drv, cfg)
		benchutil.Check(err)
		insertMany = func(p []river.InsertManyParams) error { _, err := c.InsertMany(ctx, p); return err }
		start, stop = func() error { return c.Start(ctx) }, func() error { return c.Stop(ctx) }
		countDone = func() (int64, error) {
			var k int64
			err := db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&k)
			return k, err
		}
	case "postgres":
		pool, err := pgxpool.New(ctx, *url)
		benchutil.Check(err)
		drv := riverpgxv5.New(pool)
		benchutil.Check(migrate(ctx, drv))
		c, err := river.NewClient(drv, cfg)
		benchutil.Check(err)
		insertMany = func(p []river.InsertManyParams) error { _, err := c.InsertMany(ctx, p); return err }
		start, stop = func() error { return c.Start(ctx) }, func() error { return c.Stop(ctx) }
		countDone = func() (int64, error) {
			var k int64
			err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&k)
			return k, err
		}
	default:
		log.Fatalf("-db: want sqlite or postgres, got %q", *kind)
	}
	benchutil.Check(start())

	params := make([]river.InsertManyParams, *n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{JobID: fmt.Sprintf("job_%026d", i)}}
	}
	size := *batch
	if size <= 0 {
		size = *n
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	for i := 0; i < len(params); i += size {
		benchutil.Check(insertMany(params[i:min(i+size, len(params))]))
	}
	inserted := time.Since(t0)
	deadline := t0.Add(*timeout)
	for done.Load() < int64(*n) {
		if time.Now().After(deadline) {
			log.Fatalf("only %d of %d jobs worked after %v", done.Load(), *n, *timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	worked := time.Unix(0, last.Load()).Sub(t0)
	cpu := cpuSeconds() - cpu0
	var marked time.Duration
	for {
		k, err := countDone()
		benchutil.Check(err)
		if k >= int64(*n) {
			marked = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			log.Printf("River marked only %d of %d completed", k, *n)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	benchutil.Check(stop())
	res := Result{DB: *kind, N: *n, Workers: *workers, InsertS: inserted.Seconds(), WorkS: worked.Seconds(), MarkedS: marked.Seconds(),
		Rate: float64(*n) / worked.Seconds(), CPUS: cpu, Completed: done.Load()}
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
}

func migrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New[TTx](d, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 { return benchutil.CPUSeconds(os.Getpid()) }
