package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/aijobs/aijobs/throttle"
)

var _ throttle.Store = (*Store)(nil)

const throttleColumns = `request_tat, token_tat, paused_until, pause_reason, failures, circuit_open, probe_until`

// Throttle implements throttle.Store. A plain read comes first, so that a
// turn that changes nothing (no budget, no failure) writes nothing; a
// change is made in a write transaction that locks the key's row, at the
// database's clock (nodes' clocks differ; on SQLite they are one machine's).
func (s *Store) Throttle(ctx context.Context, key string, fn func(now time.Time, st *throttle.State) bool) error {
	row := s.queryRow(ctx, `SELECT `+s.d.nowMicros()+`, COALESCE(l.request_tat, 0), COALESCE(l.token_tat, 0), COALESCE(l.paused_until, 0),
		COALESCE(l.pause_reason, ''), COALESCE(l.failures, 0), COALESCE(l.circuit_open, 0), COALESCE(l.probe_until, 0)
		FROM (SELECT 1 AS one) o LEFT JOIN aijobs_provider_limits l ON l.key = ?`, key)
	now, st, err := scanThrottle(row, true)
	if err != nil {
		return wrap(err, "read the limits of "+key)
	}
	if !fn(now, &st) {
		return nil
	}
	return wrap(s.throttleTx(ctx, key, fn), "take a turn at "+key)
}

func (s *Store) throttleTx(ctx context.Context, key string, fn func(now time.Time, st *throttle.State) bool) error {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return err
	}
	defer tx.rollback()
	if _, err := tx.exec(ctx, `INSERT INTO aijobs_provider_limits (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, key); err != nil {
		return err
	}
	_, st, err := scanThrottle(tx.queryRow(ctx, `SELECT 0, `+throttleColumns+` FROM aijobs_provider_limits WHERE key = ?`+s.d.forUpdate(), key), false)
	if err != nil {
		return err
	}
	// The clock is read once the row is locked: a caller that waited for
	// the lock does not decide on a time before the previous one's.
	var micros int64
	if err := tx.queryRow(ctx, `SELECT `+s.d.nowMicros()).Scan(&micros); err != nil {
		return err
	}
	if !fn(time.UnixMicro(micros).UTC(), &st) {
		return tx.commit()
	}
	_, err = tx.exec(ctx, `UPDATE aijobs_provider_limits SET request_tat = ?, token_tat = ?, paused_until = ?, pause_reason = ?,
		failures = ?, circuit_open = ?, probe_until = ? WHERE key = ?`,
		micros0(st.RequestTAT), micros0(st.TokenTAT), micros0(st.PausedUntil), st.PauseReason, st.Failures, boolInt(st.Open), micros0(st.ProbeUntil), key)
	if err != nil {
		return err
	}
	return tx.commit()
}

// scanThrottle reads a state row; with now, its first column is the
// database's clock.
func scanThrottle(row scanner, withNow bool) (time.Time, throttle.State, error) {
	var (
		st                                     throttle.State
		now, reqTAT, tokTAT, paused, probeUntl int64
		open                                   int
		reason                                 sql.NullString
	)
	if err := row.Scan(&now, &reqTAT, &tokTAT, &paused, &reason, &st.Failures, &open, &probeUntl); err != nil {
		return time.Time{}, st, err
	}
	st.RequestTAT, st.TokenTAT, st.PausedUntil, st.ProbeUntil = fromMicros0(reqTAT), fromMicros0(tokTAT), fromMicros0(paused), fromMicros0(probeUntl)
	st.PauseReason, st.Open = reason.String, open != 0
	var at time.Time
	if withNow {
		at = time.UnixMicro(now).UTC()
	}
	return at, st, nil
}

// micros0 and fromMicros0 store a zero time as 0.
func micros0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros0(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
