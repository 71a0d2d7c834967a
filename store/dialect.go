package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect holds everything that differs between SQLite and PostgreSQL.
type dialect interface {
	// rebind turns the portable "?" placeholders into the dialect's own.
	rebind(query string) string
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
	snapshotRead() *sql.TxOptions
	// nowMicros is an SQL expression: the database's clock in unix
	// microseconds, BIGINT.
	nowMicros() string
}

type sqliteDialect struct{}

func (sqliteDialect) rebind(q string) string { return q }

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
func (sqliteDialect) snapshotRead() *sql.TxOptions { return nil }

// SQLite's clock is the machine's, to the millisecond.
func (sqliteDialect) nowMicros() string {
	return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
}

type postgresDialect struct{}

// clock_timestamp(), not now(): the time of the statement, not of the
// transaction's start.
func (postgresDialect) nowMicros() string {
	return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
}

func (postgresDialect) snapshotRead() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

func (postgresDialect) rebind(q string) string {
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
