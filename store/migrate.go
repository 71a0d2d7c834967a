package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate runs first (River's own migrations), then applies every embedded
// migration not applied yet, each in its own transaction, all under a lock
// that serialises processes migrating at once. Shipped migrations are never
// edited; a change is a new file.
func (s *Store) Migrate(ctx context.Context, first func(context.Context) error) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	unlock, err := s.d.lockMigrations(ctx, s)
	if err != nil {
		return wrap(err, "lock migrations")
	}
	defer unlock()
	if first != nil {
		if err := first(ctx); err != nil {
			return err
		}
	}
	if _, err := s.w.exec(ctx, `CREATE TABLE IF NOT EXISTS aijobs_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return wrap(err, "create migrations table")
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.w.begin(ctx, txOptions{})
	if err != nil {
		return wrap(err, "begin migration "+m.name)
	}
	defer tx.rollback()
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM aijobs_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return wrap(err, "check migration "+m.name)
	}
	if n > 0 {
		return nil
	}
	// Through the same runner as every query: on PostgreSQL a "?" would be
	// rebound, so migrations have none.
	for _, stmt := range strings.Split(m.sql, ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := tx.exec(ctx, stmt); err != nil {
			return wrap(err, "apply migration "+m.name)
		}
	}
	if _, err := tx.exec(ctx, `INSERT INTO aijobs_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.version, m.name, time.Now().UnixMicro()); err != nil {
		return wrap(err, "record migration "+m.name)
	}
	return wrap(tx.commit(), "commit migration "+m.name)
}

// SchemaCurrent reports whether every embedded migration has been applied.
func (s *Store) SchemaCurrent(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var v int
	if err := s.r.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM aijobs_migrations`).Scan(&v); err != nil {
		return wrap(err, "read schema version")
	}
	if want := ms[len(ms)-1].version; v < want {
		return fmt.Errorf("schema version %d, want %d: run aijobs migrate", v, want)
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
