// Package store keeps aijobs' own tables — users, tokens, jobs, the job event
// log, sealed keys and usage — in SQLite (the embedded default) or
// PostgreSQL, with one set of portable SQL. Every difference between the two
// dialects lives in dialect.go.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	w *sql.DB
	// r serves reads: a read-only pool on SQLite (WAL lets readers run beside
	// the writer), the same pool as w on PostgreSQL.
	r *sql.DB
	// pool is the pgx pool on PostgreSQL, nil on SQLite.
	pool *pgxpool.Pool
	d    dialect
	// stmts caches prepared read statements by query (the SQLite driver
	// would otherwise parse every query again: most of a poll's cost).
	stmts sync.Map // string → *sql.Stmt
	// enqueue inserts the River job for a new aijobs job in the same
	// transaction and returns its id. Set by the queue with SetEnqueuer
	// before use.
	enqueue func(ctx context.Context, tx *sql.Tx, jobID string) (int64, error)
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
	return &Store{w: w, r: r, d: sqliteDialect{}, calls: c}, nil
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
	db := sql.OpenDB(connector{Connector: stdlib.GetPoolConnector(pool), calls: c, writer: true})
	return &Store{w: db, r: db, pool: pool, d: postgresDialect{}, calls: c}, nil
}

// SetEnqueuer sets the function that inserts the River job of a new aijobs
// job inside the submit transaction and returns the River job's id.
func (s *Store) SetEnqueuer(f func(ctx context.Context, tx *sql.Tx, jobID string) (int64, error)) {
	s.enqueue = f
}

// DB is the write pool, for River's database/sql drivers.
func (s *Store) DB() *sql.DB { return s.w }

// Pool is the pgx pool on PostgreSQL (nil on SQLite), for River's pgx driver
// and the LISTEN/NOTIFY notifier.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pool != nil }

// read prepares (once) and returns the statement of a read query, written
// with portable "?" placeholders, on SQLite's read pool.
func (s *Store) read(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.r.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a read query that returns one row. On PostgreSQL pgx
// already caches prepared statements per connection, so the query goes as
// it is.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) scanner {
	if s.pool != nil {
		return s.r.QueryRowContext(ctx, s.d.rebind(query), args...)
	}
	st, err := s.read(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read query (prepared once on SQLite, like queryRow).
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.pool != nil {
		return s.r.QueryContext(ctx, s.d.rebind(query), args...)
	}
	st, err := s.read(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// errRow is a row whose query could not even be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Close closes every pool.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.pool != nil {
		s.pool.Close()
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

// The readiness checks. Their errors carry a jobs.Problem whose message is
// safe to show anyone (it names what is wrong, never a user, host, database
// name or driver text); the error around it has the details, for the log.

// poolWait is how long the pool check waits for a connection to come free
// when every one is in use.
const poolWait = time.Second

// writeFailureHold is how long the writes check fails after a write failed
// for the database's sake, unless a write succeeds before. Then it passes
// again, so that traffic finds out whether the database has recovered.
const writeFailureHold = 10 * time.Second

// notReady is a readiness failure of the database: msg (or, when empty, what
// the outage is) for anyone, err for the log.
func notReady(msg string, err error) error {
	if msg == "" {
		msg = "the database check failed"
		if o := classify(err); o != noOutage {
			msg = o.String()
		}
	}
	return fmt.Errorf("%w: %w", &jobs.Problem{Kind: jobs.KindUnavailable, Code: "not_ready", Message: msg}, err)
}

// CheckDatabase is the "database" readiness check: the database answers and
// its schema is current.
func (s *Store) CheckDatabase(ctx context.Context) error {
	var err error
	if s.pool != nil {
		// pgx's own ping says what went wrong (database/sql's says only
		// "bad connection"). A second try gets a new connection when the
		// first found one that the server had closed.
		if err = s.pool.Ping(ctx); err != nil && ctx.Err() == nil {
			err = s.pool.Ping(ctx)
		}
	} else {
		// The read pool: a busy writer is the pool check's business.
		err = s.r.PingContext(ctx)
	}
	if err != nil {
		return notReady("", fmt.Errorf("ping database: %w", err))
	}
	if err := s.SchemaCurrent(ctx); err != nil {
		if unavailable(err) {
			return notReady("", err)
		}
		return notReady("the database schema is not current: run aijobs migrate", err)
	}
	return nil
}

// CheckPool is the "pool" readiness check: when every connection is in use,
// one comes free within a second.
func (s *Store) CheckPool(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, poolWait)
	defer cancel()
	saturated := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) {
			return notReady("every connection to the database is in use", err)
		}
		return notReady("", err)
	}
	if s.pool != nil {
		st := s.pool.Stat()
		if st.AcquiredConns() < st.MaxConns() {
			return nil
		}
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return saturated(fmt.Errorf("acquire a connection (%d of %d in use, %d acquires waited): %w", st.AcquiredConns(), st.MaxConns(), st.EmptyAcquireCount(), err))
		}
		c.Release()
		return nil
	}
	for _, p := range []struct {
		name string
		db   *sql.DB
	}{{"writer", s.w}, {"reader", s.r}} {
		st := p.db.Stats()
		if st.InUse < st.MaxOpenConnections {
			continue
		}
		c, err := p.db.Conn(ctx)
		if err != nil {
			return saturated(fmt.Errorf("get a %s connection (%d of %d in use, %d waited): %w", p.name, st.InUse, st.MaxOpenConnections, st.WaitCount, err))
		}
		c.Close()
	}
	return nil
}

// CheckWrites is the "writes" readiness check: it fails while the last write
// that failed for the database's sake (disk full, I/O error, read-only, busy
// or no answer beyond the deadline) is recent and nothing was written since.
func (s *Store) CheckWrites(context.Context) error {
	f := s.calls.failure.Load()
	if f == nil || time.Since(f.at) > writeFailureHold {
		return nil
	}
	return notReady("writes to the database are failing: "+classify(f.err).String(), fmt.Errorf("last failed write, %s ago: %w", time.Since(f.at).Round(time.Millisecond), f.err))
}

// calls bounds every call into the database with a deadline and keeps the
// outcome of writes. The store's connectors share one.
type calls struct {
	// timeout is the deadline of one call (a time.Duration; 0: none).
	timeout atomic.Int64
	// unbounded is positive while this process migrates: a migration may
	// rightly take long (an index on a big table), so its calls have no
	// deadline of the store's.
	unbounded atomic.Int32
	// failure is the last write that failed for the database's sake, nil
	// once a write has stored something since.
	failure atomic.Pointer[writeFailure]
}

type writeFailure struct {
	at  time.Time
	err error
}

func newCalls() *calls {
	c := &calls{}
	c.timeout.Store(int64(DefaultCallTimeout))
	return c
}

// unbound lifts the deadline of calls until the returned function is called.
func (c *calls) unbound() (restore func()) {
	c.unbounded.Add(1)
	var once sync.Once
	return func() { once.Do(func() { c.unbounded.Add(-1) }) }
}

// bound returns the context of one call: ctx with the store's deadline,
// unless ctx's own is sooner.
func (c *calls) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := time.Duration(c.timeout.Load())
	if d <= 0 || c.unbounded.Load() > 0 {
		return ctx, func() {}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, errCallDeadline)
}

// result is what a call that ran with bctx (from bound(ctx)) returns: the
// driver's error, marked with the caller's context error when the caller
// gave up (its cancellation is not the database's fault), or a
// deadlineError when the store's own deadline ended the call.
func (c *calls) result(ctx, bctx context.Context, err error) error {
	switch {
	case err == nil, err == driver.ErrSkip, err == io.EOF:
		return err
	case ctx.Err() != nil:
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	case context.Cause(bctx) == errCallDeadline:
		return &deadlineError{timeout: time.Duration(c.timeout.Load()), err: err}
	}
	return err
}

// wrote records a write that stored something: the database takes writes.
func (c *calls) wrote() {
	if c.failure.Load() != nil {
		c.failure.Store(nil)
	}
}

// writeFailed records a failed write when the database is to blame.
func (c *calls) writeFailed(err error) {
	if classify(err) != noOutage {
		c.failure.Store(&writeFailure{at: time.Now(), err: err})
	}
}

// connector opens connections whose every call has the store's deadline
// (see DefaultCallTimeout). Wrapping the driver, rather than each method of
// Store, bounds everything that goes through the store's *sql.DB — the
// store's queries, River's on the same pool, statements inside
// transactions — and sees every write's outcome.
type connector struct {
	driver.Connector
	calls *calls
	// writer is set on the pool that takes writes: its writes' outcomes
	// are what the writes check reports.
	writer bool
}

// Connect opens (or, on PostgreSQL, acquires from the pgx pool) a
// connection, within the deadline.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	bctx, cancel := c.calls.bound(ctx)
	defer cancel()
	dc, err := c.Connector.Connect(bctx)
	if err != nil {
		return nil, c.calls.result(ctx, bctx, err)
	}
	return &conn{Conn: dc, calls: c.calls, writer: c.writer}, nil
}

// conn is a driver connection whose calls have the store's deadline. It
// forwards every optional interface both drivers implement. database/sql
// uses a connection from one goroutine at a time.
type conn struct {
	driver.Conn
	calls  *calls
	writer bool
	// inTx is set during a read-write transaction; txWrote once a statement
	// in it changed a row.
	inTx, txWrote bool
}

// Unwrap returns the driver's connection (modernc.org/sqlite looks through
// wrappers with it).
func (c *conn) Unwrap() driver.Conn { return c.Conn }

// errNoContext is a driver without the context-taking method asked for;
// both drivers the store uses have them all.
var errNoContext = errors.New("database driver does not take a context")

// executed records the outcome of a statement on the write pool.
func (c *conn) executed(res driver.Result, err error) {
	if !c.writer {
		return
	}
	if err != nil || res == nil {
		c.calls.writeFailed(err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		if c.inTx {
			c.txWrote = true
		} else {
			c.calls.wrote()
		}
	}
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	bctx, cancel := c.calls.bound(ctx)
	defer cancel()
	res, err := e.ExecContext(bctx, query, args)
	if err = c.calls.result(ctx, bctx, err); err != nil {
		res = nil
	}
	c.executed(res, err)
	return res, err
}

// QueryContext implements driver.QueryerContext. The deadline holds until
// the rows are closed.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	bctx, cancel := c.calls.bound(ctx)
	rs, err := q.QueryContext(bctx, query, args)
	if err != nil {
		cancel()
		err = c.calls.result(ctx, bctx, err)
		if c.writer && c.inTx {
			c.calls.writeFailed(err) // an UPDATE … RETURNING
		}
		return nil, err
	}
	return &rows{Rows: rs, calls: c.calls, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

// PrepareContext implements driver.ConnPrepareContext.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNoContext
	}
	bctx, cancel := c.calls.bound(ctx)
	defer cancel()
	st, err := p.PrepareContext(bctx, query)
	if err != nil {
		return nil, c.calls.result(ctx, bctx, err)
	}
	return &stmt{Stmt: st, conn: c}, nil
}

// BeginTx implements driver.ConnBeginTx. The deadline covers the whole
// transaction, from BEGIN to COMMIT: both drivers commit with the context
// the transaction began with.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContext
	}
	bctx, cancel := c.calls.bound(ctx)
	t, err := b.BeginTx(bctx, opts)
	if err != nil {
		cancel()
		err = c.calls.result(ctx, bctx, err)
		if c.writer && !opts.ReadOnly {
			c.calls.writeFailed(err) // SQLite's BEGIN IMMEDIATE takes the write lock
		}
		return nil, err
	}
	c.inTx, c.txWrote = !opts.ReadOnly, false
	return &tx{Tx: t, conn: c, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

// Ping implements driver.Pinger.
func (c *conn) Ping(ctx context.Context) error {
	p, ok := c.Conn.(driver.Pinger)
	if !ok {
		return nil
	}
	bctx, cancel := c.calls.bound(ctx)
	defer cancel()
	return c.calls.result(ctx, bctx, p.Ping(bctx))
}

// ResetSession implements driver.SessionResetter. Its error goes back as
// the driver gave it: database/sql acts on driver.ErrBadConn only.
func (c *conn) ResetSession(ctx context.Context) error {
	r, ok := c.Conn.(driver.SessionResetter)
	if !ok {
		return nil
	}
	bctx, cancel := c.calls.bound(ctx)
	defer cancel()
	return r.ResetSession(bctx)
}

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool {
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

// CheckNamedValue implements driver.NamedValueChecker (pgx takes every Go
// value as it is; SQLite's driver has none, which ErrSkip keeps).
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// stmt is a prepared statement whose executions have the store's deadline.
type stmt struct {
	driver.Stmt
	conn *conn
}

// ExecContext implements driver.StmtExecContext.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errNoContext
	}
	bctx, cancel := s.conn.calls.bound(ctx)
	defer cancel()
	res, err := e.ExecContext(bctx, args)
	if err = s.conn.calls.result(ctx, bctx, err); err != nil {
		res = nil
	}
	s.conn.executed(res, err)
	return res, err
}

// QueryContext implements driver.StmtQueryContext.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errNoContext
	}
	bctx, cancel := s.conn.calls.bound(ctx)
	rs, err := q.QueryContext(bctx, args)
	if err != nil {
		cancel()
		err = s.conn.calls.result(ctx, bctx, err)
		if s.conn.writer && s.conn.inTx {
			s.conn.calls.writeFailed(err)
		}
		return nil, err
	}
	return &rows{Rows: rs, calls: s.conn.calls, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

// rows are a query's rows; closing them ends the query's deadline.
type rows struct {
	driver.Rows
	calls     *calls
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

// Next implements driver.Rows.
func (r *rows) Next(dest []driver.Value) error {
	return r.calls.result(r.ctx, r.bctx, r.Rows.Next(dest))
}

// Close implements driver.Rows.
func (r *rows) Close() error {
	defer r.cancel()
	return r.Rows.Close()
}

// tx is a transaction with the store's deadline from BEGIN to COMMIT.
type tx struct {
	driver.Tx
	conn      *conn
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

// Commit implements driver.Tx.
func (t *tx) Commit() error {
	defer t.cancel()
	wrote := t.conn.txWrote
	t.conn.inTx, t.conn.txWrote = false, false
	err := t.conn.calls.result(t.ctx, t.bctx, t.Tx.Commit())
	if t.conn.writer {
		switch {
		case err != nil:
			t.conn.calls.writeFailed(err)
		case wrote:
			t.conn.calls.wrote()
		}
	}
	return err
}

// Rollback implements driver.Tx.
func (t *tx) Rollback() error {
	defer t.cancel()
	t.conn.inTx, t.conn.txWrote = false, false
	return t.conn.calls.result(t.ctx, t.bctx, t.Tx.Rollback())
}
