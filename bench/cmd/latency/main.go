// Command latency measures push latency: the time from a job change to an
// SSE client receiving it, with -streams concurrent streams, each following
// its own running job (GET /api/v1/jobs/{id}/events) while the offline
// provider streams at a slow pace (-delay between chunks: each job emits
// one output event per chunk). Latency is the receive time minus the
// event's "at" (set by the server when it makes the change, before the
// write commits; same machine, same clock). Snapshot events are not
// changes and are left out.
//
// The reference, in the same run: as many streams of bareserver's /tick,
// which sends an event with its send time at the same per-stream pace, read
// by the same client code. Rounds alternate reference and aijobs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

var (
	bin     = benchutil.AijobsFlag()
	bareBin = benchutil.BareFlag()
	work    = benchutil.WorkFlag()
	streams = flag.Int("streams", 1000, "concurrent SSE streams (one running job each)")
	users   = flag.Int("users", 100, "users the jobs belong to")
	delay   = flag.Duration("delay", 2*time.Second, "offline provider chunk delay (the job's pace)")
	warm    = flag.Duration("warmup", 3*time.Second, "wait after the streams are open before measuring")
	window  = flag.Duration("window", 30*time.Second, "measurement window")
	rounds  = flag.Int("rounds", 2, "rounds")
	spread  = flag.Duration("spread", 2*time.Second, "submit the jobs evenly over this long, so their changes are spread in time (0: all at once, then every change of every job comes in one burst per -delay)")
)

type stats struct {
	n                        int
	p50, p90, p99, p999, max float64 // milliseconds
	opened                   int
}

func (s stats) String() string {
	return fmt.Sprintf("%d events, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms", s.n, s.p50, s.p90, s.p99, s.p999, s.max)
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	type row struct{ bare, aijobs stats }
	var rows []row
	for round := 1; round <= *rounds; round++ {
		var r row
		r.bare = runBare(round)
		log.Printf("round %d bare SSE: %v", round, r.bare)
		r.aijobs = runAijobs(round)
		log.Printf("round %d aijobs SSE: %v", round, r.aijobs)
		rows = append(rows, r)
	}
	for i, r := range rows {
		benchutil.Summary("latency round %d: %d SSE streams, 1 event/%v each, jobs submitted over %v: aijobs p50 %.1f ms p99 %.1f ms (max %.1f, %d events) vs bare p50 %.1f ms p99 %.1f ms = p99 ratio %.1f (target p99 < 50 ms)",
			i+1, *streams, *delay, *spread, r.aijobs.p50, r.aijobs.p99, r.aijobs.max, r.aijobs.n, r.bare.p50, r.bare.p99, r.aijobs.p99/r.bare.p99)
	}
}

// collector gathers latencies that fall inside the window.
type collector struct {
	mu       sync.Mutex
	from, to time.Time
	ms       []float64
}

func (c *collector) add(at, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.from.IsZero() || recv.Before(c.from) || recv.After(c.to) {
		return
	}
	c.ms = append(c.ms, float64(recv.Sub(at))/float64(time.Millisecond))
}

func (c *collector) start() {
	c.mu.Lock()
	c.from = time.Now()
	c.to = c.from.Add(*window)
	c.mu.Unlock()
}

func (c *collector) stats() stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := benchutil.Sorted(c.ms)
	if len(s) == 0 {
		return stats{}
	}
	return stats{n: len(s), p50: benchutil.Percentile(s, 50), p90: benchutil.Percentile(s, 90), p99: benchutil.Percentile(s, 99),
		p999: benchutil.Percentile(s, 99.9), max: s[len(s)-1]}
}

type event struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
}

// follow opens the streams (at most 100 opening at once), feeds col, and
// returns when all are open.
func follow(ctx context.Context, urls []string, headers []map[string]string, col *collector) int {
	c := benchutil.ManyConnClient(1)
	var opened atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i, u := range urls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			st, err := benchutil.OpenSSE(ctx, c, u, headers[i])
			<-sem
			wg.Done()
			if err != nil {
				log.Printf("open stream: %v", err)
				return
			}
			opened.Add(1)
			defer st.Close()
			for {
				ev, err := st.Next()
				if err != nil {
					return
				}
				var e event
				if json.Unmarshal([]byte(ev.Data), &e) != nil || e.Type == "snapshot" || e.Type == "resync" {
					continue
				}
				col.add(e.At, ev.At)
			}
		}()
	}
	wg.Wait()
	return int(opened.Load())
}

func runBare(round int) stats {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := benchutil.FreeAddr()
	bare, err := benchutil.StartPlain(*bareBin, []string{"-addr", addr}, addr, filepath.Join(*work, fmt.Sprintf("lat-bare-%d.log", round)), "/readyz")
	benchutil.Check(err)
	defer bare.Stop()
	urls := make([]string, *streams)
	hdrs := make([]map[string]string, *streams)
	for i := range urls {
		urls[i] = bare.URL + "/tick?every=" + delay.String()
	}
	col := &collector{}
	opened := follow(ctx, urls, hdrs, col)
	time.Sleep(*warm)
	col.start()
	time.Sleep(*window)
	s := col.stats()
	s.opened = opened
	cancel()
	return s
}

func runAijobs(round int) stats {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := filepath.Join(*work, fmt.Sprintf("lat-data-%d", round))
	os.RemoveAll(dataDir)
	defer os.RemoveAll(dataDir)
	us, err := benchutil.MakeUsers(ctx, benchutil.SQLiteURL(dataDir), "lat", *users, int64(*streams))
	benchutil.Check(err)
	srv, err := benchutil.StartServer(*bin, dataDir, filepath.Join(*work, fmt.Sprintf("lat-aijobs-%d.log", round)),
		"--offline-chunk-delay", delay.String(), "--workers", strconv.Itoa(*streams+50), "--max-streams", strconv.Itoa(*streams))
	benchutil.Check(err)
	defer srv.Stop()

	// Submit: -streams jobs, spread over the users (10/s, burst 20 each).
	c := benchutil.Client(64)
	ids, tokens := benchutil.SubmitSpread(ctx, c, srv.URL, us, *streams, *spread)
	urls := make([]string, *streams)
	hdrs := make([]map[string]string, *streams)
	for i := range urls {
		urls[i] = srv.URL + "/api/v1/jobs/" + ids[i] + "/events"
		hdrs[i] = map[string]string{"Authorization": "Bearer " + tokens[i]}
	}
	col := &collector{}
	opened := follow(ctx, urls, hdrs, col)
	if opened != *streams {
		log.Printf("only %d of %d streams opened", opened, *streams)
	}
	time.Sleep(*warm)
	if running := benchutil.CountRunning(ctx, c, srv.URL, tokens, ids); running < *streams*9/10 {
		log.Printf("warning: only %d of %d jobs still running at the start of the window", running, *streams)
	}
	col.start()
	time.Sleep(*window)
	s := col.stats()
	s.opened = opened
	cancel()
	return s
}
