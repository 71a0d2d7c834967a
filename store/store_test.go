package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for raw connections

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// pgURL is the PostgreSQL the tests use; AIJOBS_TEST_POSTGRES overrides it.
func pgURL() string {
	if v := os.Getenv("AIJOBS_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// needPostgres skips the test without a PostgreSQL, except under CI=true
// where it fails.
func needPostgres(t *testing.T) {
	t.Helper()
	db, err := sql.Open("pgx", pgURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", pgURL(), err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v)", pgURL(), err)
	}
}

// withDatabase returns pgURL pointed at another database.
func withDatabase(t *testing.T, name string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(pgURL())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(pgURL(), "/"+cfg.Database+"?", "/"+name+"?", 1)
}

// newDB creates a throwaway PostgreSQL database, dropped when the test ends.
func newDB(t *testing.T) (url, name string) {
	t.Helper()
	needPostgres(t)
	name = "t_" + strings.ToLower(rand.Text()[:12])
	admin := rawPG(t, pgURL())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return withDatabase(t, name), name
}

func rawPG(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawSQLite(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStore opens and migrates a store ("" for SQLite in a temporary
// directory).
func openStore(t *testing.T, url string) *Store {
	t.Helper()
	if url == "" {
		url = "sqlite:" + filepath.Join(t.TempDir(), "aijobs.db")
	}
	ctx := context.Background()
	st, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

// sqliteErrors produces real errors from SQLite.
func sqliteErrors(t *testing.T) map[string]error {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db := rawSQLite(t, "file:"+path+"?_pragma=journal_mode(WAL)")
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, u TEXT UNIQUE, n TEXT NOT NULL)`,
		`INSERT INTO t (id, u, n) VALUES (1, 'a', 'x')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	errs := map[string]error{}
	_, errs["unique"] = db.Exec(`INSERT INTO t (id, u, n) VALUES (2, 'a', 'x')`)
	_, errs["primary key"] = db.Exec(`INSERT INTO t (id, u, n) VALUES (1, 'b', 'x')`)
	_, errs["not null"] = db.Exec(`INSERT INTO t (id, u) VALUES (3, 'c')`)
	_, errs["syntax"] = db.Exec(`SELEKT 1`)

	// SQLITE_FULL: the file may not grow past its current size.
	if _, err := db.Exec(`PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000 && errs["full"] == nil; i++ {
		_, errs["full"] = db.Exec(`INSERT INTO t (u, n) VALUES (?, ?)`, fmt.Sprint("row ", i), strings.Repeat("x", 1000))
	}
	db.Exec(`PRAGMA max_page_count = 1073741823`)

	// SQLITE_BUSY: another connection holds the write lock, this one does
	// not wait.
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	other := rawSQLite(t, "file:"+path+"?_pragma=busy_timeout(0)")
	_, errs["busy"] = other.Exec(`INSERT INTO t (u, n) VALUES ('busy', 'x')`)
	holder.ExecContext(ctx, `ROLLBACK`)
	holder.Close()

	_, errs["read-only"] = rawSQLite(t, "file:"+path+"?mode=ro").Exec(`INSERT INTO t (u, n) VALUES ('ro', 'x')`)
	errs["cannot open"] = rawSQLite(t, "file:"+filepath.Join(dir, "missing", "x.db")+"?mode=ro").Ping()
	return errs
}

func TestClassifySQLite(t *testing.T) {
	t.Parallel()
	errs := sqliteErrors(t)
	for _, c := range []struct {
		name   string
		want   outage
		unique bool
	}{
		{"unique", noOutage, true},
		{"primary key", noOutage, true},
		{"not null", noOutage, false},
		{"syntax", noOutage, false},
		{"full", diskFull, false},
		{"busy", busy, false},
		{"read-only", readOnly, false},
		{"cannot open", gone, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := errs[c.name]
			if err == nil {
				t.Fatal("SQLite returned no error")
			}
			wrapped := fmt.Errorf("doing something: %w", err)
			if got := classify(wrapped); got != c.want {
				t.Errorf("classify(%v) = %v, want %v", err, got, c.want)
			}
			if got := sqliteUniqueViolation(wrapped); got != c.unique {
				t.Errorf("uniqueViolation(%v) = %v, want %v", err, got, c.unique)
			}
			if got := errors.Is(wrap(err, "doing something"), jobs.ErrUnavailable); got != (c.want != noOutage) {
				t.Errorf("wrap(%v) is ErrUnavailable: %v", err, got)
			}
		})
	}
}

func TestClassifyGeneric(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want outage
	}{
		{"caller cancelled", fmt.Errorf("read job: %w", context.Canceled), noOutage},
		{"caller cancelled, driver error inside", fmt.Errorf("%w: %w", context.Canceled, &pgconn.PgError{Code: "57014"}), noOutage},
		{"caller deadline", context.DeadlineExceeded, timedOut},
		{"store deadline", &deadlineError{timeout: time.Second, err: errors.New("x")}, timedOut},
		{"no rows", sql.ErrNoRows, noOutage},
		{"connection done", sql.ErrConnDone, unreachable},
		// SQLSTATEs a test cannot easily make a real server send.
		{"disk full", &pgconn.PgError{Code: "53100"}, diskFull},
		{"too many connections", &pgconn.PgError{Code: "53300"}, noConns},
		{"out of memory", &pgconn.PgError{Code: "53200"}, noResources},
		{"connection failure", &pgconn.PgError{Code: "08006"}, unreachable},
		{"database dropped", &pgconn.PgError{Code: "57P04"}, gone},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, shutdown},
		{"io error", &pgconn.PgError{Code: "58030"}, ioError},
		{"standby", &pgconn.PgError{Code: "25006"}, readOnly},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, busy},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, noOutage},
		{"bad encoding", &pgconn.PgError{Code: "22021"}, noOutage},
		{"unique", &pgconn.PgError{Code: "23505"}, noOutage},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.err); got != c.want {
				t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// TestClassifyPostgres classifies errors from a real PostgreSQL.
func TestClassifyPostgres(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	ctx := context.Background()
	db := rawPG(t, pgURL())
	errs := map[string]error{}
	_, errs["nul byte"] = db.Exec(`SELECT $1::text`, "a\x00b")
	_, errs["invalid utf-8"] = db.Exec(`SELECT $1::text`, "a\xffb")
	_, errs["syntax"] = db.Exec(`SELEKT 1`)
	errs["missing database"] = rawPG(t, withDatabase(t, "no_such_db_"+strings.ToLower(rand.Text()[:8]))).Ping()
	errs["connection refused"] = rawPG(t, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2").Ping()

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, errs["statement timeout"] = conn.ExecContext(ctx, `SET statement_timeout = 50; SELECT pg_sleep(2)`)
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, errs["terminated"] = conn.ExecContext(ctx, `SELECT 1`)

	for _, c := range []struct {
		name string
		want []outage // any of
	}{
		{"nul byte", []outage{noOutage}},
		{"invalid utf-8", []outage{noOutage}},
		{"syntax", []outage{noOutage}},
		{"missing database", []outage{gone}},
		{"connection refused", []outage{unreachable}},
		{"statement timeout", []outage{timedOut}},
		// The server says 57P01 if the client reads the goodbye, else
		// the connection is just gone.
		{"terminated", []outage{shutdown, unreachable}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := errs[c.name]
			if err == nil {
				t.Fatal("PostgreSQL returned no error")
			}
			got := classify(fmt.Errorf("x: %w", err))
			for _, w := range c.want {
				if got == w {
					return
				}
			}
			t.Errorf("classify(%v) = %v, want one of %v", err, got, c.want)
		})
	}
}

func TestUniqueViolationPostgres(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	db := rawPG(t, pgURL())
	_, err := db.Exec(`CREATE TEMP TABLE u (x int PRIMARY KEY); INSERT INTO u VALUES (1), (1)`)
	if !pgUniqueViolation(fmt.Errorf("x: %w", err)) || classify(err) != noOutage {
		t.Errorf("duplicate key: unique %v, outage %v (%v)", pgUniqueViolation(err), classify(err), err)
	}
	if _, err := db.Exec(`SELECT 1/0`); pgUniqueViolation(err) {
		t.Errorf("division by zero is a unique violation: %v", err)
	}
}

// TestCallDeadline: a store call that the database does not answer within
// the store's deadline is ErrUnavailable, quickly; the caller's own
// cancellation is context.Canceled, not ErrUnavailable.
func TestCallDeadline(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			var (
				st   *Store
				hold func() (release func())
			)
			if db == "sqlite" {
				dir := t.TempDir()
				st = openStore(t, "sqlite:"+filepath.Join(dir, "aijobs.db"))
				// Another process's writer holds the lock; SQLite's busy
				// timeout (10 s) is longer than the deadline.
				other := rawSQLite(t, "file:"+filepath.Join(dir, "aijobs.db"))
				hold = func() func() {
					c, err := other.Conn(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if _, err := c.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
						t.Fatal(err)
					}
					return func() { c.ExecContext(context.Background(), `ROLLBACK`); c.Close() }
				}
			} else {
				url, _ := newDB(t)
				st = openStore(t, url)
				other := rawPG(t, url)
				// Another session locks the users table.
				hold = func() func() {
					tx, err := other.Begin()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := tx.Exec(`LOCK TABLE aijobs_users IN ACCESS EXCLUSIVE MODE`); err != nil {
						t.Fatal(err)
					}
					return func() { tx.Rollback() }
				}
			}
			st.calls.timeout.Store(int64(300 * time.Millisecond))
			ctx := context.Background()
			if _, _, err := st.EnsureUser(ctx, "before", 5); err != nil {
				t.Fatal(err)
			}
			if err := st.CheckWrites(ctx); err != nil {
				t.Fatalf("writes check before: %v", err)
			}
			release := hold()
			start := time.Now()
			_, _, err := st.EnsureUser(ctx, "during", 5)
			if el := time.Since(start); !errors.Is(err, jobs.ErrUnavailable) || el > 3*time.Second {
				t.Fatalf("write past the deadline: %v after %v, want ErrUnavailable after ~300ms", err, el)
			}
			err = st.CheckWrites(ctx)
			if p := jobs.ProblemOf(err); p == nil || !strings.Contains(p.Message, "did not answer in time") {
				t.Errorf("writes check after a write past its deadline: %v", err)
			}

			// The caller gives up first: its cancellation, not an outage.
			st.calls.timeout.Store(int64(5 * time.Second))
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(100*time.Millisecond, cancel)
			_, _, err = st.EnsureUser(cctx, "cancelled", 5)
			if !errors.Is(err, context.Canceled) || errors.Is(err, jobs.ErrUnavailable) {
				t.Errorf("cancelled by the caller: %v, want context.Canceled and not ErrUnavailable", err)
			}
			release()

			if _, _, err := st.EnsureUser(ctx, "after", 5); err != nil {
				t.Fatalf("write after the lock is gone: %v", err)
			}
			if err := st.CheckWrites(ctx); err != nil {
				t.Errorf("writes check after a successful write: %v", err)
			}
		})
	}
}

// TestDiskFull: SQLite's "database or disk is full" is ErrUnavailable and
// fails the writes check, which passes again once a write succeeds.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	ctx := context.Background()
	var pages int
	if err := st.sqlW.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer has one connection: the limit stays on it.
	if _, err := st.sqlW.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		_, _, err = st.EnsureUser(ctx, fmt.Sprintf("user %d %s", i, strings.Repeat("x", 500)), 5)
	}
	if !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("write to a full database: %v, want ErrUnavailable", err)
	}
	err = st.CheckWrites(ctx)
	p := jobs.ProblemOf(err)
	if p == nil || p.Message != "writes to the database are failing: the database's disk is full" {
		t.Fatalf("writes check on a full database: %v", err)
	}
	if err := st.CheckDatabase(ctx); err != nil {
		t.Errorf("database check on a full database (reads work): %v", err)
	}
	if _, err := st.sqlW.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.EnsureUser(ctx, "room again", 5); err != nil {
		t.Fatalf("write after space is back: %v", err)
	}
	if err := st.CheckWrites(ctx); err != nil {
		t.Errorf("writes check after a write succeeded: %v", err)
	}
}

func TestCheckPool(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	ctx := context.Background()
	if err := st.CheckPool(ctx); err != nil {
		t.Fatalf("idle pool: %v", err)
	}
	// The SQLite writer has one connection: take it.
	c, err := st.sqlW.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = st.CheckPool(ctx)
	if p := jobs.ProblemOf(err); p == nil || p.Message != "every connection to the database is in use" || time.Since(start) > 3*time.Second {
		t.Errorf("saturated pool: %v after %v", err, time.Since(start))
	}
	c.Close()
	if err := st.CheckPool(ctx); err != nil {
		t.Errorf("pool after release: %v", err)
	}
}

func TestCheckDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		if err := openStore(t, "").CheckDatabase(ctx); err != nil {
			t.Errorf("fresh store: %v", err)
		}
		st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "aijobs.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		err = st.CheckDatabase(ctx)
		if p := jobs.ProblemOf(err); p == nil || !strings.Contains(p.Message, "schema is not current") {
			t.Errorf("store not migrated: %v", err)
		}
	})
	t.Run("postgres dropped", func(t *testing.T) {
		t.Parallel()
		url, name := newDB(t)
		st := openStore(t, url)
		if err := st.CheckDatabase(ctx); err != nil {
			t.Fatalf("fresh store: %v", err)
		}
		if _, err := rawPG(t, pgURL()).Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Fatal(err)
		}
		err := st.CheckDatabase(ctx)
		p := jobs.ProblemOf(err)
		if p == nil {
			t.Fatalf("dropped database: %v", err)
		}
		for _, secret := range []string{name, "postgres", "127.0.0.1", "5432"} {
			if strings.Contains(p.Message, secret) {
				t.Errorf("the public message %q names %q", p.Message, secret)
			}
		}
		if _, err := st.Job(ctx, "job_x"); !errors.Is(err, jobs.ErrUnavailable) {
			t.Errorf("read from a dropped database: %v, want ErrUnavailable", err)
		}
		t.Logf("public: %q; log: %v", p.Message, err)
	})
}

// TestEnqueuerTx: the enqueuer gets the submit's own transaction, on SQLite
// as a *sql.Tx and on PostgreSQL as a pgx.Tx: what it writes there commits
// with the job, and a failed enqueue rolls back both.
func TestEnqueuerTx(t *testing.T) {
	forBothStores(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		if err := st.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		u, _, err := st.EnsureUser(ctx, "eve", 100)
		if err != nil {
			t.Fatal(err)
		}
		fail := errors.New("no room in River")
		st.SetEnqueuer(func(ctx context.Context, tx Tx, jobID string) (int64, error) {
			// A row of the enqueuer's own, written with the driver's
			// transaction the way River's insert is.
			q, args := `INSERT INTO aijobs_nodes (id, started_at, expires_at, workers) VALUES (?, 0, 0, 0)`, []any{"node_" + jobID}
			var err error
			switch {
			case st.Postgres() && tx.Pgx() != nil && tx.SQL() == nil:
				_, err = tx.Pgx().Exec(ctx, pgPlaceholders(q), args...)
			case !st.Postgres() && tx.SQL() != nil && tx.Pgx() == nil:
				_, err = tx.SQL().ExecContext(ctx, q, args...)
			default:
				t.Errorf("enqueuer's Tx on postgres=%v: SQL %v, Pgx %v", st.Postgres(), tx.SQL(), tx.Pgx())
			}
			if err == nil && jobID == "job_fail" {
				err = fail
			}
			return 7, err
		})
		now := time.Now().UTC()
		nj := func(id string) jobs.NewJob {
			return jobs.NewJob{Job: jobs.Job{UserID: u.ID, Job: jobtype.Job{ID: id, Status: jobs.StatusQueued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}},
				First: jobs.Event{Event: jobtype.Event{Type: jobs.EventStatus, At: now, Status: jobs.StatusQueued}}, Input: "x", Day: "2026-12-01", Quota: 100}
		}
		if _, _, err := st.Create(ctx, nj("job_ok")); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, _, err := st.Create(ctx, nj("job_fail")); !errors.Is(err, fail) {
			t.Fatalf("create whose enqueue fails: %v, want %v", err, fail)
		}
		live, lapsed, err := st.Nodes(ctx, now)
		if err != nil || len(live) != 0 || fmt.Sprint(lapsed) != "[node_job_ok]" {
			t.Errorf("the enqueuers' rows: %v %v, %v; want only node_job_ok's", live, lapsed, err)
		}
		if _, err := st.Job(ctx, "job_fail"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("the job whose enqueue failed: %v, want ErrNotFound", err)
		}
	})
}

// TestEnqueuerDeadline: on PostgreSQL, where River's insert runs on the pgx
// transaction outside the store's own statements, it has the store's
// deadline too: an insert that hangs fails the submit with ErrUnavailable
// and fails the writes check.
func TestEnqueuerDeadline(t *testing.T) {
	t.Parallel()
	url, _ := newDB(t)
	st := openStore(t, url)
	ctx := context.Background()
	u, _, err := st.EnsureUser(ctx, "hang", 100)
	if err != nil {
		t.Fatal(err)
	}
	st.calls.timeout.Store(int64(300 * time.Millisecond))
	st.SetEnqueuer(func(ctx context.Context, _ Tx, _ string) (int64, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	now := time.Now().UTC()
	start := time.Now()
	_, _, err = st.Create(ctx, jobs.NewJob{Job: jobs.Job{UserID: u.ID, Job: jobtype.Job{ID: "job_hang", Status: jobs.StatusQueued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}},
		First: jobs.Event{Event: jobtype.Event{Type: jobs.EventStatus, At: now, Status: jobs.StatusQueued}}, Input: "x", Day: "2026-12-01", Quota: 100})
	if el := time.Since(start); !errors.Is(err, jobs.ErrUnavailable) || el > 3*time.Second {
		t.Fatalf("submit whose River insert hangs: %v after %v, want ErrUnavailable after ~300ms", err, el)
	}
	if p := jobs.ProblemOf(st.CheckWrites(ctx)); p == nil || !strings.Contains(p.Message, "did not answer in time") {
		t.Errorf("writes check after a River insert past its deadline: %v", p)
	}
}
