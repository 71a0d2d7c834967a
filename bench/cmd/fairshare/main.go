// Command fairshare measures fair share between users (docs/api.md "Whose
// job runs next"): user A submits -n jobs as fast as the server takes them,
// then user B submits one. With fair share B's job should start within
// about one job's time; first in, first out (--fair-share=false, the
// reference, measured in the same round on a fresh database) makes it wait
// for A's whole backlog. Each round runs both, the order alternating:
//
//	round 1: fair, FIFO; round 2: FIFO, fair; …   (× -db)
//
// With -prefill (the default) A submits to an API-only process (--role
// api: no workers, so nothing runs and, with fair share, every job waits in
// aijobs' table), then a worker process (--role worker) starts on the same
// database, and B submits once two waves of A's jobs have finished: B meets
// the whole backlog however slowly the machine takes submits. With
// -prefill=false one embedded process serves both and A's submits race the
// workers (on a loaded PostgreSQL the backlog may not build up at all).
//
// Jobs are the offline provider's (about 30 chunks, --offline-chunk-delay
// apart), -workers at once. Times are the server's own (the snapshots'
// created_at, started_at, finished_at), so the client's polling does not
// enter them. Reported per run: B's wait (started_at − created_at) in mean
// job times (finished_at − started_at, averaged over A's jobs), how many of
// A's jobs had not started when B submitted, A's drain (to A's last
// finished_at) and throughput (all jobs, to the last finished_at), both
// from the first job's start with -prefill, else from A's first submit,
// and per round fair ÷ FIFO; and whether A's jobs started in submit order:
// a job that started more than -tolerance before one whose submit had been
// answered before it was sent is an inversion (A's -submitters concurrent
// submits have no order between them).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

var (
	bin        = benchutil.AijobsFlag()
	work       = benchutil.WorkFlag()
	dbs        = flag.String("db", "sqlite,postgres", "comma-separated databases: sqlite, postgres")
	pgURL      = flag.String("pg", benchutil.DefaultPG(), "PostgreSQL admin URL (a database is created per run)")
	rounds     = flag.Int("rounds", 2, "rounds (each: fair share and FIFO)")
	n          = flag.Int("n", 1000, "jobs user A submits before B's one")
	workers    = flag.Int("workers", 20, "aijobs --workers")
	chunkDelay = flag.Duration("chunk-delay", 10*time.Millisecond, "aijobs --offline-chunk-delay (a job is about 30 chunks)")
	subs       = flag.Int("submitters", 8, "concurrent submit requests of user A")
	tolerance  = flag.Duration("tolerance", 150*time.Millisecond, "a job of A starting this much before one A submitted earlier is an inversion")
	runTimeout = flag.Duration("timeout", 4*time.Minute, "give up on one run after")
	prefill    = flag.Bool("prefill", true, "A submits to an API-only process (--role api) and a worker process (--role worker) starts once A's backlog is in; B submits after 2 waves of A's jobs have run (false: one embedded process, A's submits race the workers)")
	dump       = flag.Bool("dump", false, "write each run's jobs (user, created, started, finished) as CSV into -work")
)

// snap is what fairshare reads of a job.
type snap struct {
	ID         string     `json:"job_id"`
	Status     string     `json:"status"`
	Terminal   bool       `json:"terminal"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

type result struct {
	fair           bool
	mean           time.Duration // mean job time (A's jobs)
	bWait          time.Duration // B's started_at − created_at
	bCreatedAfter  time.Duration // B's created_at − A's first created_at
	submitS        float64       // A's submits, first to last response (client clock)
	drain          time.Duration // A's first created_at → A's last finished_at
	total          time.Duration // first created_at → last finished_at (all jobs)
	rate           float64       // jobs/s over total
	inversions     int           // A's jobs started > tolerance before an earlier-submitted one
	worstInversion time.Duration
	aheadOfB       int // A's jobs that started after B's job was created but before it started
	queuedAtB      int // A's jobs not started yet when B's job was created
	failed         int
	limited        int64
	refused        int     // "too many clients" (SQLSTATE 53300) lines in the server logs: a shared PostgreSQL ran out of connections
	cpuS           float64 // server CPU
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	for _, db := range strings.Split(*dbs, ",") {
		type pair struct{ fair, fifo result }
		var pairs []pair
		for r := 1; r <= *rounds; r++ {
			order := []bool{true, false}
			if r%2 == 0 {
				order = []bool{false, true}
			}
			var p pair
			for _, fair := range order {
				res := run(db, r, fair)
				log.Printf("%s round %d %s: B waited %.0f ms = %.2f mean job times (mean job %.0f ms; B created %.2f s after the start); A's %d jobs drained in %.2f s (submits took %.2f s); %d jobs in %.2f s = %.1f jobs/s; A's start-order inversions > %v: %d (worst %.0f ms); A's jobs not started when B was submitted %d (= %.1f waves of %d), of them started before B %d; failed %d; 429s %d; PostgreSQL refused connections %d times; server CPU %.1f s (%.2f ms/job)",
					db, r, mode(fair), ms(res.bWait), ratio(res.bWait, res.mean), ms(res.mean), res.bCreatedAfter.Seconds(), *n, res.drain.Seconds(), res.submitS,
					*n+1, res.total.Seconds(), res.rate, *tolerance, res.inversions, ms(res.worstInversion), res.queuedAtB, float64(res.queuedAtB)/float64(*workers), *workers, res.aheadOfB, res.failed, res.limited, res.refused, res.cpuS, res.cpuS/float64(*n+1)*1e3)
				if fair {
					p.fair = res
				} else {
					p.fifo = res
				}
			}
			log.Printf("%s round %d: B's wait fair %.2f vs FIFO %.2f mean job times (%.1fx shorter); throughput fair/FIFO %.3f; drain fair/FIFO %.3f",
				db, r, ratio(p.fair.bWait, p.fair.mean), ratio(p.fifo.bWait, p.fifo.mean), float64(p.fifo.bWait)/float64(max(p.fair.bWait, 1)),
				p.fair.rate/p.fifo.rate, p.fair.drain.Seconds()/p.fifo.drain.Seconds())
			pairs = append(pairs, p)
		}
		for i, p := range pairs {
			benchutil.Summary("fairshare %s round %d: A %d jobs then B 1, %d workers, job %.0f ms: B waited %.2f job times with fair share (target <= 2) vs %.2f FIFO (A's jobs queued at B's submit: %d fair, %d FIFO = %.1f waves of %d); throughput fair %.1f vs FIFO %.1f jobs/s = %.3f (target >= 0.9); A drained in %.2f s vs %.2f s; A's order inversions %d/%d%s",
				db, i+1, *n, *workers, ms(p.fair.mean), ratio(p.fair.bWait, p.fair.mean), ratio(p.fifo.bWait, p.fifo.mean),
				p.fair.queuedAtB, p.fifo.queuedAtB, float64(p.fifo.queuedAtB)/float64(*workers), *workers,
				p.fair.rate, p.fifo.rate, p.fair.rate/p.fifo.rate, p.fair.drain.Seconds(), p.fifo.drain.Seconds(), p.fair.inversions, p.fifo.inversions, disturbed(p.fair, p.fifo))
		}
	}
}

// disturbed says what else went wrong in a pair of runs.
func disturbed(rs ...result) string {
	var failed, refused int
	for _, r := range rs {
		failed, refused = failed+r.failed, refused+r.refused
	}
	out := ""
	if failed > 0 {
		out += fmt.Sprintf("; %d jobs failed", failed)
	}
	if refused > 0 {
		out += fmt.Sprintf("; DISTURBED: PostgreSQL refused %d connections (too many clients: its max_connections is shared)", refused)
	}
	return out
}

func mode(fair bool) string {
	if fair {
		return "fair share"
	}
	return "FIFO"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

// cleanups undo what the current run started (processes, its PostgreSQL
// database) when it has to end the program: log.Fatal runs no defers.
var cleanups []func()

func fatalf(format string, args ...any) {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	log.Fatalf(format, args...)
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func run(db string, round int, fair bool) result {
	cleanups = nil
	ctx, cancel := context.WithTimeout(context.Background(), *runTimeout)
	defer cancel()
	name := fmt.Sprintf("fair-%s-%d-%s", db, round, map[bool]string{true: "fair", false: "fifo"}[fair])
	dir := filepath.Join(*work, name)
	os.RemoveAll(dir)
	check(os.MkdirAll(dir, 0o700))
	defer os.RemoveAll(dir)
	dbURL, args := benchutil.SQLiteURL(dir), []string(nil)
	if db == "postgres" {
		pg, err := benchutil.NewPGDatabase(*pgURL)
		check(err)
		defer pg.Drop()
		cleanups = append(cleanups, pg.Drop)
		dbURL, args = pg.URL, []string{"--database-url", pg.URL}
	} else if db != "sqlite" {
		fatalf("unknown database %q", db)
	}
	users, err := benchutil.MakeUsers(ctx, dbURL, "fair", 2, int64(*n+10))
	check(err)
	a, b := users[0], users[1]
	// The submit limiter must not shape A's burst: A submits as fast as the
	// server answers.
	rate := strconv.Itoa(100 * *n)
	args = append(args, "--offline-chunk-delay", chunkDelay.String(), "--workers", strconv.Itoa(*workers),
		"--submit-rate", rate, "--submit-burst", rate, "--fair-share="+strconv.FormatBool(fair))
	var srv, wrk *benchutil.Proc
	if *prefill {
		apiArgs := append(args[:len(args):len(args)], "--role", "api")
		if db == "postgres" {
			// The API process needs few connections (the PostgreSQL may be
			// shared: its max_connections counts both processes).
			sep := "?"
			if strings.Contains(apiArgs[1], "?") {
				sep = "&"
			}
			apiArgs[1] += sep + "pool_max_conns=8"
		}
		srv, err = benchutil.StartServer(*bin, dir, filepath.Join(*work, name+"-api.log"), apiArgs...)
	} else {
		srv, err = benchutil.StartServer(*bin, dir, filepath.Join(*work, name+".log"), args...)
	}
	check(err)
	defer srv.Stop()
	cleanups = append(cleanups, srv.Stop)
	c := benchutil.Client(*subs + 4)

	// A's backlog, then B's one job once every submit of A has been answered.
	ids := make([]string, *n)
	sent, answered := make([]time.Time, *n), make([]time.Time, *n) // client clock
	var limited atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range *subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				sent[i] = time.Now()
				s, l, err := benchutil.SubmitRetry(ctx, c, srv.URL, a.Token, benchutil.Input(i))
				answered[i] = time.Now()
				if err != nil {
					fatalf("%s: submit %d: %v", name, i, err)
				}
				limited.Add(int64(l))
				ids[i] = s.ID
			}
		}()
	}
	wg.Wait()
	submitS := time.Since(t0).Seconds()
	get := func(tok, id string) snap {
		_, body, err := benchutil.Get(ctx, c, srv.URL, tok, id)
		if err != nil {
			fatalf("%s: %v", name, err)
		}
		var s snap
		check(json.Unmarshal(body, &s))
		return s
	}
	if *prefill {
		// The backlog is in; workers start, and B submits once two waves
		// of A's jobs have finished (the queue in its steady state).
		wrk, err = benchutil.StartServer(*bin, dir, filepath.Join(*work, name+"-worker.log"), append(args, "--role", "worker")...)
		check(err)
		defer wrk.Stop()
		cleanups = append(cleanups, wrk.Stop)
		for !get(a.Token, ids[min(2**workers, *n)-1]).Terminal {
			if ctx.Err() != nil {
				fatalf("%s: A's first jobs did not finish within %v", name, *runTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	bs, l, err := benchutil.SubmitRetry(ctx, c, srv.URL, b.Token, benchutil.Input(*n))
	check(err)
	limited.Add(int64(l))

	// Poll lightly (A's last job finishes about last) so the client adds
	// little load while the backlog drains; then read every job.
	for !get(a.Token, ids[*n-1]).Terminal || !get(b.Token, bs.ID).Terminal {
		if ctx.Err() != nil {
			fatalf("%s: the backlog did not drain within %v", name, *runTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
	aj := make([]snap, *n)
	for i, id := range ids {
		s := get(a.Token, id)
		if !s.Terminal {
			if _, err := benchutil.WaitTerminal(ctx, c, srv.URL, a.Token, id, time.Until(deadline(ctx))); err != nil {
				fatalf("%s: %v", name, err)
			}
			s = get(a.Token, id)
		}
		aj[i] = s
	}
	bj := get(b.Token, bs.ID)
	res := result{fair: fair, submitS: submitS, limited: limited.Load(), cpuS: benchutil.CPUSeconds(srv.Pid())}
	if wrk != nil {
		res.cpuS += benchutil.CPUSeconds(wrk.Pid())
	}
	for _, p := range []*benchutil.Proc{srv, wrk} {
		if p != nil {
			b, _ := os.ReadFile(p.LogPath)
			res.refused += strings.Count(string(b), "SQLSTATE 53300")
		}
	}

	all := append(append([]snap(nil), aj...), bj)
	var took time.Duration
	first, firstStart, last, aLast := all[0].CreatedAt, time.Time{}, time.Time{}, time.Time{}
	ran := 0 // A's jobs that ran (a failed job may have no start)
	if bj.StartedAt == nil {
		fatalf("%s: B's job %s is %s and never started", name, bj.ID, bj.Status)
	}
	for i, s := range all {
		if s.Status != "completed" {
			res.failed++
			log.Printf("%s: job %s is %s (left out if it never ran)", name, s.ID, s.Status)
		}
		if s.CreatedAt.Before(first) {
			first = s.CreatedAt
		}
		if s.StartedAt == nil || s.FinishedAt == nil {
			continue
		}
		if firstStart.IsZero() || s.StartedAt.Before(firstStart) {
			firstStart = *s.StartedAt
		}
		if s.FinishedAt.After(last) {
			last = *s.FinishedAt
		}
		if i < *n {
			ran++
			took += s.FinishedAt.Sub(*s.StartedAt)
			if s.FinishedAt.After(aLast) {
				aLast = *s.FinishedAt
			}
			if s.StartedAt.After(bj.CreatedAt) {
				res.queuedAtB++
				if s.StartedAt.Before(*bj.StartedAt) {
					res.aheadOfB++
				}
			}
		}
	}
	res.mean = took / time.Duration(max(ran, 1))
	res.bWait = bj.StartedAt.Sub(bj.CreatedAt)
	// The clock starts at A's first submit, or with -prefill when the
	// workers start (the first job starts: B is not among the first).
	from := first
	if *prefill {
		from = firstStart
	}
	res.total = last.Sub(from)
	res.rate = float64(len(all)) / res.total.Seconds()
	res.drain = aLast.Sub(from)
	res.bCreatedAfter = bj.CreatedAt.Sub(from)

	if *dump {
		f, err := os.Create(filepath.Join(*work, name+".csv"))
		check(err)
		fmt.Fprintln(f, "user,index,id,created_us,started_us,finished_us")
		for i, s := range all {
			if s.StartedAt == nil || s.FinishedAt == nil {
				continue
			}
			u := "A"
			if i == *n {
				u = "B"
			}
			fmt.Fprintf(f, "%s,%d,%s,%d,%d,%d\n", u, i, s.ID, s.CreatedAt.Sub(first).Microseconds(), s.StartedAt.Sub(first).Microseconds(), s.FinishedAt.Sub(first).Microseconds())
		}
		f.Close()
	}
	// Submit order: job i was submitted before job j if i's submit was
	// answered before j's was sent (concurrent submits have no order).
	// Sweep the jobs in the order they were sent, keeping the latest start
	// of the jobs answered before.
	bySent, byAnswered := make([]int, *n), make([]int, *n)
	for i := range bySent {
		bySent[i], byAnswered[i] = i, i
	}
	sort.Slice(bySent, func(x, y int) bool { return sent[bySent[x]].Before(sent[bySent[y]]) })
	sort.Slice(byAnswered, func(x, y int) bool { return answered[byAnswered[x]].Before(answered[byAnswered[y]]) })
	var latest time.Time
	k := 0
	for _, j := range bySent {
		for ; k < *n && answered[byAnswered[k]].Before(sent[j]); k++ {
			if st := aj[byAnswered[k]].StartedAt; st != nil && st.After(latest) {
				latest = *st
			}
		}
		if aj[j].StartedAt == nil {
			continue
		}
		if d := latest.Sub(*aj[j].StartedAt); !latest.IsZero() && d > *tolerance {
			res.inversions++
			res.worstInversion = max(res.worstInversion, d)
		}
	}
	return res
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
