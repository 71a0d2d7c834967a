package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// The methods in this file keep webhooks: users' signing secrets and
// default webhooks, and the deliveries with their tries. A delivery row
// and its River job are written in the transaction of the event they
// deliver (appendEvent), so an event that is committed is delivered.

// SetDeliveryEnqueuer sets the function that inserts the River job of a new
// webhook delivery inside the transaction of its event.
func (s *Store) SetDeliveryEnqueuer(f func(ctx context.Context, tx Tx, deliveryID string) error) {
	s.enqueueDelivery = f
}

func encodeWebhook(w *jobs.Webhook) (any, error) {
	if w == nil {
		return nil, nil
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode webhook: %w", err)
	}
	return string(b), nil
}

// jobWebhook is the webhook of a job being created: its own or its user's
// default. It needs the user's secret.
func (s *Store) jobWebhook(ctx context.Context, tx txn, nj jobs.NewJob) (*jobs.Webhook, error) {
	if nj.Webhook == nil && !nj.DefaultWebhook {
		return nil, nil
	}
	var (
		def       sql.NullString
		hasSecret int
	)
	err := tx.queryRow(ctx, `SELECT webhook, CASE WHEN webhook_secret IS NULL THEN 0 ELSE 1 END FROM aijobs_users WHERE id = ?`,
		nj.Job.UserID).Scan(&def, &hasSecret)
	if err != nil {
		return nil, fmt.Errorf("read user webhook: %w", err)
	}
	w := nj.Webhook
	if w == nil && def.Valid {
		w = new(jobs.Webhook)
		if err := json.Unmarshal([]byte(def.String), w); err != nil {
			return nil, fmt.Errorf("decode default webhook: %w", err)
		}
	}
	if w != nil && hasSecret == 0 {
		return nil, jobs.ErrWebhookSecret
	}
	return w, nil
}

// addDelivery queues the delivery of ev when j's webhook wants it: a
// delivery row carrying the snapshot, and its River job, in tx. Progress is
// coalesced to one delivery per jobs.ProgressEvery.
func (s *Store) addDelivery(ctx context.Context, tx txn, j jobs.Job, ev jobs.Event) error {
	event, ok := j.Webhook.Wants(ev.Type)
	if !ok {
		return nil
	}
	if s.enqueueDelivery == nil {
		return fmt.Errorf("no delivery queue configured")
	}
	at := ev.At.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	if event == jobs.EventProgress {
		var last sql.NullInt64
		err := tx.queryRow(ctx, `SELECT MAX(created_at) FROM aijobs_deliveries WHERE job_id = ? AND event = ?`, j.ID, string(event)).Scan(&last)
		if err != nil {
			return fmt.Errorf("last progress delivery: %w", err)
		}
		if last.Valid && at.Sub(fromMicros(last.Int64)) < jobs.ProgressEvery {
			return nil
		}
	}
	body, err := json.Marshal(asStored(j))
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	id := "msg_" + strings.ToLower(rand.Text())
	_, err = tx.exec(ctx, `INSERT INTO aijobs_deliveries (id, job_id, seq, user_id, event, url, body, state, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, j.ID, j.Seq, j.UserID, string(event), j.Webhook.URL, string(body), string(jobs.DeliveryPending), at.UnixMicro(), at.UnixMicro())
	if err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return tx.river(ctx, func(ctx context.Context) error { return s.enqueueDelivery(ctx, tx, id) })
}

// asStored is j with its times as the store keeps them (microseconds), so
// that a delivered snapshot is the one the API reads back.
func asStored(j jobs.Job) jobs.Job {
	us := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := fromMicros(t.UnixMicro())
		return &v
	}
	j.CreatedAt, j.ExpiresAt = fromMicros(j.CreatedAt.UnixMicro()), fromMicros(j.ExpiresAt.UnixMicro())
	j.StartedAt, j.FinishedAt, j.RetryAt = us(j.StartedAt), us(j.FinishedAt), us(j.RetryAt)
	return j
}

// deliveryColumns are read from aijobs_deliveries d; tries counts the tries
// started.
const deliveryColumns = `d.id, d.job_id, d.seq, d.user_id, d.event, d.url, d.body, d.state,
	(SELECT COUNT(*) FROM aijobs_delivery_attempts a WHERE a.delivery_id = d.id), d.status_code, d.error, d.created_at, d.next_attempt_at, d.finished_at`

func scanDelivery(row scanner, extra ...any) (jobs.Delivery, error) {
	var (
		d                  jobs.Delivery
		event, state, body string
		code               sql.NullInt64
		errText            sql.NullString
		created            int64
		next, finished     sql.NullInt64
	)
	err := row.Scan(append([]any{&d.ID, &d.JobID, &d.Seq, &d.UserID, &event, &d.URL, &body, &state, &d.Tries, &code, &errText, &created, &next, &finished}, extra...)...)
	if err != nil {
		return d, err
	}
	d.Event, d.State, d.Body = jobs.EventType(event), jobs.DeliveryState(state), []byte(body)
	d.StatusCode, d.Error = int(code.Int64), errText.String
	d.CreatedAt, d.NextAttemptAt, d.FinishedAt = fromMicros(created), fromNullMicros(next), fromNullMicros(finished)
	return d, nil
}

// Delivery reads one delivery (without its tries) with what its worker
// needs, in one query: the user's sealed secret (Secret) and when an
// earlier pending delivery of the same job is due (WaitFor) — deliveries of
// one job go in event order.
func (s *Store) Delivery(ctx context.Context, id string) (jobs.Delivery, error) {
	var (
		sealed  sql.NullString
		waitFor sql.NullInt64
	)
	d, err := scanDelivery(s.queryRow(ctx, `SELECT `+deliveryColumns+`, u.webhook_secret,
		(SELECT MIN(e.next_attempt_at) FROM aijobs_deliveries e WHERE e.job_id = d.job_id AND e.seq < d.seq AND e.state = ?)
		FROM aijobs_deliveries d JOIN aijobs_users u ON u.id = d.user_id WHERE d.id = ?`, string(jobs.DeliveryPending), id), &sealed, &waitFor)
	if err != nil {
		return d, wrap(err, "read delivery "+id)
	}
	d.WaitFor = fromNullMicros(waitFor)
	if sealed.Valid {
		if d.Secret, err = base64.StdEncoding.DecodeString(sealed.String); err != nil {
			return d, fmt.Errorf("decode webhook secret of user %s: %w", d.UserID, err)
		}
	}
	return d, nil
}

// StartTry records that try n of a delivery starts at.
func (s *Store) StartTry(ctx context.Context, id string, n int, at time.Time) error {
	_, err := s.w.exec(ctx, `INSERT INTO aijobs_delivery_attempts (delivery_id, n, started_at) VALUES (?, ?, ?)
		ON CONFLICT (delivery_id, n) DO UPDATE SET started_at = excluded.started_at`, id, n, at.UnixMicro())
	return wrap(err, "record try of delivery "+id)
}

// FinishTry records how try r.N of a delivery ended, and the delivery's
// new state — unless it has one already that never changes (delivered,
// failed or dead: a second worker of the same delivery, after a rescue,
// does not undo the first one's outcome).
func (s *Store) FinishTry(ctx context.Context, id string, r jobs.TryResult) error {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return wrap(err, "begin try of delivery "+id)
	}
	defer tx.rollback()
	code, errText := nullInt(r.StatusCode), nullString(r.Error)
	if _, err := tx.exec(ctx, `UPDATE aijobs_delivery_attempts SET duration_us = ?, status_code = ?, error = ? WHERE delivery_id = ? AND n = ?`,
		r.Duration.Microseconds(), code, errText, id, r.N); err != nil {
		return wrap(err, "record try of delivery "+id)
	}
	var next, finished any
	if r.State == jobs.DeliveryPending {
		next = r.Next.UnixMicro()
	} else {
		finished = r.At.UnixMicro()
	}
	if _, err := tx.exec(ctx, `UPDATE aijobs_deliveries SET state = ?, status_code = ?, error = ?, next_attempt_at = ?, finished_at = ? WHERE id = ? AND state = ?`,
		string(r.State), code, errText, next, finished, id, string(jobs.DeliveryPending)); err != nil {
		return wrap(err, "record try of delivery "+id)
	}
	return wrap(tx.commit(), "commit try of delivery "+id)
}

// Deliveries reads a job's deliveries, in event order, with their tries.
func (s *Store) Deliveries(ctx context.Context, jobID string) ([]jobs.Delivery, error) {
	rows, err := s.query(ctx, `SELECT `+deliveryColumns+` FROM aijobs_deliveries d WHERE d.job_id = ? ORDER BY d.seq`, jobID)
	if err != nil {
		return nil, wrap(err, "read deliveries")
	}
	var out []jobs.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(err, "read deliveries")
		}
		d.Body, d.Attempts = nil, []jobs.DeliveryAttempt{}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read deliveries")
	}
	rows, err = s.query(ctx, `SELECT a.delivery_id, a.n, a.started_at, a.duration_us, a.status_code, a.error FROM aijobs_delivery_attempts a
		JOIN aijobs_deliveries d ON d.id = a.delivery_id WHERE d.job_id = ? ORDER BY a.delivery_id, a.n`, jobID)
	if err != nil {
		return nil, wrap(err, "read delivery tries")
	}
	defer rows.Close()
	index := make(map[string]int, len(out))
	for i, d := range out {
		index[d.ID] = i
	}
	for rows.Next() {
		var (
			id       string
			a        jobs.DeliveryAttempt
			started  int64
			duration sql.NullInt64
			code     sql.NullInt64
			errText  sql.NullString
		)
		if err := rows.Scan(&id, &a.N, &started, &duration, &code, &errText); err != nil {
			return nil, wrap(err, "read delivery tries")
		}
		a.At, a.StatusCode, a.Error = fromMicros(started), int(code.Int64), errText.String
		if duration.Valid {
			ms := duration.Int64 / 1000
			a.DurationMS = &ms
		}
		if i, ok := index[id]; ok {
			out[i].Attempts = append(out[i].Attempts, a)
		}
	}
	return out, wrap(rows.Err(), "read delivery tries")
}

// WebhookSecret reads a user's sealed webhook secret (nil: none yet).
func (s *Store) WebhookSecret(ctx context.Context, userID string) ([]byte, error) {
	var sealed sql.NullString
	err := s.w.queryRow(ctx, `SELECT webhook_secret FROM aijobs_users WHERE id = ?`, userID).Scan(&sealed)
	if err != nil {
		return nil, wrap(err, "read webhook secret")
	}
	if !sealed.Valid {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(sealed.String)
	if err != nil {
		return nil, fmt.Errorf("decode webhook secret of user %s: %w", userID, err)
	}
	return b, nil
}

// SetWebhookSecret stores a user's sealed webhook secret, replacing the
// one before.
func (s *Store) SetWebhookSecret(ctx context.Context, userID string, sealed []byte) error {
	return wrap(affectedOne(s.w.exec(ctx, `UPDATE aijobs_users SET webhook_secret = ? WHERE id = ?`, base64.StdEncoding.EncodeToString(sealed), userID)),
		"store webhook secret")
}

// SetUserWebhook sets (nil: clears) a user's default webhook, used by the
// submits that name none.
func (s *Store) SetUserWebhook(ctx context.Context, userID string, w *jobs.Webhook) error {
	v, err := encodeWebhook(w)
	if err != nil {
		return err
	}
	return wrap(affectedOne(s.w.exec(ctx, `UPDATE aijobs_users SET webhook = ? WHERE id = ?`, v, userID)), "store default webhook")
}

// UserWebhook reads a user's default webhook (nil: none).
func (s *Store) UserWebhook(ctx context.Context, userID string) (*jobs.Webhook, error) {
	var v sql.NullString
	if err := s.queryRow(ctx, `SELECT webhook FROM aijobs_users WHERE id = ?`, userID).Scan(&v); err != nil {
		return nil, wrap(err, "read default webhook")
	}
	if !v.Valid {
		return nil, nil
	}
	w := new(jobs.Webhook)
	return w, json.Unmarshal([]byte(v.String), w)
}

// affectedOne turns an update that touched no row (n) into sql.ErrNoRows.
func affectedOne(n int64, err error) error {
	if err == nil && n == 0 {
		return sql.ErrNoRows
	}
	return err
}
