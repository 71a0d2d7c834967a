package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"strings"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

// The store implements what auth needs; only auth calls the token methods.
var _ auth.Store = (*Store)(nil)

// EnsureUser returns the user called name, creating it with dailyQuota if it
// does not exist. A dailyQuota >= 0 also updates an existing user's quota.
func (s *Store) EnsureUser(ctx context.Context, name string, dailyQuota int64) (u jobs.User, created bool, err error) {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return u, false, wrap(err, "begin ensure user")
	}
	defer tx.rollback()
	err = tx.queryRow(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE name = ?`, name).Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight)
	switch {
	case err == sql.ErrNoRows:
		u = jobs.User{ID: "usr_" + rand.Text()[:20], Name: name, DailyQuota: max(dailyQuota, 0), Weight: 1}
		if dailyQuota < 0 {
			u.DailyQuota = 100
		}
		_, err = tx.exec(ctx, `INSERT INTO aijobs_users (id, name, daily_quota, created_at) VALUES (?, ?, ?, ?)`, u.ID, u.Name, u.DailyQuota, time.Now().UnixMicro())
		created = true
	case err == nil && dailyQuota >= 0 && dailyQuota != u.DailyQuota:
		u.DailyQuota = dailyQuota
		_, err = tx.exec(ctx, `UPDATE aijobs_users SET daily_quota = ? WHERE id = ?`, dailyQuota, u.ID)
	}
	if err != nil {
		return u, false, wrap(err, "ensure user "+name)
	}
	return u, created, wrap(tx.commit(), "commit user "+name)
}

// CountUsers says how many users exist (0 on a new database).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.queryRow(ctx, `SELECT count(*) FROM aijobs_users`).Scan(&n)
	return n, wrap(err, "count users")
}

// UserByID implements jobs.Store and auth.Store.
func (s *Store) UserByID(ctx context.Context, id string) (jobs.User, error) {
	var u jobs.User
	err := s.queryRow(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE id = ?`, id).Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight)
	return u, wrap(err, "read user")
}

// UserByName implements auth.Store.
func (s *Store) UserByName(ctx context.Context, name string) (jobs.User, error) {
	var u jobs.User
	err := s.queryRow(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE name = ?`, name).Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight)
	return u, wrap(err, "read user by name")
}

// Users implements auth.Store.
func (s *Store) Users(ctx context.Context, after string, limit int) ([]jobs.User, error) {
	rows, err := s.query(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE name > ? ORDER BY name LIMIT ?`, after, limit)
	if err != nil {
		return nil, wrap(err, "list users")
	}
	defer rows.Close()
	var us []jobs.User
	for rows.Next() {
		var u jobs.User
		if err := rows.Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight); err != nil {
			return nil, wrap(err, "read users")
		}
		us = append(us, u)
	}
	return us, wrap(rows.Err(), "read users")
}

// SetWeight implements auth.Store.
func (s *Store) SetWeight(ctx context.Context, userID string, weight int64) (jobs.User, error) {
	n, err := s.w.exec(ctx, `UPDATE aijobs_users SET weight = ? WHERE id = ?`, weight, userID)
	if err != nil {
		return jobs.User{}, wrap(err, "set weight")
	}
	if n == 0 {
		return jobs.User{}, jobs.ErrNotFound
	}
	var u jobs.User
	err = s.w.queryRow(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE id = ?`, userID).Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight)
	return u, wrap(err, "read user")
}

// SetQuota implements auth.Store.
func (s *Store) SetQuota(ctx context.Context, userID string, dailyQuota int64) (jobs.User, error) {
	if err := affectedOne(s.w.exec(ctx, `UPDATE aijobs_users SET daily_quota = ? WHERE id = ?`, dailyQuota, userID)); err != nil {
		return jobs.User{}, wrap(err, "set quota")
	}
	var u jobs.User
	err := s.w.queryRow(ctx, `SELECT id, name, daily_quota, weight FROM aijobs_users WHERE id = ?`, userID).Scan(&u.ID, &u.Name, &u.DailyQuota, &u.Weight)
	return u, wrap(err, "read user")
}

// tokenColumns are the columns scanToken reads, of aijobs_tokens t joined
// with aijobs_users u.
const tokenColumns = `t.id, t.user_id, u.name, u.daily_quota, u.weight, t.name, t.admin, t.created_at, t.last_used_at, t.expires_at, t.revoked_at`

// scanToken reads a row of tokenColumns.
func scanToken(row scanner) (auth.Token, jobs.User, error) {
	var (
		t                       auth.Token
		u                       jobs.User
		admin                   int
		created                 int64
		lastUsed, expires, revk sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.UserID, &t.UserName, &u.DailyQuota, &u.Weight, &t.Name, &admin, &created, &lastUsed, &expires, &revk)
	t.Admin, t.CreatedAt = admin != 0, fromMicros(created)
	t.LastUsedAt, t.ExpiresAt, t.RevokedAt = fromNullMicros(lastUsed), fromNullMicros(expires), fromNullMicros(revk)
	u.ID, u.Name = t.UserID, t.UserName
	return t, u, err
}

// AddToken implements auth.Store.
func (s *Store) AddToken(ctx context.Context, t auth.Token, hash string) error {
	_, err := s.w.exec(ctx, `INSERT INTO aijobs_tokens (hash, id, user_id, name, admin, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hash, t.ID, t.UserID, t.Name, boolInt(t.Admin), t.CreatedAt.UnixMicro(), nullMicros(t.ExpiresAt))
	return wrap(err, "add token")
}

// TokenByHash implements auth.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, jobs.User, error) {
	t, u, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id WHERE t.hash = ?`, hash))
	return t, u, wrap(err, "read token")
}

// TokenByID implements auth.Store.
func (s *Store) TokenByID(ctx context.Context, id string) (auth.Token, jobs.User, error) {
	t, u, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id WHERE t.id = ?`, id))
	return t, u, wrap(err, "read token")
}

// Tokens implements auth.Store.
func (s *Store) Tokens(ctx context.Context, userID string) ([]auth.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id`
	var args []any
	if userID != "" {
		q += ` WHERE t.user_id = ?`
		args = append(args, userID)
	}
	return s.tokens(ctx, q+` ORDER BY t.created_at, t.id`, args...)
}

func (s *Store) tokens(ctx context.Context, q string, args ...any) ([]auth.Token, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	defer rows.Close()
	var ts []auth.Token
	for rows.Next() {
		t, _, err := scanToken(rows)
		if err != nil {
			return nil, wrap(err, "read tokens")
		}
		ts = append(ts, t)
	}
	return ts, wrap(rows.Err(), "read tokens")
}

// tokenBatch is how many ids one TokenStates query asks for: always this
// many placeholders (padded), so that it is one prepared statement.
const tokenBatch = 100

// TokenStates implements auth.Store.
func (s *Store) TokenStates(ctx context.Context, ids []string) ([]auth.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id WHERE t.id IN (?` + strings.Repeat(", ?", tokenBatch-1) + `)`
	var out []auth.Token
	for len(ids) > 0 {
		n := min(len(ids), tokenBatch)
		args := make([]any, tokenBatch)
		for i := range args {
			args[i] = ids[min(i, n-1)]
		}
		ts, err := s.tokens(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
		ids = ids[n:]
	}
	return out, nil
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) (auth.Token, error) {
	if _, err := s.w.exec(ctx, `UPDATE aijobs_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, at.UnixMicro(), id); err != nil {
		return auth.Token{}, wrap(err, "revoke token")
	}
	t, _, err := scanToken(s.w.queryRow(ctx, `SELECT `+tokenColumns+` FROM aijobs_tokens t JOIN aijobs_users u ON u.id = t.user_id WHERE t.id = ?`, id))
	return t, wrap(err, "read revoked token")
}

// TouchTokens implements auth.Store.
func (s *Store) TouchTokens(ctx context.Context, ids []string, at, before time.Time) error {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return wrap(err, "begin touch tokens")
	}
	defer tx.rollback()
	q := `UPDATE aijobs_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`
	for _, id := range ids {
		if _, err := tx.exec(ctx, q, at.UnixMicro(), id, before.UnixMicro()); err != nil {
			return wrap(err, "touch token")
		}
	}
	return wrap(tx.commit(), "commit touch tokens")
}
