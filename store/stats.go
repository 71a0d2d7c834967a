package store

import (
	"context"
	"database/sql"

	"github.com/aijobs/aijobs/jobs"
)

// Unfinished counts the jobs of the whole database that are not finished,
// by status (queued, working, retrying): the queue's depth, read through the
// partial index of unfinished jobs.
func (s *Store) Unfinished(ctx context.Context) (map[jobs.Status]int64, error) {
	rows, err := s.query(ctx, `SELECT status, COUNT(*) FROM aijobs_jobs WHERE finished_at IS NULL GROUP BY status`)
	if err != nil {
		return nil, wrap(err, "count unfinished jobs")
	}
	defer rows.Close()
	out := map[jobs.Status]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrap(err, "count unfinished jobs")
		}
		out[jobs.Status(st)] = n
	}
	return out, wrap(rows.Err(), "count unfinished jobs")
}

// ReadDB is SQLite's pool that serves reads, a read-only pool of its own
// beside the one writer (DB); nil on PostgreSQL, where reads go to Pool.
func (s *Store) ReadDB() *sql.DB { return s.sqlR }
