// Package e2e tests aijobs from the outside: a real server on loopback (the
// same code path as `aijobs serve`), real SQLite files and the machine's real
// PostgreSQL, real River, and HTTP clients. Every test runs on both
// databases.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/rand"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/aijobs/aijobs/cli"
)

// pgURL is the PostgreSQL the tests use; AIJOBS_TEST_POSTGRES overrides it.
func pgURL() string {
	if v := os.Getenv("AIJOBS_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	pgOnce sync.Once
	pgErr  error
)

// database names one of the two stores.
type database string

const (
	sqlite   database = "sqlite"
	postgres database = "postgres"
)

// forEachDB runs f as a subtest on SQLite and on PostgreSQL. Without a
// PostgreSQL the PostgreSQL run is skipped, except under CI=true where it
// fails.
func forEachDB(t *testing.T, f func(t *testing.T, db database)) {
	t.Helper()
	for _, db := range []database{sqlite, postgres} {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			f(t, db)
		})
	}
}

// newDatabaseURL returns a fresh, empty database for one test: a SQLite file
// in a temporary directory, or a new schema in the test PostgreSQL.
func newDatabaseURL(t *testing.T, db database) string {
	t.Helper()
	if db == sqlite {
		return ""
	}
	pgOnce.Do(func() {
		conn, err := sql.Open("pgx", pgURL())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err = conn.PingContext(ctx)
			cancel()
			conn.Close()
		}
		pgErr = err
	})
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", pgURL(), pgErr)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v): install and start PostgreSQL, or set AIJOBS_TEST_POSTGRES", pgURL(), pgErr)
	}
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	conn, err := sql.Open("pgx", pgURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := sql.Open("pgx", pgURL())
		if err == nil {
			conn.Exec("DROP SCHEMA " + schema + " CASCADE")
			conn.Close()
		}
	})
	sep := "?"
	if strings.Contains(pgURL(), "?") {
		sep = "&"
	}
	return pgURL() + sep + "search_path=" + schema
}

// server is one aijobs process, run in-process through the CLI exactly as
// `aijobs serve` runs.
type server struct {
	t       *testing.T
	URL     string
	addr    string
	dataDir string
	dbURL   string
	args    []string
	cancel  context.CancelFunc
	done    chan int
	logs    *syncBuffer
	// vars is the server's environment (AIJOBS_* variables); nil for none.
	vars map[string]string
}

// syncBuffer collects a server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer starts a server on a fresh database of kind db. args are extra
// serve flags. The server stops when the test ends.
func startServer(t *testing.T, db database, args ...string) *server {
	t.Helper()
	return startServerEnv(t, db, nil, args...)
}

// startServerEnv is startServer with the environment variables vars.
func startServerEnv(t *testing.T, db database, vars map[string]string, args ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), args: args, logs: &syncBuffer{}, vars: vars}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.logs.String(), 4000))
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dbArgs are the flags that point a command at this server's database.
func (s *server) dbArgs() []string {
	a := []string{"--data-dir", s.dataDir}
	if s.dbURL != "" {
		a = append(a, "--database-url", s.dbURL)
	}
	return a
}

func (s *server) start() {
	s.t.Helper()
	if s.addr == "" {
		s.addr = freeAddr(s.t)
	}
	s.URL = "http://" + s.addr
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan int, 1)
	args := append([]string{"serve", "--addr", s.addr, "--offline-chunk-delay", "5ms"}, s.dbArgs()...)
	args = append(args, s.args...)
	env := &cli.Env{Stdout: s.logs, Stderr: s.logs, Getenv: func(k string) string { return s.vars[k] }}
	go func() { s.done <- cli.Main(ctx, env, args) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-s.done:
			s.t.Fatalf("server exited with %d before it was ready:\n%s", code, s.logs.String())
		default:
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("server not ready after 20 s:\n%s", s.logs.String())
}

// stop shuts the server down gracefully and waits for it.
func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Errorf("server did not stop within 30 s")
	}
	s.cancel = nil
}

// restart stops the server and starts it again on the same database and
// address.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// token creates a user (if needed) and returns a new API token for it,
// through the CLI as an operator would.
func (s *server) token(name string, extra ...string) string {
	s.t.Helper()
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	args := append(append([]string{"token", "create", "--user", name}, s.dbArgs()...), extra...)
	if code := cli.Main(context.Background(), env, args); code != 0 {
		s.t.Fatalf("token create exited %d: %s", code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// api is an HTTP client for one user.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (s *server) client(token string) *api { return &api{t: s.t, base: s.URL, token: token} }

// response is a decoded HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON).
func (a *api) do(method, path string, body any, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// job is the snapshot as the tests read it.
type job struct {
	ID          string                          `json:"job_id"`
	Status      string                          `json:"status"`
	Terminal    bool                            `json:"terminal"`
	Progress    int                             `json:"progress"`
	Seq         int64                           `json:"seq"`
	Intent      string                          `json:"intent"`
	Attempt     int                             `json:"attempt"`
	Result      json.RawMessage                 `json:"result"`
	Error       *struct{ Code, Message string } `json:"error"`
	Reason      string                          `json:"reason"`
	ExpiresAt   time.Time                       `json:"expires_at"`
	CreatedAt   time.Time                       `json:"created_at"`
	StartedAt   *time.Time                      `json:"started_at"`
	FinishedAt  *time.Time                      `json:"finished_at"`
	StreamToken string                          `json:"stream_token"`
	Message     string                          `json:"message"`
}

// submit posts an input and expects 202.
func (a *api) submit(input string, extra ...string) job {
	a.t.Helper()
	body := map[string]any{"input": input}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	r := a.do("POST", "/api/v1/ai/proxy", body)
	if r.Status != http.StatusAccepted {
		a.t.Fatalf("submit: status %d, want 202: %s", r.Status, r.Body)
	}
	var j job
	r.json(a.t, &j)
	return j
}

func (a *api) get(id string) job {
	a.t.Helper()
	r := a.do("GET", "/api/v1/jobs/"+id, nil)
	if r.Status != 200 {
		a.t.Fatalf("get %s: status %d: %s", id, r.Status, r.Body)
	}
	var j job
	r.json(a.t, &j)
	return j
}

// waitFor polls (long-polling) until cond holds for the job or timeout.
func (a *api) waitFor(id string, timeout time.Duration, cond func(job) bool) job {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	j := a.get(id)
	for !cond(j) {
		if time.Now().After(deadline) {
			a.t.Fatalf("job %s: condition not met within %v; last: status=%s progress=%d seq=%d error=%+v", id, timeout, j.Status, j.Progress, j.Seq, j.Error)
		}
		r := a.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=2&since=%d", id, j.Seq), nil)
		if r.Status == 200 {
			r.json(a.t, &j)
		}
	}
	return j
}

func (a *api) waitTerminal(id string) job {
	a.t.Helper()
	return a.waitFor(id, 60*time.Second, func(j job) bool { return j.Terminal })
}

// wantError checks a JSON error response.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	json.Unmarshal(r.Body, &e)
	if r.Status != status || e.Code != code || e.Error == "" {
		t.Fatalf("got status %d code %q error %q, want status %d code %q and a message\nbody: %s", r.Status, e.Code, e.Error, status, code, r.Body)
	}
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func randText(n int) string { return rand.Text()[:n] }

// openDB opens the server's database directly, for checks behind the API.
func openDB(t *testing.T, s *server, db database) *sql.DB {
	t.Helper()
	var (
		conn *sql.DB
		err  error
	)
	if db == sqlite {
		conn, err = sql.Open("sqlite", "file:"+s.dataDir+"/aijobs.db?mode=ro")
	} else {
		conn, err = sql.Open("pgx", s.dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
