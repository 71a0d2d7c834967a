package store

import (
	"context"
	"strconv"
	"strings"
	"sync"
)

// dialect holds everything that differs between SQLite and PostgreSQL in
// the SQL itself; placeholders are the runners' (runner.go: SQLite takes
// the portable "?", the pgx runner rebinds them to $n).
type dialect interface {
	// forUpdate is appended to a SELECT that will be followed by an UPDATE
	// of the same row in one transaction.
	forUpdate() string
	// lockMigrations serialises migrations between processes until unlock.
	// Until then this process's store calls have no deadline of the store's
	// (a migration may rightly take long).
	lockMigrations(ctx context.Context, s *Store) (unlock func(), err error)
	// uniqueViolation reports whether err is a unique-constraint violation.
	uniqueViolation(err error) bool
	// snapshotRead is the transaction in which several reads see one
	// snapshot of the database.
	snapshotRead() txOptions
	// nowMicros is an SQL expression: the database's clock in unix
	// microseconds, BIGINT.
	nowMicros() string
	// userSeq is the SQL expression of the user seq of the event the
	// transaction is about to write for userID, and its arguments: greater
	// than every user seq of the user's events that a reader may already
	// have seen. Once the event is written with it, wrote runs.
	userSeq(userID string) (expr string, args []any)
	// wrote follows the insert of the user's event at user seq seq.
	wrote(ctx context.Context, tx txn, userID string, seq int64) error
	// userSeqVisible is an SQL condition on aijobs_events.user_seq ("" for
	// none): the events a reader may hand out in user seq order, those
	// before which no event can still be committed.
	userSeqVisible() string
	// newestUserSeq is the position of a reader that has seen every event
	// of the user that userSeqVisible lets it read now, in tx's snapshot.
	newestUserSeq(ctx context.Context, tx txn, userID string) (int64, error)
}

type sqliteDialect struct{}

// SQLite locks the whole database for a write transaction (_txlock=immediate).
func (sqliteDialect) forUpdate() string { return "" }

// SQLite's migrations run in immediate transactions, which already exclude
// every other writer.
func (sqliteDialect) lockMigrations(_ context.Context, s *Store) (func(), error) {
	return s.calls.unbound(), nil
}

// uniqueViolation: SQLITE_CONSTRAINT_UNIQUE or SQLITE_CONSTRAINT_PRIMARYKEY.
func (sqliteDialect) uniqueViolation(err error) bool { return sqliteUniqueViolation(err) }

// A SQLite read transaction in WAL mode reads one snapshot from its first
// read on; the read-only pool's driver takes no isolation options.
func (sqliteDialect) snapshotRead() txOptions { return txOptions{} }

// SQLite's clock is the machine's, to the millisecond.
func (sqliteDialect) nowMicros() string {
	return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
}

// SQLite has one writer at a time, so a counter on the user's row costs no
// one a wait and hands out the user's positions in commit order.
func (sqliteDialect) userSeq(userID string) (string, []any) {
	return `(SELECT event_seq + 1 FROM aijobs_users WHERE id = ?)`, []any{userID}
}

func (sqliteDialect) wrote(ctx context.Context, tx txn, userID string, seq int64) error {
	_, err := tx.exec(ctx, `UPDATE aijobs_users SET event_seq = ? WHERE id = ?`, seq, userID)
	return err
}

func (sqliteDialect) userSeqVisible() string { return "" }

func (sqliteDialect) newestUserSeq(ctx context.Context, tx txn, userID string) (int64, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT event_seq FROM aijobs_users WHERE id = ?`, userID).Scan(&seq)
	return seq, err
}

type postgresDialect struct {
	rebound *sync.Map // query → query with $n placeholders
}

// On PostgreSQL a counter on the user's row would make every event of the
// user wait for the previous one's commit (userSeq, wrote). The position is the writing
// transaction's id instead (plus aijobs_event_clock's shift, see migration
// 0007): unique, since a transaction writes one event, and taken without a
// lock. Transactions commit out of id order, so readers stop below the
// oldest transaction still running (userSeqVisible): past that point no
// event can still appear below a position a reader handed out.
func (postgresDialect) userSeq(string) (string, []any) {
	return `pg_current_xact_id()::text::bigint + (SELECT shift FROM aijobs_event_clock)`, nil
}

func (postgresDialect) wrote(context.Context, txn, string, int64) error { return nil }

// pgHorizon is the lowest position a transaction still running may write.
const pgHorizon = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint + (SELECT shift FROM aijobs_event_clock)`

func (postgresDialect) userSeqVisible() string { return `user_seq < ` + pgHorizon }

// Every position below the horizon is final, whether or not it is the
// user's: the reader has seen them all.
func (postgresDialect) newestUserSeq(ctx context.Context, tx txn, _ string) (int64, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT `+pgHorizon+` - 1`).Scan(&seq)
	return seq, err
}

// clock_timestamp(), not now(): the time of the statement, not of the
// transaction's start.
func (postgresDialect) nowMicros() string {
	return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
}

func (postgresDialect) snapshotRead() txOptions {
	return txOptions{readOnly: true, snapshot: true}
}

// rebind turns the portable "?" placeholders into PostgreSQL's $n, for the
// pgx runner. It caches its answers: the store's queries are a fixed set,
// and the hot paths ask for the same ones on every call.
func (d postgresDialect) rebind(q string) string {
	if r, ok := d.rebound.Load(q); ok {
		return r.(string)
	}
	r := pgPlaceholders(q)
	d.rebound.Store(q, r)
	return r
}

func pgPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (postgresDialect) forUpdate() string { return " FOR UPDATE" }

// migrationLockKey is an arbitrary constant shared by every aijobs process.
const migrationLockKey = 0x61696a6f6273

func (postgresDialect) lockMigrations(ctx context.Context, s *Store) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		conn.Release()
		return nil, err
	}
	restore := s.calls.unbound()
	return func() {
		restore()
		conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockKey)
		conn.Release()
	}, nil
}

// uniqueViolation: SQLSTATE 23505 (unique_violation).
func (postgresDialect) uniqueViolation(err error) bool { return pgUniqueViolation(err) }
