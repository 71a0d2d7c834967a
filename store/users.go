package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// UserByToken implements jobs.Store.
func (s *Store) UserByToken(ctx context.Context, hash string) (jobs.User, error) {
	var u jobs.User
	err := s.queryRow(ctx, `SELECT u.id, u.name, u.daily_quota FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id WHERE t.hash = ?`, hash).
		Scan(&u.ID, &u.Name, &u.DailyQuota)
	if err == sql.ErrNoRows {
		return u, jobs.ErrUnauthorized
	}
	return u, wrap(err, "read token")
}

// EnsureUser returns the user called name, creating it with dailyQuota if it
// does not exist. A dailyQuota >= 0 also updates an existing user's quota.
func (s *Store) EnsureUser(ctx context.Context, name string, dailyQuota int64) (u jobs.User, created bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return u, false, wrap(err, "begin ensure user")
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT id, name, daily_quota FROM aijobs_users WHERE name = ?`), name).Scan(&u.ID, &u.Name, &u.DailyQuota)
	switch {
	case err == sql.ErrNoRows:
		u = jobs.User{ID: "usr_" + rand.Text()[:20], Name: name, DailyQuota: max(dailyQuota, 0)}
		if dailyQuota < 0 {
			u.DailyQuota = 100
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO aijobs_users (id, name, daily_quota, created_at) VALUES (?, ?, ?, ?)`), u.ID, u.Name, u.DailyQuota, time.Now().UnixMicro())
		created = true
	case err == nil && dailyQuota >= 0 && dailyQuota != u.DailyQuota:
		u.DailyQuota = dailyQuota
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE aijobs_users SET daily_quota = ? WHERE id = ?`), dailyQuota, u.ID)
	}
	if err != nil {
		return u, false, wrap(err, "ensure user "+name)
	}
	return u, created, wrap(tx.Commit(), "commit user "+name)
}

// AddToken stores the hash of a new API token for a user.
func (s *Store) AddToken(ctx context.Context, userID, hash string) error {
	_, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO aijobs_tokens (hash, user_id, created_at) VALUES (?, ?, ?)`), hash, userID, time.Now().UnixMicro())
	return wrap(err, "add token")
}

// CountUsers says how many users exist (0 on a new database).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM aijobs_users`).Scan(&n)
	return n, wrap(err, "count users")
}

// UserByID implements jobs.Store.
func (s *Store) UserByID(ctx context.Context, id string) (jobs.User, error) {
	var u jobs.User
	err := s.queryRow(ctx, `SELECT id, name, daily_quota FROM aijobs_users WHERE id = ?`, id).Scan(&u.ID, &u.Name, &u.DailyQuota)
	return u, wrap(err, "read user")
}
