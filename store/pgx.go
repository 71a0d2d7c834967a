package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgxDB runs the store's statements on PostgreSQL straight on the pgx pool:
// it rebinds the portable placeholders, bounds every call with the store's
// deadline and keeps the outcome of writes — what deadline.go's driver
// wrapper does for database/sql.
type pgxDB struct {
	pool   *pgxpool.Pool
	calls  *calls
	rebind func(query string) string
}

var (
	_ db  = (*pgxDB)(nil)
	_ txn = (*pgxTx)(nil)
)

// exec runs a statement outside a transaction: a write, whose outcome is
// kept.
func (d *pgxDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	bctx, cancel := d.calls.bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(bctx, d.rebind(query), args...)
	if err = d.calls.result(ctx, bctx, err); err != nil {
		d.calls.writeFailed(err)
		return 0, err
	}
	if tag.RowsAffected() > 0 {
		d.calls.wrote()
	}
	return tag.RowsAffected(), nil
}

func (d *pgxDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	return pgxQuery(ctx, d.calls, false, func(ctx context.Context) (pgx.Rows, error) {
		return d.pool.Query(ctx, d.rebind(query), args...)
	})
}

func (d *pgxDB) queryRow(ctx context.Context, query string, args ...any) scanner {
	bctx, cancel := d.calls.bound(ctx)
	return pgxRow{row: d.pool.QueryRow(bctx, d.rebind(query), args...), calls: d.calls, ctx: ctx, bctx: bctx, cancel: cancel}
}

// begin begins a transaction on a connection of the pool; the store's
// deadline holds from BEGIN to COMMIT.
func (d *pgxDB) begin(ctx context.Context, opts txOptions) (txn, error) {
	var o pgx.TxOptions
	if opts.readOnly {
		o.AccessMode = pgx.ReadOnly
	}
	if opts.snapshot {
		o.IsoLevel = pgx.RepeatableRead
	}
	bctx, cancel := d.calls.bound(ctx)
	t, err := d.pool.BeginTx(bctx, o)
	if err != nil {
		cancel()
		err = d.calls.result(ctx, bctx, err)
		if !opts.readOnly {
			d.calls.writeFailed(err)
		}
		return nil, err
	}
	return &pgxTx{tx: t, db: d, write: !opts.readOnly, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

func (d *pgxDB) close() error {
	d.pool.Close()
	return nil
}

// pgxTx is a pgx transaction of the store. Each statement has the store's
// deadline, and so has the whole transaction: COMMIT runs with the context
// of BEGIN.
type pgxTx struct {
	tx pgx.Tx
	db *pgxDB
	// write is set on a read-write transaction, whose failures are failed
	// writes; wrote once a statement in it changed a row.
	write, wrote bool
	ctx, bctx    context.Context
	cancel       context.CancelFunc
}

// SQL implements Tx: nil, this is pgx.
func (*pgxTx) SQL() *sql.Tx { return nil }

// Pgx implements Tx.
func (t *pgxTx) Pgx() pgx.Tx { return t.tx }

func (t *pgxTx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	c := t.db.calls
	bctx, cancel := c.bound(ctx)
	defer cancel()
	tag, err := t.tx.Exec(bctx, t.db.rebind(query), args...)
	if err = c.result(ctx, bctx, err); err != nil {
		c.writeFailed(err)
		return 0, err
	}
	if tag.RowsAffected() > 0 {
		t.wrote = true
	}
	return tag.RowsAffected(), nil
}

func (t *pgxTx) query(ctx context.Context, query string, args ...any) (rows, error) {
	return pgxQuery(ctx, t.db.calls, t.write, func(ctx context.Context) (pgx.Rows, error) {
		return t.tx.Query(ctx, t.db.rebind(query), args...)
	})
}

func (t *pgxTx) queryRow(ctx context.Context, query string, args ...any) scanner {
	bctx, cancel := t.db.calls.bound(ctx)
	return pgxRow{row: t.tx.QueryRow(bctx, t.db.rebind(query), args...), calls: t.db.calls, write: t.write, ctx: ctx, bctx: bctx, cancel: cancel}
}

func (t *pgxTx) river(ctx context.Context, f func(context.Context) error) error {
	c := t.db.calls
	bctx, cancel := c.bound(ctx)
	defer cancel()
	err := c.result(ctx, bctx, f(bctx))
	if err != nil && t.write {
		c.writeFailed(err)
	}
	return err
}

func (t *pgxTx) commit() error {
	defer t.cancel()
	c := t.db.calls
	err := c.result(t.ctx, t.bctx, t.tx.Commit(t.bctx))
	if t.write {
		switch {
		case err != nil:
			c.writeFailed(err)
		case t.wrote:
			c.wrote()
		}
	}
	return err
}

// rollback rolls back with the context of BEGIN, like COMMIT; after a
// commit it does nothing (pgx answers ErrTxClosed without a round trip).
func (t *pgxTx) rollback() {
	defer t.cancel()
	t.tx.Rollback(t.bctx)
}

// pgxQuery runs a query of rows with the store's deadline, held until the
// rows are closed; in a read-write transaction (write) its failure is a
// failed write.
func pgxQuery(ctx context.Context, c *calls, write bool, q func(context.Context) (pgx.Rows, error)) (rows, error) {
	bctx, cancel := c.bound(ctx)
	rs, err := q(bctx)
	if err != nil {
		cancel()
		err = c.result(ctx, bctx, err)
		if write {
			c.writeFailed(err)
		}
		return nil, err
	}
	return &pgxRows{rows: rs, calls: c, write: write, ctx: ctx, bctx: bctx, cancel: cancel}, nil
}

// pgxRows are a pgx query's rows; closing them ends the query's deadline.
type pgxRows struct {
	rows      pgx.Rows
	calls     *calls
	write     bool
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

func (r *pgxRows) Next() bool { return r.rows.Next() }

func (r *pgxRows) Scan(dest ...any) error {
	return r.calls.result(r.ctx, r.bctx, r.rows.Scan(dest...))
}

func (r *pgxRows) Err() error {
	err := r.calls.result(r.ctx, r.bctx, r.rows.Err())
	if err != nil && r.write {
		r.calls.writeFailed(err)
	}
	return err
}

// Close closes the rows (their connection goes back to the pool) and ends
// the query's deadline. Errors are Err's.
func (r *pgxRows) Close() error {
	r.rows.Close()
	r.cancel()
	return nil
}

// pgxRow is a pgx query of one row, running until Scan (which gives its
// connection back).
type pgxRow struct {
	row       pgx.Row
	calls     *calls
	write     bool
	ctx, bctx context.Context
	cancel    context.CancelFunc
}

// Scan scans the row; no row is sql.ErrNoRows, as on database/sql.
func (r pgxRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.cancel()
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	err = r.calls.result(r.ctx, r.bctx, err)
	if err != nil && r.write {
		r.calls.writeFailed(err)
	}
	return err
}
