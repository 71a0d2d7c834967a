package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// outage says why the database cannot do what was asked right now — the
// errors that are jobs.ErrUnavailable (503 with Retry-After) rather than a
// bad query. Errors are classified by PostgreSQL SQLSTATE, SQLite result
// code and Go error type, never by message text.
type outage int

// The outages, each with a message safe to show anyone (String).
const (
	noOutage    outage = iota
	unreachable        // no connection: refused, reset, closed, DNS, TLS, authentication
	timedOut           // no answer in time: the store's deadline, or the caller's
	gone               // the database does not exist (dropped) or cannot be opened
	shutdown           // the server is shutting down, restarting or starting up
	diskFull           // no space left to write
	ioError            // the database's storage failed
	readOnly           // the database accepts no writes (a standby, a read-only file)
	busy               // locked by another writer beyond the busy timeout
	noConns            // the server has no connection slot left
	noResources        // out of memory or another server resource
)

func (o outage) String() string {
	switch o {
	case unreachable:
		return "the database does not answer"
	case timedOut:
		return "the database did not answer in time"
	case gone:
		return "the database does not exist or cannot be opened"
	case shutdown:
		return "the database is shutting down or starting up"
	case diskFull:
		return "the database's disk is full"
	case ioError:
		return "the database had an I/O error"
	case readOnly:
		return "the database is read-only"
	case busy:
		return "the database is busy"
	case noConns:
		return "the database has no free connections"
	case noResources:
		return "the database is out of memory or other resources"
	}
	return "the database is available"
}

// unavailable reports whether err means the database cannot be reached or
// cannot do this right now, rather than a bad query.
func unavailable(err error) bool { return classify(err) != noOutage }

// classify says which outage err is, or noOutage. A caller's own
// cancellation (the client went away) is never an outage.
func classify(err error) outage {
	if err == nil || errors.Is(err, context.Canceled) {
		return noOutage
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return timedOut
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if o := pgOutage(pgErr.Code); o != noOutage {
			return o
		}
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqliteOutage(sqErr.Code())
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr):
		// Connecting failed, whatever the server said (a PgError inside:
		// wrong password, no such role): this process cannot reach its
		// database; a bad request it is not.
		return unreachable
	case errors.As(err, &netErr) && netErr.Timeout():
		return timedOut
	case netErr != nil,
		errors.Is(err, net.ErrClosed),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, driver.ErrBadConn), // database/sql gave up on its connections
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, pgconn.ErrConnClosed):
		return unreachable
	}
	return noOutage
}

// pgOutage classifies a PostgreSQL SQLSTATE
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
func pgOutage(code string) outage {
	switch {
	case len(code) != 5:
		return noOutage
	case code[:2] == "08": // connection exception
		return unreachable
	case code == "57P04", code == "3D000": // database_dropped, invalid_catalog_name
		return gone
	case code == "57P01", code == "57P02", code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return shutdown
	case code == "57P05": // idle_session_timeout: the server closed the session
		return unreachable
	case code == "57014": // query_canceled: statement_timeout (a cancel of ours is the caller's context)
		return timedOut
	case code == "53100": // disk_full
		return diskFull
	case code == "53300", code == "53400": // too_many_connections, configuration_limit_exceeded
		return noConns
	case code[:2] == "53": // insufficient_resources, out_of_memory
		return noResources
	case code[:2] == "58": // system_error, io_error, undefined_file, duplicate_file
		return ioError
	case code == "55P03": // lock_not_available: lock_timeout
		return busy
	case code == "25006": // read_only_sql_transaction: a standby after a failover
		return readOnly
	}
	return noOutage
}

// sqliteOutage classifies a SQLite result code (extended codes are on: the
// primary code is the low byte; https://sqlite.org/rescode.html).
func sqliteOutage(code int) outage {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL:
		return busy
	case sqlite3.SQLITE_NOMEM:
		return noResources
	case sqlite3.SQLITE_READONLY:
		return readOnly
	case sqlite3.SQLITE_IOERR:
		return ioError
	case sqlite3.SQLITE_FULL:
		return diskFull
	case sqlite3.SQLITE_CANTOPEN:
		return gone
	}
	return noOutage
}

// pgUniqueViolation reports whether err is PostgreSQL's unique_violation.
func pgUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// sqliteUniqueViolation reports whether err is a SQLite UNIQUE or PRIMARY
// KEY constraint failure.
func sqliteUniqueViolation(err error) bool {
	var sqErr *sqlite.Error
	if !errors.As(err, &sqErr) {
		return false
	}
	c := sqErr.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// errCallDeadline is the cause of a store call's own deadline.
var errCallDeadline = errors.New("store call deadline")

// deadlineError is a call into the database that ran past the store's own
// deadline. It unwraps to context.DeadlineExceeded only, never to the
// driver's error: that may be driver.ErrBadConn, on which database/sql would
// try again, and a call out of time must not get a second deadline.
type deadlineError struct {
	timeout time.Duration
	err     error // what the driver returned
}

func (e *deadlineError) Error() string {
	return "no answer from the database within " + e.timeout.String() + ": " + e.err.Error()
}

func (e *deadlineError) Unwrap() error { return context.DeadlineExceeded }
