package store

import (
	"context"
	"time"
)

// The methods in this file keep the leases of worker processes (nodes) and
// find the jobs nothing will finish. A node is alive while its lease has
// not expired; the maintenance leader is the live node that started first.

// RegisterNode writes a new lease for node, which runs workers jobs at
// once, expiring at expires.
func (s *Store) RegisterNode(ctx context.Context, node string, workers int, now, expires time.Time) error {
	_, err := s.w.exec(ctx, `INSERT INTO aijobs_nodes (id, started_at, expires_at, workers) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, node, now.UnixMicro(), expires.UnixMicro(), workers)
	return wrap(err, "register node "+node)
}

// RenewNode extends node's lease to expires. It reports false, changing
// nothing, when the lease had already lapsed or was removed: the node was
// declared dead and its attempts handed to others.
func (s *Store) RenewNode(ctx context.Context, node string, now, expires time.Time) (bool, error) {
	n, err := s.w.exec(ctx, `UPDATE aijobs_nodes SET expires_at = ? WHERE id = ? AND expires_at > ?`,
		expires.UnixMicro(), node, now.UnixMicro())
	return n == 1, wrap(err, "renew lease of node "+node)
}

// RemoveNode deletes node's lease (a node that stops cleanly, or a dead
// one whose attempts were handed back).
func (s *Store) RemoveNode(ctx context.Context, node string) error {
	_, err := s.w.exec(ctx, `DELETE FROM aijobs_nodes WHERE id = ?`, node)
	return wrap(err, "remove node "+node)
}

// Nodes reads every lease, the oldest node first: live says which have not
// expired at now.
func (s *Store) Nodes(ctx context.Context, now time.Time) (live, lapsed []string, err error) {
	rows, err := s.query(ctx, `SELECT id, expires_at FROM aijobs_nodes ORDER BY started_at, id`)
	if err != nil {
		return nil, nil, wrap(err, "read node leases")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			expires int64
		)
		if err := rows.Scan(&id, &expires); err != nil {
			return nil, nil, wrap(err, "read node leases")
		}
		if expires > now.UnixMicro() {
			live = append(live, id)
		} else {
			lapsed = append(lapsed, id)
		}
	}
	return live, lapsed, wrap(rows.Err(), "read node leases")
}

// Orphan is an unfinished job that nothing will finish: its River job has
// ended or is gone, and no live node runs it.
type Orphan struct {
	JobID   string
	Attempt int
	// RiverState is the River job's state, "" when it is gone.
	RiverState string
}

// Orphans finds up to limit orphans at now. It reads River's job table:
// the one place aijobs looks behind River's API, because the question
// joins both sides.
func (s *Store) Orphans(ctx context.Context, now time.Time, limit int) ([]Orphan, error) {
	rows, err := s.query(ctx, `SELECT j.id, j.attempt, COALESCE(CAST(r.state AS TEXT), '') FROM aijobs_jobs j LEFT JOIN river_job r ON r.id = j.river_id
		WHERE j.finished_at IS NULL AND j.river_id IS NOT NULL
		AND (r.id IS NULL OR r.state IN ('completed', 'discarded', 'cancelled'))
		AND (j.node IS NULL OR NOT EXISTS (SELECT 1 FROM aijobs_nodes n WHERE n.id = j.node AND n.expires_at > ?))
		ORDER BY j.created_at LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, wrap(err, "find orphaned jobs")
	}
	defer rows.Close()
	var out []Orphan
	for rows.Next() {
		var o Orphan
		if err := rows.Scan(&o.JobID, &o.Attempt, &o.RiverState); err != nil {
			return nil, wrap(err, "find orphaned jobs")
		}
		out = append(out, o)
	}
	return out, wrap(rows.Err(), "find orphaned jobs")
}
