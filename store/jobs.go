package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

var _ jobs.Store = (*Store)(nil)

const jobColumns = `id, user_id, status, progress, seq, intent, attempt, user_key, result, error_code, error_message,
	retry_at, tokens_in, tokens_out, created_at, started_at, finished_at, expires_at, node, webhook, reason, waiting_since`

// scanner is a row to scan: a query's one row or rows' current one.
type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (jobs.Job, error) {
	var (
		j                          jobs.Job
		status, intent             string
		userKey                    int
		result, errCode, errMsg    sql.NullString
		node, webhook, reason      sql.NullString
		retryAt, started, finished sql.NullInt64
		waitingSince               sql.NullInt64
		created, expires           int64
	)
	err := row.Scan(&j.ID, &j.UserID, &status, &j.Progress, &j.Seq, &intent, &j.Attempt, &userKey, &result, &errCode, &errMsg,
		&retryAt, &j.TokensIn, &j.TokensOut, &created, &started, &finished, &expires, &node, &webhook, &reason, &waitingSince)
	if err != nil {
		return j, err
	}
	j.Status, j.Intent, j.UserKey, j.Node = jobs.Status(status), jobs.Intent(intent), userKey != 0, node.String
	j.Terminal = j.Status.Terminal()
	if result.Valid {
		j.Result = json.RawMessage(result.String)
	}
	if errCode.Valid {
		j.Error = &jobs.Error{Code: errCode.String, Message: errMsg.String}
	}
	if webhook.Valid {
		j.Webhook = new(jobs.Webhook)
		if err := json.Unmarshal([]byte(webhook.String), j.Webhook); err != nil {
			return j, fmt.Errorf("decode webhook of job %s: %w", j.ID, err)
		}
	}
	j.RetryAt, j.StartedAt, j.FinishedAt = fromNullMicros(retryAt), fromNullMicros(started), fromNullMicros(finished)
	j.Reason, j.WaitingSince = reason.String, fromNullMicros(waitingSince)
	j.CreatedAt, j.ExpiresAt = fromMicros(created), fromMicros(expires)
	return j, nil
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, nj jobs.NewJob) (jobs.Job, *jobs.Event, error) {
	j, first, err := s.create(ctx, nj)
	if err != nil && s.d.uniqueViolation(err) {
		// A concurrent submit with the same request key won the race: this
		// one now finds its job and answers like a retry.
		j, first, err = s.create(ctx, nj)
	}
	return j, first, wrap(err, "create job")
}

func (s *Store) create(ctx context.Context, nj jobs.NewJob) (jobs.Job, *jobs.Event, error) {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return jobs.Job{}, nil, err
	}
	defer tx.rollback()
	if nj.RequestKey != "" {
		var id, hash string
		err := tx.queryRow(ctx, `SELECT id, body_hash FROM aijobs_jobs WHERE user_id = ? AND request_key = ?`, nj.Job.UserID, nj.RequestKey).Scan(&id, &hash)
		switch {
		case err == nil && hash != nj.BodyHash:
			return jobs.Job{}, nil, jobs.ErrIdempotency
		case err == nil:
			j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM aijobs_jobs WHERE id = ?`, id))
			return j, nil, err
		case err != sql.ErrNoRows:
			return jobs.Job{}, nil, err
		}
	}
	j := nj.Job
	var requestKey any
	if nj.RequestKey != "" {
		requestKey = nj.RequestKey
	}
	if j.Webhook, err = s.jobWebhook(ctx, tx, nj); err != nil {
		return jobs.Job{}, nil, err
	}
	webhook, err := encodeWebhook(j.Webhook)
	if err != nil {
		return jobs.Job{}, nil, err
	}
	if s.enqueue == nil {
		return jobs.Job{}, nil, fmt.Errorf("no queue configured")
	}
	riverID, tag, err := s.place(ctx, tx, j.ID, j.UserID, j.CreatedAt)
	if err != nil {
		return jobs.Job{}, nil, fmt.Errorf("enqueue: %w", err)
	}
	first := nj.First
	stamp(&j, &first)
	// The row is written as of its first event, in one statement.
	cols, args := stateColumns(j)
	_, err = tx.exec(ctx, `INSERT INTO aijobs_jobs (id, user_id, input, user_key, request_key, body_hash, created_at, river_id, fair_tag, webhook, `+strings.Join(cols, ", ")+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?`+strings.Repeat(", ?", len(args))+`)`,
		append([]any{j.ID, j.UserID, nj.Input, boolInt(j.UserKey), requestKey, nj.BodyHash, j.CreatedAt.UnixMicro(), nullInt(riverID), nullInt(tag), webhook}, args...)...)
	if err != nil {
		return jobs.Job{}, nil, err
	}
	if nj.SealedKey != nil {
		if _, err := tx.exec(ctx, `INSERT INTO aijobs_sealed_keys (job_id, sealed) VALUES (?, ?)`, j.ID, base64.StdEncoding.EncodeToString(nj.SealedKey)); err != nil {
			return jobs.Job{}, nil, err
		}
	}
	if err := s.record(ctx, tx, j, &first); err != nil {
		return jobs.Job{}, nil, err
	}
	// Last, so that the user's row of the day is locked only for the commit:
	// every submit of the user takes it.
	if err := s.countRequest(ctx, tx, nj); err != nil {
		return jobs.Job{}, nil, err
	}
	return j, &first, tx.commit()
}

// countRequest counts the submit against the user's day and refuses it when
// a server-key request would go over quota.
func (s *Store) countRequest(ctx context.Context, tx txn, nj jobs.NewJob) error {
	if nj.Job.UserKey {
		_, err := tx.exec(ctx, `INSERT INTO aijobs_usage (user_id, day, user_key_requests) VALUES (?, ?, 1)
			ON CONFLICT (user_id, day) DO UPDATE SET user_key_requests = aijobs_usage.user_key_requests + 1`, nj.Job.UserID, nj.Day)
		return err
	}
	// One statement counts the request and enforces the quota: over it, the
	// update's condition fails and no row is touched.
	n, err := tx.exec(ctx, `INSERT INTO aijobs_usage (user_id, day, requests) SELECT ?, ?, 1 WHERE ? > 0
		ON CONFLICT (user_id, day) DO UPDATE SET requests = aijobs_usage.requests + 1 WHERE aijobs_usage.requests < ?`,
		nj.Job.UserID, nj.Day, nj.Quota, nj.Quota)
	if err != nil {
		return err
	}
	if n == 0 {
		return &jobs.Problem{Kind: jobs.KindLimited, Code: jobtype.CodeQuotaExceeded, Message: fmt.Sprintf("daily quota of %d requests used up; use your own key or wait for the reset", nj.Quota), RetryAfter: untilNextDay(time.Now())}
	}
	return nil
}

func untilNextDay(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}

// stamp gives ev, the change just made to j, the job's next seq (record
// gives it its user seq).
func stamp(j *jobs.Job, ev *jobs.Event) {
	j.Seq++
	j.Terminal = j.Status.Terminal()
	ev.JobID, ev.UserID, ev.Seq = j.ID, j.UserID, j.Seq
	ev.Terminal = ev.Type.Terminal()
}

// stateColumns lists the columns of a job that its events change, and
// their values for j.
func stateColumns(j jobs.Job) (cols []string, args []any) {
	var result, errCode, errMsg any
	if j.Result != nil {
		result = string(j.Result)
	}
	if j.Error != nil {
		errCode, errMsg = j.Error.Code, j.Error.Message
	}
	return []string{"status", "progress", "seq", "intent", "attempt", "result", "error_code", "error_message", "retry_at", "tokens_in", "tokens_out",
			"started_at", "finished_at", "expires_at", "node", "reason", "waiting_since"},
		[]any{string(j.Status), j.Progress, j.Seq, string(j.Intent), j.Attempt, result, errCode, errMsg, nullMicros(j.RetryAt),
			j.TokensIn, j.TokensOut, nullMicros(j.StartedAt), nullMicros(j.FinishedAt), j.ExpiresAt.UnixMicro(), nullString(j.Node),
			nullString(j.Reason), nullMicros(j.WaitingSince)}
}

// record writes what follows from event ev of job j, whose row is already
// as of ev: the event itself, at the user's next user seq (set in ev), the
// end of a terminal job's sealed key and the webhook delivery.
func (s *Store) record(ctx context.Context, tx txn, j jobs.Job, ev *jobs.Event) error {
	// The stored data has no user seq: the column is the truth, and it is
	// only known once the row is written.
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	seq, seqArgs := s.d.userSeq(j.UserID)
	args := append(append([]any{j.ID, j.Seq, j.UserID}, seqArgs...), string(ev.Type), string(data))
	if err := tx.queryRow(ctx, `INSERT INTO aijobs_events (job_id, seq, user_id, user_seq, type, data) VALUES (?, ?, ?, `+seq+`, ?, ?) RETURNING user_seq`,
		args...).Scan(&ev.UserSeq); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	if err := s.d.wrote(ctx, tx, j.UserID, ev.UserSeq); err != nil {
		return fmt.Errorf("count the user's event: %w", err)
	}
	if j.Terminal {
		if _, err := tx.exec(ctx, `DELETE FROM aijobs_sealed_keys WHERE job_id = ?`, j.ID); err != nil {
			return fmt.Errorf("delete sealed key: %w", err)
		}
	}
	if err := s.addDelivery(ctx, tx, j, *ev); err != nil {
		return fmt.Errorf("queue webhook delivery: %w", err)
	}
	return nil
}

// Update implements jobs.Store.
func (s *Store) Update(ctx context.Context, id string, fn func(*jobs.Job) (*jobs.Event, error)) (jobs.Job, jobs.Event, error) {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return jobs.Job{}, jobs.Event{}, wrap(err, "begin update of job "+id)
	}
	defer tx.rollback()
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM aijobs_jobs WHERE id = ?`+s.d.forUpdate(), id))
	if err != nil {
		return jobs.Job{}, jobs.Event{}, wrap(err, "read job "+id)
	}
	ev, err := fn(&j)
	if err != nil {
		return j, jobs.Event{}, err
	}
	stamp(&j, ev)
	cols, args := stateColumns(j)
	if _, err := tx.exec(ctx, `UPDATE aijobs_jobs SET `+strings.Join(cols, " = ?, ")+` = ? WHERE id = ?`, append(args, j.ID)...); err != nil {
		return jobs.Job{}, jobs.Event{}, wrap(err, "update job "+id)
	}
	if err := s.record(ctx, tx, j, ev); err != nil {
		return jobs.Job{}, jobs.Event{}, wrap(err, "update job "+id)
	}
	return j, *ev, wrap(tx.commit(), "commit update of job "+id)
}

// Job implements jobs.Store.
func (s *Store) Job(ctx context.Context, id string) (jobs.Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobColumns+` FROM aijobs_jobs WHERE id = ?`, id))
	return j, wrap(err, "read job")
}

// UserJob implements jobs.Store. The owner is part of the query, not
// compared after it: another user's row is never read out, and a miss
// costs the same whether the id exists or not.
func (s *Store) UserJob(ctx context.Context, userID, id string) (jobs.Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobColumns+` FROM aijobs_jobs WHERE id = ? AND user_id = ?`, id, userID))
	return j, wrap(err, "read job")
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, userID string, f jobs.ListFilter) ([]jobs.Job, error) {
	q := `SELECT ` + jobColumns + ` FROM aijobs_jobs WHERE user_id = ?`
	args := []any{userID}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.BeforeID != "" {
		c := f.BeforeCreated.UnixMicro()
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, c, c, f.BeforeID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	return s.queryJobs(ctx, q, args...)
}

func (s *Store) queryJobs(ctx context.Context, q string, args ...any) ([]jobs.Job, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list jobs")
	}
	return scanJobs(rows)
}

func scanJobs(rows rows) ([]jobs.Job, error) {
	defer rows.Close()
	var out []jobs.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, wrap(err, "scan job")
		}
		out = append(out, j)
	}
	return out, wrap(rows.Err(), "list jobs")
}

// Events implements jobs.Store.
func (s *Store) Events(ctx context.Context, jobID string, after int64, limit int) ([]jobs.Event, error) {
	return s.queryEvents(ctx, `SELECT user_id, user_seq, data FROM aijobs_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, after, limit)
}

// UserEvents implements jobs.Store. It hands out only the events no later
// commit can come before (dialect.userSeqVisible).
func (s *Store) UserEvents(ctx context.Context, userID string, after int64, limit int) ([]jobs.Event, error) {
	return s.queryEvents(ctx, `SELECT user_id, user_seq, data FROM aijobs_events WHERE user_id = ? AND user_seq > ?`+s.visible()+` ORDER BY user_seq LIMIT ?`, userID, after, limit)
}

// visible is the condition " AND …" that keeps a read of a user's events to
// those it may hand out (dialect.userSeqVisible), or "".
func (s *Store) visible() string {
	if c := s.d.userSeqVisible(); c != "" {
		return " AND " + c
	}
	return ""
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]jobs.Event, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "read events")
	}
	defer rows.Close()
	var out []jobs.Event
	for rows.Next() {
		var (
			ev   jobs.Event
			data string
		)
		if err := rows.Scan(&ev.UserID, &ev.UserSeq, &data); err != nil {
			return nil, wrap(err, "scan event")
		}
		userID, userSeq := ev.UserID, ev.UserSeq
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		ev.UserID, ev.UserSeq = userID, userSeq
		ev.Terminal = ev.Type.Terminal() // events stored before the field existed
		out = append(out, ev)
	}
	return out, wrap(rows.Err(), "read events")
}

// UserView implements jobs.Store. The reads see one snapshot of the
// database, so the unfinished jobs reflect at least every event up to the
// newest user seq (on PostgreSQL also some after it: see jobs.UserView).
func (s *Store) UserView(ctx context.Context, userID string, limit int) (jobs.UserView, error) {
	var v jobs.UserView
	tx, err := s.r.begin(ctx, s.d.snapshotRead())
	if err != nil {
		return v, wrap(err, "begin user view")
	}
	defer tx.rollback()
	if v.Newest, err = s.d.newestUserSeq(ctx, tx, userID); err != nil {
		return v, wrap(err, "read user's newest event")
	}
	var oldest sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT MIN(user_seq) FROM aijobs_events WHERE user_id = ?`+s.visible(), userID).Scan(&oldest); err != nil {
		return v, wrap(err, "read user's oldest event")
	}
	v.Oldest = v.Newest + 1
	if oldest.Valid {
		v.Oldest = oldest.Int64
	}
	rows, err := tx.query(ctx, `SELECT `+jobColumns+` FROM aijobs_jobs WHERE user_id = ? AND finished_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return v, wrap(err, "read unfinished jobs")
	}
	v.Unfinished, err = scanJobs(rows)
	return v, err
}

// Input implements jobs.Store.
func (s *Store) Input(ctx context.Context, jobID string) (string, []byte, error) {
	var (
		input  string
		sealed sql.NullString
	)
	err := s.queryRow(ctx, `SELECT j.input, k.sealed FROM aijobs_jobs j LEFT JOIN aijobs_sealed_keys k ON k.job_id = j.id WHERE j.id = ?`, jobID).Scan(&input, &sealed)
	if err != nil {
		return "", nil, wrap(err, "read job input")
	}
	if !sealed.Valid {
		return input, nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(sealed.String)
	if err != nil {
		return "", nil, fmt.Errorf("decode sealed key of job %s: %w", jobID, err)
	}
	return input, key, nil
}

// Requests implements jobs.Store.
func (s *Store) Requests(ctx context.Context, userID, day string) (jobs.Usage, error) {
	var u jobs.Usage
	err := s.queryRow(ctx, `SELECT requests, user_key_requests FROM aijobs_usage WHERE user_id = ? AND day = ?`, userID, day).
		Scan(&u.RequestsUsed, &u.UserKeyRequests)
	if err != nil && err != sql.ErrNoRows {
		return u, wrap(err, "read usage")
	}
	return u, nil
}

// Usage implements jobs.Store.
func (s *Store) Usage(ctx context.Context, userID, day string) (jobs.Usage, error) {
	u, err := s.Requests(ctx, userID, day)
	if err != nil {
		return u, err
	}
	start, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return u, fmt.Errorf("usage day %q: %w", day, err)
	}
	err = s.queryRow(ctx, `SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM aijobs_jobs
		WHERE user_id = ? AND created_at >= ? AND created_at < ?`, userID, start.UnixMicro(), start.AddDate(0, 0, 1).UnixMicro()).
		Scan(&u.TokensIn, &u.TokensOut)
	return u, wrap(err, "sum token usage")
}

// DeleteExpired implements jobs.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return 0, wrap(err, "begin cleanup")
	}
	defer tx.rollback()
	sel := `SELECT id FROM aijobs_jobs WHERE finished_at IS NOT NULL AND expires_at < ? ORDER BY expires_at LIMIT ?`
	for _, q := range []string{
		`DELETE FROM aijobs_events WHERE job_id IN (` + sel + `)`,
		`DELETE FROM aijobs_sealed_keys WHERE job_id IN (` + sel + `)`,
		`DELETE FROM aijobs_delivery_attempts WHERE delivery_id IN (SELECT id FROM aijobs_deliveries WHERE job_id IN (` + sel + `))`,
		`DELETE FROM aijobs_deliveries WHERE job_id IN (` + sel + `)`,
	} {
		if _, err := tx.exec(ctx, q, now.UnixMicro(), limit); err != nil {
			return 0, wrap(err, "delete expired events")
		}
	}
	n, err := tx.exec(ctx, `DELETE FROM aijobs_jobs WHERE id IN (`+sel+`)`, now.UnixMicro(), limit)
	if err != nil {
		return 0, wrap(err, "delete expired jobs")
	}
	return int(n), wrap(tx.commit(), "commit cleanup")
}

// nullInt is NULL for 0, else n.
func nullInt[T int | int64](n T) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}
