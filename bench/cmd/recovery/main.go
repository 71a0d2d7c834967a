// Command recovery measures how long jobs in flight stay stuck after their
// worker process is killed with SIGKILL, with default flags (a 10-s node
// lease), on SQLite and PostgreSQL, in two scenarios:
//
//   - restart: the embedded server (role all) is killed and started again
//     on the same database, as after a crash and a supervisor's restart;
//   - failover: two processes share the database, one is killed, the
//     other one is alive and takes the jobs over.
//
// For each it reports the time from the kill until every job that was
// running on the killed process runs again (its attempt 2 has started),
// and, as the reference measured in the same run, the time a fresh job
// takes from submit to working on the same server (the scheduling floor)
// and the lease itself, which bounds recovery by design.
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
	"strings"
	"sync"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

func main() {
	bin := benchutil.AijobsFlag()
	work := benchutil.WorkFlag()
	rounds := flag.Int("rounds", 2, "rounds of each scenario")
	n := flag.Int("jobs", 20, "jobs in flight at the kill")
	dbs := flag.String("db", "sqlite,postgres", "comma-separated databases: sqlite, postgres")
	flag.Parse()
	log.SetFlags(log.Ltime)
	for _, db := range strings.Split(*dbs, ",") {
		for _, scenario := range []string{"restart", "failover"} {
			for r := 1; r <= *rounds; r++ {
				res := run(*bin, *work, db, scenario, *n, r)
				log.Printf("%s %s round %d: %d jobs handed back; all running again %.1f s after the kill (median %.1f s, %.1f s after the restarted process was ready); a fresh job starts in %.0f ms",
					db, scenario, r, res.handedBack, res.max.Seconds(), res.median.Seconds(), res.afterReady.Seconds(), float64(res.floor.Microseconds())/1000)
				benchutil.Summary("recovery %s %s round %d: every in-flight job running again %.1f s after kill -9 (lease 10 s: %.2f leases; a fresh job starts in %.0f ms)",
					db, scenario, r, res.max.Seconds(), res.max.Seconds()/10, float64(res.floor.Microseconds())/1000)
			}
		}
	}
}

type result struct {
	handedBack              int
	max, median, afterReady time.Duration
	floor                   time.Duration
}

// snapshot is what recovery reads of a job.
type snapshot struct {
	Status   string `json:"status"`
	Attempt  int    `json:"attempt"`
	Terminal bool   `json:"terminal"`
}

func run(bin, work, db, scenario string, n, round int) result {
	ctx := context.Background()
	dir := filepath.Join(work, fmt.Sprintf("recovery-%s-%s-%d", db, scenario, round))
	os.RemoveAll(dir)
	benchutil.Check(os.MkdirAll(dir, 0o700))
	dbURL, args := benchutil.SQLiteURL(dir), []string(nil)
	if db == "postgres" {
		pg, err := benchutil.NewPGDatabase(benchutil.DefaultPG())
		benchutil.Check(err)
		defer pg.Drop()
		dbURL, args = pg.URL, []string{"--database-url", pg.URL}
	}
	users, err := benchutil.MakeUsers(ctx, dbURL, "rec", 1, 100000)
	benchutil.Check(err)
	tok := users[0].Token
	logf := func(name string) string { return filepath.Join(dir, name+".log") }

	// The process that serves the API stays; the victim runs jobs and dies.
	api, err := benchutil.StartServer(bin, dir, logf("api"), args...)
	benchutil.Check(err)
	defer func() { api.Stop() }()
	victim := api
	if scenario == "failover" {
		victim, err = benchutil.StartServer(bin, dir, logf("victim"), append(args, "--role", "worker")...)
		benchutil.Check(err)
		defer victim.Stop()
	}
	c := benchutil.Client(8)
	get := func(id string) snapshot {
		_, b, err := benchutil.Get(ctx, c, api.URL, tok, id)
		var s snapshot
		if err == nil {
			json.Unmarshal(b, &s)
		}
		return s
	}

	// The floor: one fresh job from submit to working on the idle server.
	start := time.Now()
	first, err := benchutil.Submit(ctx, c, api.URL, tok, benchutil.Input(0))
	benchutil.Check(err)
	for get(first.ID).Status != "working" {
		time.Sleep(2 * time.Millisecond)
	}
	floor := time.Since(start)

	ids := make([]string, n)
	for i := range ids {
		s, _, err := benchutil.SubmitRetry(ctx, c, api.URL, tok, "[[offline:slow]] "+benchutil.Input(i+1))
		benchutil.Check(err)
		ids[i] = s.ID
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for get(id).Status != "working" {
			if time.Now().After(deadline) {
				log.Fatalf("job %s never started", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the output flow, as in a real crash
	victim.Cmd.Process.Kill()
	killed := time.Now()
	ready := killed
	if scenario == "restart" {
		api, err = benchutil.StartServer(bin, dir, logf("restarted"), args...)
		benchutil.Check(err)
		ready = time.Now()
	}

	var (
		mu    sync.Mutex
		times []time.Duration
		wg    sync.WaitGroup
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(killed) < 2*time.Minute {
				s := get(id)
				if s.Attempt >= 2 {
					mu.Lock()
					times = append(times, time.Since(killed))
					mu.Unlock()
					return
				}
				if s.Terminal {
					return // it ran on the live process all along
				}
				time.Sleep(50 * time.Millisecond)
			}
			log.Fatalf("job %s still not running again 2 minutes after the kill", id)
		}()
	}
	wg.Wait()
	if len(times) == 0 {
		log.Fatalf("%s %s: no job was running on the killed process", db, scenario)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	worst := times[len(times)-1]
	return result{handedBack: len(times), max: worst, median: times[len(times)/2], afterReady: worst - ready.Sub(killed), floor: floor}
}
