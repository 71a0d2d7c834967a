package e2e

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestStoreFailure: when the store fails under a running server — SQLite's
// disk full, PostgreSQL's database dropped — requests get 503
// store_unavailable with Retry-After (never a 500), /readyz is 503 and names
// the failing check without connection details, and the server recovers
// when the store does.
func TestStoreFailure(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		if db == sqlite {
			testDiskFull(t)
		} else {
			testDatabaseDropped(t)
		}
	})
}

// readyz is /readyz's body.
type readyz struct {
	Status string
	Failed string
	Error  string
	Checks map[string]string
}

func getReadyz(t *testing.T, s *server) (int, readyz, string) {
	t.Helper()
	r := s.client("").do("GET", "/readyz", nil)
	var v readyz
	r.json(t, &v)
	return r.Status, v, string(r.Body)
}

// wantUnavailable checks a 503 store_unavailable with Retry-After.
func wantUnavailable(t *testing.T, r response) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, "store_unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

// mountTmpfs mounts a tmpfs of size at dir until the test ends (after the
// cleanups registered later, such as a server's stop). It skips the test
// where mounting is not allowed, but fails under CI=true.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs (CI runs as root): %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root on Linux): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes path until the file system has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{64 << 10, 4 << 10, 512, 1} {
		b := make([]byte, chunk)
		for {
			if _, err := f.Write(b); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
}

// testDiskFull runs a SQLite server on a small tmpfs and fills it.
func testDiskFull(t *testing.T) {
	dir := t.TempDir()
	mountTmpfs(t, dir, "16m")
	s := &server{t: t, dataDir: filepath.Join(dir, "data"), logs: &syncBuffer{}, args: []string{"--submit-rate", "1000", "--submit-burst", "1000"}}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.logs.String(), 4000))
		}
	})
	a := s.client(s.token("dora", "--daily-quota", "1000000"))
	before := a.waitTerminal(a.submit("What is a good habit?").ID)

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	// Submit until the store says it is full: never a 500 on the way.
	full, i := false, 0
	for ; i < 500 && !full; i++ {
		r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "What is a good name for a dog? " + randText(8)})
		switch r.Status {
		case http.StatusAccepted:
		case http.StatusServiceUnavailable:
			wantUnavailable(t, r)
			full = true
		default:
			t.Fatalf("submit on a full disk: %d %s", r.Status, r.Body)
		}
	}
	if !full {
		t.Fatal("500 submits on a full disk were all accepted")
	}
	t.Logf("the store said full at submit %d", i)
	code, ready, body := getReadyz(t, s)
	if code != 503 || ready.Status != "unavailable" || ready.Failed != "writes" || !strings.Contains(ready.Error, "disk is full") || ready.Checks["database"] != "ok" {
		t.Errorf("/readyz on a full disk: %d %s", code, body)
	}
	if strings.Contains(body, dir) {
		t.Errorf("/readyz names the data directory: %s", body)
	}
	// What was accepted stays readable.
	if got := a.get(before.ID); got.Status != "completed" {
		t.Errorf("job accepted before the disk filled: %s", got.Status)
	}
	if r := a.do("GET", "/api/v1/jobs", nil); r.Status != 200 {
		t.Errorf("list on a full disk: %d %s", r.Status, r.Body)
	}

	// Room again: submits work, /readyz recovers, jobs run.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after := a.submit("What is a good name for a cat?")
	if code, _, body := getReadyz(t, s); code != 200 {
		t.Errorf("/readyz after a successful write: %d %s", code, body)
	}
	if got := a.waitTerminal(after.ID); got.Status != "completed" {
		t.Errorf("job submitted after the disk had room again: %s %+v", got.Status, got.Error)
	}
	if strings.Contains(s.logs.String(), `msg="request failed"`) {
		t.Errorf("a request failed with a 500:\n%s", s.logs.String())
	}
}

// testDatabaseDropped runs a PostgreSQL server on a throwaway database and
// drops it.
func testDatabaseDropped(t *testing.T) {
	base := newDatabaseURL(t, postgres) // skips (or fails under CI) without PostgreSQL
	name := "t_" + strings.ToLower(rand.Text()[:12])
	admin, err := sql.Open("pgx", pgURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if conn, err := sql.Open("pgx", pgURL()); err == nil {
			conn.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			conn.Close()
		}
	})
	cfg, err := pgconn.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := strings.Replace(pgURL(), "/"+cfg.Database+"?", "/"+name+"?", 1)
	s := &server{t: t, dataDir: t.TempDir(), dbURL: dbURL, logs: &syncBuffer{}}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.logs.String(), 4000))
		}
	})
	a := s.client(s.token("pat"))
	j := a.waitTerminal(a.submit("What is a good habit?").ID)
	if m := string(s.client("").do("GET", "/metrics", nil).Body); !strings.Contains(m, "aijobs_db_pool_max_conns") || !strings.Contains(m, "aijobs_db_pool_acquired_conns") {
		t.Errorf("/metrics lacks the pgx pool gauges")
	}

	if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		wantUnavailable(t, a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "anyone there?"}))
		wantUnavailable(t, a.do("GET", "/api/v1/jobs", nil))
		wantUnavailable(t, a.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil))
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("503s took %v", el)
		}
	}
	// A finished job is cached, so this may still be a 200: never a 500.
	if r := a.do("GET", "/api/v1/jobs/"+j.ID, nil); r.Status != 200 && r.Status != 503 {
		t.Errorf("read after the drop: %d %s", r.Status, r.Body)
	}
	code, ready, body := getReadyz(t, s)
	if code != 503 || ready.Failed != "database" || ready.Error != "the database does not exist or cannot be opened" {
		t.Errorf("/readyz with the database dropped: %d %s", code, body)
	}
	for _, secret := range []string{name, cfg.User, cfg.Host, "5432", "SQLSTATE"} {
		if strings.Contains(body, secret) {
			t.Errorf("/readyz shows %q: %s", secret, body)
		}
	}
	t.Logf("/readyz: %s", body)
	if logs := s.logs.String(); strings.Contains(logs, `msg="request failed"`) || !strings.Contains(logs, `msg="not ready" check=database`) {
		t.Errorf("want no 500 and the readiness failure logged:\n%s", tail(logs, 4000))
	}
}
