package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// calls bounds every call into the database with a deadline and keeps the
// outcome of writes. One is shared by the store's SQLite connectors (below)
// or by its pgx runners on PostgreSQL (pgx.go).
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

// connector opens SQLite connections whose every call has the store's
// deadline (see DefaultCallTimeout). Wrapping the driver, rather than each
// method of Store, bounds everything that goes through the store's *sql.DB
// — the store's queries, River's on the same pool, statements inside
// transactions — and sees every write's outcome. On PostgreSQL the store
// runs on pgx without database/sql, and pgx.go does the same per call.
type connector struct {
	driver.Connector
	calls *calls
	// writer is set on the pool that takes writes: its writes' outcomes
	// are what the writes check reports.
	writer bool
}

// Connect opens a connection, within the deadline.
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
// forwards every optional interface the driver implements. database/sql
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
// the SQLite driver has them all.
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
	return &driverRows{Rows: rs, calls: c.calls, ctx: ctx, bctx: bctx, cancel: cancel}, nil
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
// transaction, from BEGIN to COMMIT: the driver commits with the context
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
	return &driverTx{Tx: t, conn: c, ctx: ctx, bctx: bctx, cancel: cancel}, nil
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

// CheckNamedValue implements driver.NamedValueChecker (SQLite's driver has
// none, which ErrSkip keeps).
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
	return &driverRows{Rows: rs, calls: s.conn.calls, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

// driverRows are a query's rows; closing them ends the query's deadline.
type driverRows struct {
	driver.Rows
	calls     *calls
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

// Next implements driver.Rows.
func (r *driverRows) Next(dest []driver.Value) error {
	return r.calls.result(r.ctx, r.bctx, r.Rows.Next(dest))
}

// Close implements driver.Rows.
func (r *driverRows) Close() error {
	defer r.cancel()
	return r.Rows.Close()
}

// driverTx is a transaction with the store's deadline from BEGIN to COMMIT.
type driverTx struct {
	driver.Tx
	conn      *conn
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

// Commit implements driver.Tx.
func (t *driverTx) Commit() error {
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
func (t *driverTx) Rollback() error {
	defer t.cancel()
	t.conn.inTx, t.conn.txWrote = false, false
	return t.conn.calls.result(t.ctx, t.bctx, t.Tx.Rollback())
}
