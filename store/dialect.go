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
	// lockMigrations serialises migrations between processes inside tx.
	lockMigrations(ctx context.Context, tx *sql.Tx) error
	// uniqueViolation reports whether err is a unique-constraint violation.
	uniqueViolation(err error) bool
}

type sqliteDialect struct{}

func (sqliteDialect) rebind(q string) string { return q }

// SQLite locks the whole database for a write transaction (_txlock=immediate).
func (sqliteDialect) forUpdate() string { return "" }

func (sqliteDialect) lockMigrations(context.Context, *sql.Tx) error { return nil }

func (sqliteDialect) uniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

type postgresDialect struct{}

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

func (postgresDialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey)
	return err
}

func (postgresDialect) uniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLSTATE 23505")
}
