// Package store keeps aijobs' own tables — users, tokens, jobs, the job event
// log, sealed keys and usage — in SQLite (the embedded default) or
// PostgreSQL, with one set of portable SQL. Every difference between the two
// dialects lives in dialect.go.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/aijobs/aijobs/jobs"
)

// DefaultCallTimeout is the deadline of one call into the database (a query,
// a statement, a connection, a transaction from BEGIN to COMMIT) unless the
// caller's own is sooner. Store calls are short — long-polls and streams wait
// in the hub, not in the store — so a call past it means the database is
// hung or overloaded: it fails with jobs.ErrUnavailable (503 with
// Retry-After) instead of holding the request.
const DefaultCallTimeout = 5 * time.Second

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	// w takes every write. On SQLite it has exactly one connection (the only
	// way SQLite's writers never see "database is locked").
	w db
	// r serves reads: a read-only pool on SQLite (WAL lets readers run beside
	// the writer), the same pool as w on PostgreSQL.
	r db
	// sqlW and sqlR are SQLite's database/sql pools under w and r. On
	// PostgreSQL sqlW is a database/sql view of pool for tools and tests
	// (DB), which the store itself never uses, and sqlR is nil.
	sqlW, sqlR *sql.DB
	// pool is the pgx pool on PostgreSQL, nil on SQLite.
	pool *pgxpool.Pool
	d    dialect
	// enqueue inserts the River job for a new aijobs job in the same
	// transaction and returns its id. Set by the queue with SetEnqueuer
	// before use.
	enqueue func(ctx context.Context, tx Tx, jobID string) (int64, error)
	// fair is set when new jobs wait their turn between users, and
	// maxPerUser caps one user's jobs in River (SetFairShare).
	fair       bool
	maxPerUser int
	// enqueueDelivery inserts the River job of a new webhook delivery in
	// the transaction of the event it delivers. Set with
	// SetDeliveryEnqueuer before use.
	enqueueDelivery func(ctx context.Context, tx Tx, deliveryID string) error
	// calls bounds every call into the database and remembers the last
	// write that failed, for the readiness checks.
	calls *calls
}

// Open connects to the database named by url: "sqlite:PATH" (the file is
// created if missing) or "postgres://…". It does not migrate; call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	}
	return nil, fmt.Errorf("database url %q: want sqlite:PATH or postgres://…", url)
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	c := newCalls()
	wc, err := sqlite.NewConnector("file:" + path + "?_pragma=journal_mode(WAL)&_txlock=immediate&" + pragmas)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w := sql.OpenDB(connector{Connector: wc, calls: c, writer: true})
	w.SetMaxOpenConns(1)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rc, err := sqlite.NewConnector("file:" + path + "?mode=ro&" + pragmas)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s read-only: %w", path, err)
	}
	r := sql.OpenDB(connector{Connector: rc, calls: c})
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &Store{w: &sqlDB{db: w}, r: &sqlDB{db: r, stmts: new(sync.Map)}, sqlW: w, sqlR: r, d: sqliteDialect{}, calls: c}, nil
}

func openPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// River's producers, the API, the notifier and the listeners share
		// this pool: pgx's default (the number of CPUs, at least 4) is too
		// few for them. pool_max_conns in the URL overrides this.
		cfg.MaxConns = max(cfg.MaxConns, 20)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	c := newCalls()
	d := postgresDialect{rebound: new(sync.Map)}
	p := &pgxDB{pool: pool, calls: c, rebind: d.rebind}
	return &Store{w: p, r: p, sqlW: stdlib.OpenDBFromPool(pool), pool: pool, d: d, calls: c}, nil
}

// SetEnqueuer sets the function that inserts the River job of a new aijobs
// job inside the submit transaction tx and returns the River job's id.
func (s *Store) SetEnqueuer(f func(ctx context.Context, tx Tx, jobID string) (int64, error)) {
	s.enqueue = f
}

// enqueueJob inserts the River job of aijobs job jobID in tx.
func (s *Store) enqueueJob(ctx context.Context, tx txn, jobID string) (riverID int64, err error) {
	err = tx.river(ctx, func(ctx context.Context) error {
		riverID, err = s.enqueue(ctx, tx, jobID)
		return err
	})
	return riverID, err
}

// DB is SQLite's write pool, for River's database/sql driver. On
// PostgreSQL it is a database/sql view of Pool for tools and tests: the
// store's queries and River's go to Pool directly.
func (s *Store) DB() *sql.DB { return s.sqlW }

// Pool is the pgx pool on PostgreSQL (nil on SQLite), for River's pgx driver
// and the LISTEN/NOTIFY notifier.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pool != nil }

// queryRow runs a read query that returns one row, on the read pool (on
// SQLite prepared once; on PostgreSQL pgx caches prepared statements per
// connection).
func (s *Store) queryRow(ctx context.Context, query string, args ...any) scanner {
	return s.r.queryRow(ctx, query, args...)
}

// query runs a read query on the read pool, like queryRow.
func (s *Store) query(ctx context.Context, query string, args ...any) (rows, error) {
	return s.r.query(ctx, query, args...)
}

// Close closes every pool.
func (s *Store) Close() error {
	var err error
	if s.pool != nil {
		err = s.sqlW.Close() // the view, before the pool under it
	}
	err = errors.Join(err, s.w.close())
	if s.r != s.w {
		err = errors.Join(err, s.r.close())
	}
	return err
}

// wrap turns a database error into what the service understands: no rows is
// jobs.ErrNotFound, an outage (see classify: unreachable, gone, disk full,
// busy, past the deadline, …) is jobs.ErrUnavailable; anything else —
// including the caller's own cancellation — is wrapped with what was being
// done.
func wrap(err error, doing string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.ErrNotFound
	}
	if jobs.ProblemOf(err) != nil {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w (%w)", doing, jobs.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
