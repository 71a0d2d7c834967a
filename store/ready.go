package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

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
		err = s.sqlR.PingContext(ctx)
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
	}{{"writer", s.sqlW}, {"reader", s.sqlR}} {
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
