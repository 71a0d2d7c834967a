package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// fairUnit is how far one job of a user of weight 1 moves that user's
// virtual clock; a user of weight w moves it fairUnit/w per job.
const fairUnit = 1_000_000

// SetFairShare turns fair share on or off for the jobs this store creates
// (off: every job goes to River at once, first in, first out), and caps
// the jobs of one user in River at once — ready, running or retrying — at
// maxPerUser (0: no cap; only with fair share on). A user at the cap waits
// while others' jobs run, so no worker idles for it.
func (s *Store) SetFairShare(on bool, maxPerUser int) { s.fair, s.maxPerUser = on, maxPerUser }

// inRiver is the query that counts the jobs of user (a placeholder or a
// column of an outer query) in River now: dispatched and unfinished.
func inRiver(user string) string {
	return `SELECT COUNT(*) FROM aijobs_jobs WHERE user_id = ` + user + ` AND river_id IS NOT NULL AND finished_at IS NULL`
}

// place puts a new job of userID in the queue, in tx: straight to River
// when nothing waits and River holds fewer ready jobs than the live nodes
// run at once (the uncontended path, as without fair share); otherwise it
// waits with a tag in its user's virtual clock — start-time fair queuing:
// the tag is the later of the user's clock and the head of the waiting
// jobs, so a user with nothing queued goes to the front, and one with a
// backlog takes its turn after the others'. It returns the River job id,
// or 0 and the tag of a waiting job.
func (s *Store) place(ctx context.Context, tx txn, jobID, userID string, now time.Time) (riverID, tag int64, err error) {
	if !s.fair {
		riverID, err = s.enqueueJob(ctx, tx, jobID)
		return riverID, 0, err
	}
	var head sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT MIN(fair_tag) FROM aijobs_jobs WHERE river_id IS NULL AND finished_at IS NULL`).Scan(&head); err != nil {
		return 0, 0, wrap(err, "read the head of the waiting jobs")
	}
	capped := false
	if s.maxPerUser > 0 {
		var n int
		if err := tx.queryRow(ctx, inRiver("?"), userID).Scan(&n); err != nil {
			return 0, 0, wrap(err, "count the jobs of user "+userID)
		}
		capped = n >= s.maxPerUser
	}
	if !head.Valid && !capped {
		room, err := s.room(ctx, tx, now)
		if err != nil {
			return 0, 0, err
		}
		if room > 0 {
			riverID, err = s.enqueueJob(ctx, tx, jobID)
			return riverID, 0, err
		}
		// Nothing waits: the clocks of users who were served meet here.
		// Tags start at fairUnit, so no waiting job has tag 0 (NULL).
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(finish_tag), ?) FROM aijobs_fair`, fairUnit).Scan(&head.Int64); err != nil {
			return 0, 0, wrap(err, "read the fair clocks")
		}
	}
	var weight int64
	if err := tx.queryRow(ctx, `SELECT weight FROM aijobs_users WHERE id = ?`, userID).Scan(&weight); err != nil {
		return 0, 0, wrap(err, "read the weight of user "+userID)
	}
	step := int64(fairUnit) / max(weight, 1)
	// One statement moves the user's clock: finish = max(finish, head) + step.
	var finish int64
	err = tx.queryRow(ctx, `INSERT INTO aijobs_fair (user_id, finish_tag) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET finish_tag = CASE WHEN aijobs_fair.finish_tag > excluded.finish_tag - ?
			THEN aijobs_fair.finish_tag + ? ELSE excluded.finish_tag END
		RETURNING finish_tag`, userID, head.Int64+step, step, step).Scan(&finish)
	if err != nil {
		return 0, 0, wrap(err, "move the fair clock of user "+userID)
	}
	return 0, finish - step, nil
}

// room is how many more jobs River may hold ready: what the live nodes run
// at once, less the jobs River has ready (available) now.
func (s *Store) room(ctx context.Context, q runner, now time.Time) (int, error) {
	var capacity, ready int
	err := q.queryRow(ctx, `SELECT
		(SELECT COALESCE(SUM(workers), 0) FROM aijobs_nodes WHERE expires_at > ?),
		(SELECT COUNT(*) FROM river_job WHERE state = 'available' AND queue = 'default')`, now.UnixMicro()).Scan(&capacity, &ready)
	if err != nil {
		return 0, wrap(err, "read the queue's room")
	}
	return capacity - ready, nil
}

// Dispatch moves waiting jobs to River, in tag order — at most limit, and
// no more than River has room for — and says how many it moved. Every
// worker process runs it whenever its workers may have freed up.
func (s *Store) Dispatch(ctx context.Context, now time.Time, limit int) (int, error) {
	// Reads first: most of the time nothing waits or River has no room,
	// and the write transaction (on SQLite, the database's one writer) is
	// not needed.
	var waiting int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM aijobs_jobs WHERE river_id IS NULL AND finished_at IS NULL LIMIT 1) w`).Scan(&waiting)
	if err != nil || waiting == 0 {
		return 0, wrap(err, "look for waiting jobs")
	}
	if room, err := s.room(ctx, s.r, now); err != nil || room <= 0 {
		return 0, err
	}
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return 0, wrap(err, "begin dispatch")
	}
	defer tx.rollback()
	room, err := s.room(ctx, tx, now)
	if room = min(room, limit); err != nil || room <= 0 {
		return 0, err
	}
	// With a cap, a user's jobs in River come along (0 without one), and
	// users at the cap are passed over.
	q, args := `SELECT id, user_id, 0 FROM aijobs_jobs j WHERE river_id IS NULL AND finished_at IS NULL
		ORDER BY fair_tag, created_at, id LIMIT ?`, []any{room}
	if s.maxPerUser > 0 {
		q = `SELECT id, user_id, n FROM (SELECT j.id, j.user_id, j.fair_tag, j.created_at,
			(` + inRiver("j.user_id") + `) AS n
			FROM aijobs_jobs j WHERE j.river_id IS NULL AND j.finished_at IS NULL) w
		WHERE n < ? ORDER BY fair_tag, created_at, id LIMIT ?`
		args = []any{s.maxPerUser, room}
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return 0, wrap(err, "read waiting jobs")
	}
	var ids []string
	taken := map[string]int{} // jobs of each user in River, this batch's counted
	for rows.Next() {
		var id, user string
		var n int
		if err := rows.Scan(&id, &user, &n); err != nil {
			rows.Close()
			return 0, wrap(err, "read waiting jobs")
		}
		if _, ok := taken[user]; !ok {
			taken[user] = n
		}
		if s.maxPerUser > 0 && taken[user] >= s.maxPerUser {
			continue
		}
		taken[user]++
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, wrap(err, "read waiting jobs")
	}
	moved := 0
	for _, id := range ids {
		// Claim the job first: a job cancelled meanwhile, or claimed by a
		// dispatcher on another node, is left alone.
		n, err := tx.exec(ctx, `UPDATE aijobs_jobs SET river_id = 0 WHERE id = ? AND river_id IS NULL AND finished_at IS NULL`, id)
		if err != nil {
			return 0, wrap(err, "claim job "+id)
		}
		if n == 0 {
			continue
		}
		riverID, err := s.enqueueJob(ctx, tx, id)
		if err != nil {
			return 0, fmt.Errorf("dispatch job %s: %w", id, err)
		}
		if _, err := tx.exec(ctx, `UPDATE aijobs_jobs SET river_id = ? WHERE id = ?`, riverID, id); err != nil {
			return 0, wrap(err, "dispatch job "+id)
		}
		moved++
	}
	return moved, wrap(tx.commit(), "commit dispatch")
}
