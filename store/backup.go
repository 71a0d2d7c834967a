package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrBackupPostgres is Backup's answer on PostgreSQL, whose own tools
// (pg_dump, or the server's base backups) do it better.
var ErrBackupPostgres = errors.New("backup: on PostgreSQL, use pg_dump (or your server's base backups)")

// Backup writes a consistent copy of the SQLite database to path (which
// must not exist) while the service runs: one read transaction (VACUUM
// INTO), so writers go on meanwhile and the copy is compact and complete,
// the write-ahead log included. Restore by stopping aijobs and putting the
// copy in place of aijobs.db (removing aijobs.db-wal and aijobs.db-shm).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.Postgres() {
		return ErrBackupPostgres
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup: %s already exists", path)
	}
	restore := s.calls.unbound() // a big database takes longer than one call's deadline
	defer restore()
	if _, err := s.w.exec(ctx, `VACUUM INTO ?`, path); err != nil {
		return wrap(err, "back up the database into "+path)
	}
	return nil
}
