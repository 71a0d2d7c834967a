// Command throughput measures submit-to-completed throughput of -n jobs
// through aijobs' HTTP API (`aijobs serve --offline-chunk-delay 0`),
// against bare River on the same database with the same worker count
// (bareriver), in the same run, interleaved:
//
//	bare River, aijobs   (× -rounds), each on a fresh database
//
// aijobs: -users users (the submit rate limit is per user: 10/s, burst 20)
// each follow their own SSE user stream (/api/v1/events); -submitters
// goroutines POST /api/v1/ai/proxy; the run ends when a terminal event of
// every job has arrived. On PostgreSQL it also counts, from
// pg_stat_database of the run's own database, the transactions and rows
// written per job by each.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

type riverResult struct {
	Rate    float64 `json:"rate"`
	WorkS   float64 `json:"work_s"`
	MarkedS float64 `json:"marked_s"`
	InsertS float64 `json:"insert_s"`
	CPUS    float64 `json:"cpu_s"`
	// MachineCPUS is the CPU the whole machine spent during the run
	// (bareriver and PostgreSQL included; other load on the machine too).
	MachineCPUS float64
}

type aijobsResult struct {
	rate, seconds, submitS, cpuS float64
	clientCPU, pgCPU, wallCPU    float64 // CPU of this process, of all postgres processes, and of the machine
	dbWaitS, dbWaits             float64 // time and count of waits for a connection of the write pool (SQLite's database/sql, PostgreSQL's pgx pool)
	churn                        float64 // SQLite: write-pool connections closed because more than MaxIdleConns were idle; PostgreSQL: connections the pgx pool opened
	events                       int64
	limited                      int64
	failed                       int64
}

var (
	kind      = flag.String("db", "sqlite", "sqlite or postgres")
	bin       = benchutil.AijobsFlag()
	riverBin  = flag.String("bareriver", "./bareriver", "bareriver binary")
	work      = benchutil.WorkFlag()
	pgURL     = flag.String("pg", benchutil.DefaultPG(), "PostgreSQL admin URL (a database is created per run)")
	n         = flag.Int("n", 10000, "jobs per run")
	users     = flag.Int("users", 500, "users submitting (the submit limit is 10/s, burst 20, per user)")
	subs      = flag.Int("submitters", 64, "concurrent submit requests")
	workers   = flag.Int("workers", 50, "workers (aijobs --workers, River MaxWorkers)")
	pool      = flag.Int("pool", 0, "aijobs' PostgreSQL pool size (pool_max_conns in its URL; 0: its default, 20)")
	rate      = flag.Float64("submit-rate", 0, "aijobs --submit-rate and --submit-burst, for few users (0: the server's default, 10/s, burst 20)")
	rounds    = flag.Int("rounds", 2, "rounds")
	runTimout = flag.Duration("timeout", 5*time.Minute, "give up on one run after")
	profBin   = flag.String("profbin", "", "run aijobs as this profserve binary and write a CPU profile of each run into -work")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	type row struct {
		river          riverResult
		aijobs         aijobsResult
		rStats, aStats *benchutil.PGStats
	}
	var rows []row
	for round := 1; round <= *rounds; round++ {
		var r row
		r.river, r.rStats = runRiver(round)
		log.Printf("round %d %s: bare River %.0f jobs/s (insert %.2fs, last Work %.2fs, all marked completed %.2fs, CPU %.1fs; whole machine %.1fs, whole process run included)",
			round, *kind, r.river.Rate, r.river.InsertS, r.river.WorkS, r.river.MarkedS, r.river.CPUS, r.river.MachineCPUS)
		r.aijobs, r.aStats = runAijobs(round)
		log.Printf("round %d %s: aijobs %.0f jobs/s (%d jobs in %.2fs; submits took %.2fs; %d events received, %.1f per job; %d 429s; %d failed; server CPU %.1fs): ratio %.3f",
			round, *kind, r.aijobs.rate, *n, r.aijobs.seconds, r.aijobs.submitS, r.aijobs.events, float64(r.aijobs.events)/float64(*n),
			r.aijobs.limited, r.aijobs.failed, r.aijobs.cpuS, r.aijobs.rate/r.river.Rate)
		log.Printf("round %d %s: CPU during the aijobs run (%.2fs, 2 cores = %.1f core-s): aijobs server %.1fs, benchmark client %.1fs, postgres %.1fs, whole machine %.1fs",
			round, *kind, r.aijobs.seconds, 2*r.aijobs.seconds, r.aijobs.cpuS, r.aijobs.clientCPU, r.aijobs.pgCPU, r.aijobs.wallCPU)
		churn := "connections closed as surplus idle"
		if *kind == "postgres" {
			churn = "connections opened"
		}
		log.Printf("round %d %s: waits for a write-pool connection: %.0f (%.1f per job), %.1f s in all (%.1f ms per job); %s: %.0f (%.2f per job)",
			round, *kind, r.aijobs.dbWaits, r.aijobs.dbWaits/float64(*n), r.aijobs.dbWaitS, r.aijobs.dbWaitS/float64(*n)*1e3, churn, r.aijobs.churn, r.aijobs.churn/float64(*n))
		if r.rStats != nil && r.aStats != nil {
			per := func(s *benchutil.PGStats) string {
				f := float64(*n)
				return fmt.Sprintf("%.1f commits, %.1f rows inserted, %.1f updated, %.1f deleted (%.1f written)",
					float64(s.Commits)/f, float64(s.Inserted)/f, float64(s.Updated)/f, float64(s.Deleted)/f,
					float64(s.Inserted+s.Updated+s.Deleted)/f)
			}
			log.Printf("round %d per job: bare River %s; aijobs %s", round, per(r.rStats), per(r.aStats))
		}
		rows = append(rows, r)
	}
	for i, r := range rows {
		extra := ""
		if r.rStats != nil && r.aStats != nil {
			f := float64(*n)
			extra = fmt.Sprintf("; rows written/job aijobs %.1f vs River %.1f, commits/job %.1f vs %.1f",
				float64(r.aStats.Inserted+r.aStats.Updated+r.aStats.Deleted)/f, float64(r.rStats.Inserted+r.rStats.Updated+r.rStats.Deleted)/f,
				float64(r.aStats.Commits)/f, float64(r.rStats.Commits)/f)
		}
		extra += fmt.Sprintf("; whole-machine CPU/job %.2f ms vs %.2f ms", r.aijobs.wallCPU/float64(*n)*1e3, r.river.MachineCPUS/float64(*n)*1e3)
		if *kind == "postgres" {
			extra += fmt.Sprintf(" (postgres processes %.2f ms/job in the aijobs run)", r.aijobs.pgCPU/float64(*n)*1e3)
		}
		benchutil.Summary("throughput %s round %d: %d jobs, %d users, %d submitters, %d workers: aijobs %.0f jobs/s vs bare River %.0f jobs/s = %.3f (target >= 0.7); CPU/job aijobs server %.2f ms vs River %.2f ms%s",
			*kind, i+1, *n, *users, *subs, *workers, r.aijobs.rate, r.river.Rate, r.aijobs.rate/r.river.Rate,
			r.aijobs.cpuS/float64(*n)*1e3, r.river.CPUS/float64(*n)*1e3, extra)
	}
}

// freshDB returns a database URL for one run (sqlite: a new data dir) and a
// cleanup.
func freshDB(name string) (url, dataDir string, pg *benchutil.PGDatabase, cleanup func()) {
	dataDir = filepath.Join(*work, name)
	os.RemoveAll(dataDir)
	os.MkdirAll(dataDir, 0o700)
	if *kind == "sqlite" {
		return benchutil.SQLiteURL(dataDir), dataDir, nil, func() { os.RemoveAll(dataDir) }
	}
	pg, err := benchutil.NewPGDatabase(*pgURL)
	benchutil.Check(err)
	return pg.URL, dataDir, pg, func() { pg.Drop(); os.RemoveAll(dataDir) }
}

func runRiver(round int) (riverResult, *benchutil.PGStats) {
	url, dataDir, pg, cleanup := freshDB(fmt.Sprintf("tp-river-%s-%d", *kind, round))
	defer cleanup()
	if *kind == "sqlite" {
		url = filepath.Join(dataDir, "river.db")
	}
	var before benchutil.PGStats
	if pg != nil {
		// Migrate first so the stats count the jobs only.
		out, err := exec.Command(*riverBin, "-db", *kind, "-url", url, "-n", "0").CombinedOutput()
		if err != nil {
			log.Fatalf("bareriver migrate: %v\n%s", err, out)
		}
		time.Sleep(1500 * time.Millisecond)
		before, _ = pg.Stats()
	}
	m0 := benchutil.MachineCPUSeconds()
	out, err := exec.Command(*riverBin, "-db", *kind, "-url", url, "-n", strconv.Itoa(*n), "-workers", strconv.Itoa(*workers)).CombinedOutput()
	machineCPU := benchutil.MachineCPUSeconds() - m0
	if err != nil {
		log.Fatalf("bareriver: %v\n%s", err, out)
	}
	var res riverResult
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "RESULT "); ok {
			benchutil.Check(json.Unmarshal([]byte(j), &res))
		}
	}
	if res.Rate == 0 {
		log.Fatalf("bareriver gave no result:\n%s", out)
	}
	res.MachineCPUS = machineCPU
	if pg == nil {
		return res, nil
	}
	time.Sleep(1500 * time.Millisecond)
	after, err := pg.Stats()
	benchutil.Check(err)
	d := after.Sub(before)
	return res, &d
}

func runAijobs(round int) (aijobsResult, *benchutil.PGStats) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, dataDir, pg, cleanup := freshDB(fmt.Sprintf("tp-aijobs-%s-%d", *kind, round))
	defer cleanup()
	us, err := benchutil.MakeUsers(ctx, url, "tp", *users, int64(*n))
	benchutil.Check(err)
	args := []string{"--offline-chunk-delay", "0", "--workers", strconv.Itoa(*workers), "--max-streams", "1000"}
	if *rate > 0 {
		r := strconv.FormatFloat(*rate, 'f', -1, 64)
		args = append(args, "--submit-rate", r, "--submit-burst", r)
	}
	if pg != nil {
		if *pool > 0 {
			url += fmt.Sprintf("&pool_max_conns=%d", *pool)
		}
		args = append(args, "--database-url", url)
	}
	server, pre := *bin, []string(nil)
	prof := filepath.Join(*work, fmt.Sprintf("tp-cpu-%s-%d", *kind, round))
	if *profBin != "" {
		server, pre = *profBin, []string{"--cpuprofile", prof}
	}
	srv, err := benchutil.StartServerPre(server, pre, dataDir, filepath.Join(*work, fmt.Sprintf("tp-aijobs-%s-%d.log", *kind, round)), args...)
	benchutil.Check(err)
	defer srv.Stop()

	// One SSE user stream per user, open before the first submit.
	var (
		mu       sync.Mutex
		terminal = map[string]bool{}
		events   atomic.Int64
		failed   atomic.Int64
		allDone  = make(chan struct{})
		lastAt   time.Time
	)
	sseClient := benchutil.Client(*users + 10)
	var opened sync.WaitGroup
	for _, u := range us {
		opened.Add(1)
		go func() {
			first := true
			lastID := ""
			for ctx.Err() == nil {
				h := map[string]string{"Authorization": "Bearer " + u.Token}
				if lastID != "" {
					h["Last-Event-ID"] = lastID
				}
				st, err := benchutil.OpenSSE(ctx, sseClient, srv.URL+"/api/v1/events", h)
				if first {
					opened.Done()
					first = false
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					log.Printf("open user stream: %v", err)
					time.Sleep(500 * time.Millisecond)
					continue
				}
				for {
					ev, err := st.Next()
					if err != nil {
						break
					}
					lastID = ev.ID
					events.Add(1)
					var e struct {
						JobID string `json:"job_id"`
						Type  string `json:"type"`
					}
					if json.Unmarshal([]byte(ev.Data), &e) != nil {
						continue
					}
					switch e.Type {
					case "completed", "failed", "cancelled":
						if e.Type != "completed" {
							failed.Add(1)
						}
						mu.Lock()
						if !terminal[e.JobID] {
							terminal[e.JobID] = true
							lastAt = ev.At
							if len(terminal) == *n {
								close(allDone)
							}
						}
						mu.Unlock()
					}
				}
				st.Close()
			}
		}()
	}
	opened.Wait()
	time.Sleep(300 * time.Millisecond)

	var before benchutil.PGStats
	if pg != nil {
		time.Sleep(1200 * time.Millisecond)
		before, _ = pg.Stats()
	}
	cpu0 := benchutil.CPUSeconds(srv.Pid())
	self0, pg0, machine0 := benchutil.CPUSeconds(os.Getpid()), benchutil.CPUOfCommand("postgres"), benchutil.MachineCPUSeconds()
	wait0, waits0 := dbWait(srv.URL)
	churn0 := dbChurn(srv.URL)
	if *profBin != "" {
		srv.Cmd.Process.Signal(syscall.SIGUSR1)
	}
	submitClient := benchutil.Client(*subs + 10)
	next := make(chan int, *n)
	for i := range *n {
		next <- i
	}
	close(next)
	var limited atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range *subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u := us[i%len(us)]
				_, l, err := benchutil.SubmitRetry(ctx, submitClient, srv.URL, u.Token, benchutil.Input(i))
				limited.Add(int64(l))
				if err != nil {
					log.Fatalf("submit %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	submitted := time.Since(t0)
	select {
	case <-allDone:
	case <-time.After(*runTimout):
		mu.Lock()
		log.Fatalf("only %d of %d jobs seen terminal after %v; server log %s", len(terminal), *n, *runTimout, srv.LogPath)
	}
	mu.Lock()
	elapsed := lastAt.Sub(t0)
	mu.Unlock()
	cpu := benchutil.CPUSeconds(srv.Pid()) - cpu0
	self1, pg1, machine1 := benchutil.CPUSeconds(os.Getpid()), benchutil.CPUOfCommand("postgres"), benchutil.MachineCPUSeconds()
	wait1, waits1 := dbWait(srv.URL)
	churn1 := dbChurn(srv.URL)
	cancel() // end the streams before the server goes
	if *profBin != "" {
		srv.Cmd.Process.Signal(syscall.SIGUSR2)
		log.Printf("CPU profile of the aijobs run: %s.1.pprof", prof)
	}
	res := aijobsResult{rate: float64(*n) / elapsed.Seconds(), seconds: elapsed.Seconds(), submitS: submitted.Seconds(), cpuS: cpu,
		events: events.Load(), limited: limited.Load(), failed: failed.Load(),
		clientCPU: self1 - self0, pgCPU: pg1 - pg0, wallCPU: machine1 - machine0, dbWaitS: wait1 - wait0, dbWaits: waits1 - waits0, churn: churn1 - churn0}
	if pg == nil {
		return res, nil
	}
	// River marks jobs completed up to a moment later; let it, then count.
	time.Sleep(2 * time.Second)
	after, err := pg.Stats()
	benchutil.Check(err)
	d := after.Sub(before)
	return res, &d
}

// dbWait reads the wait statistics of aijobs' write pool from /metrics
// (database/sql's on SQLite, the pgx pool's on PostgreSQL): total seconds
// and count of waits for a free connection.
func dbWait(base string) (seconds, count float64) {
	if *kind == "postgres" {
		seconds, _ = benchutil.Metric(base+"/metrics", `aijobs_db_pool_acquire_wait_seconds_total`)
		count, _ = benchutil.Metric(base+"/metrics", `aijobs_db_pool_acquire_waits_total`)
		return seconds, count
	}
	seconds, _ = benchutil.Metric(base+"/metrics", `go_sql_wait_duration_seconds_total{db_name="aijobs"}`)
	count, _ = benchutil.Metric(base+"/metrics", `go_sql_wait_count_total{db_name="aijobs"}`)
	return seconds, count
}

// dbChurn reads how many connections of aijobs' write pool came and went
// from /metrics: on SQLite those database/sql closed as surplus idle, on
// PostgreSQL those the pgx pool opened (it keeps idle ones open).
func dbChurn(base string) float64 {
	name := `go_sql_max_idle_closed_total{db_name="aijobs"}`
	if *kind == "postgres" {
		name = `aijobs_db_pool_new_conns_total`
	}
	v, _ := benchutil.Metric(base+"/metrics", name)
	return v
}
