// Package benchutil holds what the benchmark programs under bench/cmd share:
// starting an `aijobs serve` process and a reference server, creating users
// and tokens, fresh databases, reading a process's CPU time and RSS from
// /proc, reading /metrics, percentiles, and the summary lines that
// bench/run.sh collects.
//
// Nothing here is a timed test: every figure a program prints is compared
// with a reference measured in the same run, on the same machine.
package benchutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/store"
)

// DefaultPG is the PostgreSQL the benchmarks use; AIJOBS_BENCH_POSTGRES
// overrides it.
func DefaultPG() string {
	if v := os.Getenv("AIJOBS_BENCH_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// FreeAddr returns a free loopback address.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is a child process serving HTTP.
type Proc struct {
	Cmd     *exec.Cmd
	URL     string
	Addr    string
	DataDir string
	LogPath string
	done    chan error
	stop    sync.Once
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// StartServer starts `bin serve --addr … --data-dir dataDir args…` and waits
// until /readyz answers 200. Its output goes to logPath.
func StartServer(bin, dataDir, logPath string, args ...string) (*Proc, error) {
	return StartServerPre(bin, nil, dataDir, logPath, args...)
}

// StartServerPre is StartServer with arguments put before "serve" (for
// profserve's --cpuprofile).
func StartServerPre(bin string, pre []string, dataDir, logPath string, args ...string) (*Proc, error) {
	addr := FreeAddr()
	full := append(append(pre[:len(pre):len(pre)], "serve", "--addr", addr, "--data-dir", dataDir, "--log-format", "json"), args...)
	return start(bin, full, addr, dataDir, logPath, "/readyz")
}

// StartPlain starts bin with args (which must make it listen on addr) and
// waits until path answers 200.
func StartPlain(bin string, args []string, addr, logPath, path string) (*Proc, error) {
	return start(bin, args, addr, "", logPath, path)
}

func start(bin string, args []string, addr, dataDir, logPath, ready string) (*Proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Proc{Cmd: cmd, URL: "http://" + addr, Addr: addr, DataDir: dataDir, LogPath: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); log %s:\n%s", bin, err, logPath, Tail(logPath, 3000))
		default:
		}
		resp, err := http.Get(p.URL + ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("%s not ready after 60 s; log %s", bin, logPath)
}

// Stop sends SIGTERM, waits up to 20 s, then kills. Calls after the first
// do nothing.
func (p *Proc) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	p.stop.Do(func() {
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
}

// Tail returns the last n bytes of a file.
func Tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// CPUSeconds is the user+system CPU time a process has used, from
// /proc/<pid>/stat.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// RSS is a process's resident set size in bytes, from /proc/<pid>/status.
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Metric reads one unlabelled sample from a Prometheus /metrics page.
func Metric(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, url)
}

// User is a user with an API token.
type User struct {
	Name  string
	Token string
}

// MakeUsers creates n users named prefix-i with the given daily quota and one
// API token each, directly in the database at dbURL (the same rows `aijobs
// token create` writes, without starting a process per user). The schema
// is migrated first.
func MakeUsers(ctx context.Context, dbURL, prefix string, n int, quota int64) ([]User, error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Migrate(ctx, func(ctx context.Context) error { return queue.Migrate(ctx, st) }); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	users := make([]User, n)
	for i := range users {
		name := fmt.Sprintf("%s-%d", prefix, i)
		u, _, err := st.EnsureUser(ctx, name, quota)
		if err != nil {
			return nil, err
		}
		tok, _, err := auth.New(st, auth.Config{}).CreateToken(ctx, u.ID, auth.NewToken{Name: "bench"})
		if err != nil {
			return nil, err
		}
		users[i] = User{Name: name, Token: tok}
	}
	return users, nil
}

// SQLiteURL is the database URL `aijobs serve --data-dir dir` uses.
func SQLiteURL(dataDir string) string { return "sqlite:" + filepath.Join(dataDir, "aijobs.db") }

// PGDatabase is a fresh PostgreSQL database for one run.
type PGDatabase struct {
	Name  string
	URL   string
	admin string
}

// NewPGDatabase creates a database named aijobs_bench_<random> next to the
// one at adminURL.
func NewPGDatabase(adminURL string) (*PGDatabase, error) {
	name := "aijobs_bench_" + strings.ToLower(rand.Text()[:10])
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u := adminURL
	i := strings.LastIndexByte(u[:indexOr(u, '?')], '/')
	u = u[:i+1] + name + u[indexOr(u, '?'):]
	return &PGDatabase{Name: name, URL: u, admin: adminURL}, nil
}

func indexOr(s string, c byte) int {
	if i := strings.IndexByte(s, c); i >= 0 {
		return i
	}
	return len(s)
}

// Drop drops the database (forcing out any connection left).
func (p *PGDatabase) Drop() {
	db, err := sql.Open("pgx", p.admin)
	if err != nil {
		return
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + p.Name + " WITH (FORCE)"); err != nil {
		log.Printf("drop database %s: %v", p.Name, err)
	}
}

// PGStats are cumulative counters of one database from pg_stat_database.
type PGStats struct {
	Commits, Rollbacks, Inserted, Updated, Deleted, Returned, Fetched, BlocksWritten int64
}

// Sub returns s - o.
func (s PGStats) Sub(o PGStats) PGStats {
	return PGStats{s.Commits - o.Commits, s.Rollbacks - o.Rollbacks, s.Inserted - o.Inserted, s.Updated - o.Updated,
		s.Deleted - o.Deleted, s.Returned - o.Returned, s.Fetched - o.Fetched, s.BlocksWritten - o.BlocksWritten}
}

// Stats reads the database's counters. The statistics collector publishes
// them up to a second late: call it after the load has settled.
func (p *PGDatabase) Stats() (PGStats, error) {
	db, err := sql.Open("pgx", p.admin)
	if err != nil {
		return PGStats{}, err
	}
	defer db.Close()
	var s PGStats
	err = db.QueryRow(`SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched, 0
		FROM pg_stat_database WHERE datname = $1`, p.Name).
		Scan(&s.Commits, &s.Rollbacks, &s.Inserted, &s.Updated, &s.Deleted, &s.Returned, &s.Fetched, &s.BlocksWritten)
	return s, err
}

// Percentile returns the p-th percentile (0–100) of sorted xs.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

// Sorted returns a sorted copy.
func Sorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}

// Summary prints one line that bench/run.sh collects into its summary.
func Summary(format string, args ...any) {
	fmt.Printf("SUMMARY "+format+"\n", args...)
}

// Client is an HTTP client for many concurrent connections to one host.
func Client(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: 0,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}}
}

// Snapshot is the part of a job snapshot the benchmarks read.
type Snapshot struct {
	ID          string `json:"job_id"`
	Status      string `json:"status"`
	Terminal    bool   `json:"terminal"`
	Seq         int64  `json:"seq"`
	StreamToken string `json:"stream_token"`
}

// ErrRateLimited is a 429 from submit; RetryAfter says for how long.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string { return "rate limited for " + e.RetryAfter.String() }

// Submit posts one AI request as the token's user.
func Submit(ctx context.Context, c *http.Client, base, token, input string) (Snapshot, error) {
	body, _ := json.Marshal(map[string]any{"input": input})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/ai/proxy", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return Snapshot{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusTooManyRequests {
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return Snapshot{}, &ErrRateLimited{RetryAfter: time.Duration(max(s, 1)) * time.Second}
	}
	if resp.StatusCode != http.StatusAccepted {
		return Snapshot{}, fmt.Errorf("submit: status %d: %s", resp.StatusCode, b)
	}
	var s Snapshot
	return s, json.Unmarshal(b, &s)
}

// SubmitRetry submits, waiting out 429s (at most 30 s in all).
func SubmitRetry(ctx context.Context, c *http.Client, base, token, input string) (Snapshot, int, error) {
	limited := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := Submit(ctx, c, base, token, input)
		var rl *ErrRateLimited
		if errors.As(err, &rl) && time.Now().Before(deadline) {
			limited++
			time.Sleep(min(rl.RetryAfter, 200*time.Millisecond))
			continue
		}
		return s, limited, err
	}
}

// Get reads a job.
func Get(ctx context.Context, c *http.Client, base, token, id string) (Snapshot, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/jobs/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return Snapshot{}, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return Snapshot{}, b, fmt.Errorf("get %s: status %d: %s", id, resp.StatusCode, b)
	}
	var s Snapshot
	return s, b, json.Unmarshal(b, &s)
}

// WaitTerminal long-polls a job until it is terminal or timeout passes.
func WaitTerminal(ctx context.Context, c *http.Client, base, token, id string, timeout time.Duration) (Snapshot, error) {
	deadline := time.Now().Add(timeout)
	s, _, err := Get(ctx, c, base, token, id)
	for err == nil && !s.Terminal {
		if time.Now().After(deadline) {
			return s, fmt.Errorf("job %s not terminal after %v (status %s)", id, timeout, s.Status)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%s?wait=5&since=%d", base, id, s.Seq), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, rerr := c.Do(req)
		if rerr != nil {
			return s, rerr
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			err = json.Unmarshal(b, &s)
		}
	}
	return s, err
}

// Input is a short request of the "general" intent, as the original app
// sends.
func Input(i int) string {
	return fmt.Sprintf("Plan my week %d: finish the quarterly report, book the dentist, call the bank, and review the budget", i)
}

// CPUOfCommand sums the CPU seconds of every process whose command name
// (/proc/<pid>/comm) is name, e.g. "postgres" (its backends included). Only
// differences between two readings mean anything; processes that exit in
// between are lost, so use it with long-lived processes.
func CPUOfCommand(name string) float64 {
	dirs, _ := os.ReadDir("/proc")
	total := 0.0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		total += CPUSeconds(pid)
	}
	return total
}

// MachineCPUSeconds is the CPU time all cores of the machine have spent
// busy (not idle or waiting on I/O), from /proc/stat.
func MachineCPUSeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	total := 0.0
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		total += x
	}
	return total / 100
}

// SubmitSpread submits n jobs round-robin over users, job i at about
// i*spread/n after the start (spread 0: as fast as 32 concurrent requests
// go), so that jobs running at a fixed pace change at evenly spread moments
// rather than all together. It returns each job's id and its user's token.
func SubmitSpread(ctx context.Context, c *http.Client, base string, users []User, n int, spread time.Duration) (ids, tokens []string) {
	ids, tokens = make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	t0 := time.Now()
	for i := range n {
		if spread > 0 {
			time.Sleep(time.Until(t0.Add(time.Duration(i) * spread / time.Duration(n))))
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			u := users[i%len(users)]
			j, _, err := SubmitRetry(ctx, c, base, u.Token, Input(i))
			if err != nil {
				log.Fatalf("submit %d: %v", i, err)
			}
			ids[i], tokens[i] = j.ID, u.Token
		}()
	}
	wg.Wait()
	return ids, tokens
}
