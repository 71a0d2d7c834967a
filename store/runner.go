package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jackc/pgx/v5"
)

// The store's one seam between its queries and the drivers: every query is
// written once, in portable SQL with "?" placeholders, and runs through a
// runner — on SQLite a database/sql pool or transaction (sqlDB, sqlTx, whose
// driver connections deadline.go bounds), on PostgreSQL the pgx pool or a
// pgx transaction (pgxDB, pgxTx in pgx.go, which rebind the placeholders and
// bound each call themselves). Both keep the same rules: the store's
// deadline on every call, the caller's cancellation not blamed on the
// database, and the outcome of writes for the readiness checks.

// runner runs statements: a pool or a transaction.
type runner interface {
	// exec runs a statement and returns how many rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// query runs a query; its deadline holds until the rows are closed.
	query(ctx context.Context, query string, args ...any) (rows, error)
	// queryRow runs a query of one row; its error comes with Scan, which
	// returns sql.ErrNoRows when there is no row.
	queryRow(ctx context.Context, query string, args ...any) scanner
}

// db is a pool of connections: it runs statements and begins transactions.
type db interface {
	runner
	// begin starts a transaction, whose deadline holds from BEGIN to
	// COMMIT.
	begin(ctx context.Context, opts txOptions) (txn, error)
	// close closes the pool.
	close() error
}

// txn is a transaction of the store. It is used from one goroutine.
type txn interface {
	Tx
	runner
	// commit commits; rollback rolls back, unless the transaction has
	// already ended (so that it can be deferred).
	commit() error
	rollback()
	// river runs f, which runs River's statements in the transaction
	// (an enqueuer), with the store's deadline and the outcome of its
	// writes kept like the store's own statements'.
	river(ctx context.Context, f func(context.Context) error) error
}

// Tx is a transaction of the store as the enqueuers see it (SetEnqueuer,
// SetDeliveryEnqueuer): the driver's transaction underneath, for River's
// insert to join. Exactly one of SQL and Pgx is non-nil.
type Tx interface {
	// SQL is the database/sql transaction on SQLite, nil on PostgreSQL.
	SQL() *sql.Tx
	// Pgx is the pgx transaction on PostgreSQL, nil on SQLite.
	Pgx() pgx.Tx
}

// txOptions are the kinds of transaction the store begins. The zero value
// is a read-write transaction at the database's default isolation.
type txOptions struct {
	// readOnly: the transaction writes nothing. snapshot: its reads see
	// one snapshot of the database (PostgreSQL's REPEATABLE READ; a SQLite
	// transaction always does).
	readOnly, snapshot bool
}

// rows are the rows of a query (*sql.Rows, pgxRows). Close ends the call.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// sqlDB runs the store's statements on a database/sql pool. Its
// connections bound every call and keep the outcome of writes (deadline.go).
type sqlDB struct {
	db *sql.DB
	// stmts caches prepared statements by query on SQLite's read pool
	// (the driver would otherwise parse every query again: most of a
	// poll's cost); nil on the write pool.
	stmts *sync.Map // string → *sql.Stmt
}

var (
	_ db  = (*sqlDB)(nil)
	_ txn = sqlTx{}
)

func (d *sqlDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(d.db.ExecContext(ctx, query, args...))
}

func (d *sqlDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	var (
		rs  *sql.Rows
		err error
	)
	if d.stmts == nil {
		rs, err = d.db.QueryContext(ctx, query, args...)
	} else {
		var st *sql.Stmt
		if st, err = d.prepared(ctx, query); err == nil {
			rs, err = st.QueryContext(ctx, args...)
		}
	}
	if err != nil {
		return nil, err // not a nil *sql.Rows in a non-nil rows
	}
	return rs, nil
}

func (d *sqlDB) queryRow(ctx context.Context, query string, args ...any) scanner {
	if d.stmts == nil {
		return d.db.QueryRowContext(ctx, query, args...)
	}
	st, err := d.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// prepared prepares query once and returns its statement.
func (d *sqlDB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (d *sqlDB) begin(ctx context.Context, opts txOptions) (txn, error) {
	var o *sql.TxOptions
	if opts.readOnly || opts.snapshot {
		o = &sql.TxOptions{ReadOnly: opts.readOnly}
		if opts.snapshot {
			o.Isolation = sql.LevelRepeatableRead
		}
	}
	t, err := d.db.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return sqlTx{t}, nil
}

// close closes the cached statements and the pool.
func (d *sqlDB) close() error {
	if d.stmts != nil {
		d.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	}
	return d.db.Close()
}

// sqlTx is a database/sql transaction of the store.
type sqlTx struct{ tx *sql.Tx }

// SQL implements Tx.
func (t sqlTx) SQL() *sql.Tx { return t.tx }

// Pgx implements Tx: nil, this is database/sql.
func (sqlTx) Pgx() pgx.Tx { return nil }

func (t sqlTx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(t.tx.ExecContext(ctx, query, args...))
}

func (t sqlTx) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

func (t sqlTx) queryRow(ctx context.Context, query string, args ...any) scanner {
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t sqlTx) commit() error { return t.tx.Commit() }

func (t sqlTx) rollback() { t.tx.Rollback() }

// River's statements go through the same driver connections as the
// store's, which bound them and keep their outcome.
func (t sqlTx) river(ctx context.Context, f func(context.Context) error) error { return f(ctx) }

// affected is the number of rows a database/sql statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// errRow is a row whose query could not even be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
