// Package jobstest gives tests a jobs.Service on a fresh, real store: a
// SQLite file in a temporary directory or a new schema in the test
// PostgreSQL.
package jobstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
)

// Store opens a fresh store on db ("sqlite" or "postgres") and migrates
// it. first runs before aijobs' migrations (River's, for a test that runs
// the queue); with nil there is no queue: a submit enqueues nothing and
// the test drives the attempts itself.
func Store(t testing.TB, db string, first func(context.Context, *store.Store) error) *store.Store {
	t.Helper()
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "aijobs.db")
	if db == "postgres" {
		url = PostgresURL(t)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	var migrateFirst func(context.Context) error
	if first != nil {
		migrateFirst = func(ctx context.Context) error { return first(ctx, st) }
	}
	if err := st.Migrate(ctx, migrateFirst); err != nil {
		t.Fatalf("migrate the test store: %v", err)
	}
	if first == nil {
		st.SetEnqueuer(func(context.Context, store.Tx, string) (int64, error) { return 0, nil })
	}
	return st
}

// Service returns a Service on st with a fixed test key and an in-process
// hub.
func Service(t testing.TB, st *store.Store, cfg jobs.Config) *jobs.Service {
	t.Helper()
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return jobs.NewService(st, hub.New(0), keys, cfg)
}

// PostgresURL returns the URL of a new, empty schema in the test
// PostgreSQL (AIJOBS_TEST_POSTGRES, default the machine's), dropped when
// the test ends. Without a PostgreSQL the test is skipped, or fails under
// CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("AIJOBS_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := sql.Open("pgx", base)
	if err == nil {
		err = conn.Ping()
	}
	if err != nil {
		if conn != nil {
			conn.Close() // its connection opener would outlive the test
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", base, err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v): install and start PostgreSQL, or set AIJOBS_TEST_POSTGRES", base, err)
	}
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec("DROP SCHEMA " + schema + " CASCADE")
		conn.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
