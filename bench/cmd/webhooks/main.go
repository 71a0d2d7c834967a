// Command webhooks measures what webhook deliveries cost and how soon they
// arrive: -n jobs through `aijobs serve --offline-chunk-delay 0`, each with
// a webhook_url to a receiver on loopback (which verifies every signature
// with client.VerifyWebhook), against the same jobs without a webhook, in
// the same run, interleaved:
//
//	without webhooks, with webhooks   (× -rounds), each on a fresh database
//
// Both runs wait for every job with long-polls and take the job rate from
// the jobs' own finished_at (n / (last finished_at − first submit)). The
// webhook run also reports the delivery lag (arrival at the receiver −
// finished_at; finished_at has microseconds, the receiver's clock is the
// same machine's) and the rate of deliveries. With -rate the submits are
// paced below what the server can take, for the lag of an unsaturated
// server.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
	"github.com/aijobs/aijobs/client"
)

var (
	kind    = flag.String("db", "sqlite", "sqlite or postgres")
	bin     = benchutil.AijobsFlag()
	work    = benchutil.WorkFlag()
	pgURL   = flag.String("pg", benchutil.DefaultPG(), "PostgreSQL admin URL (a database is created per run)")
	n       = flag.Int("n", 2000, "jobs per run")
	users   = flag.Int("users", 200, "users submitting (the submit limit is 10/s, burst 20, per user)")
	subs    = flag.Int("submitters", 32, "concurrent submit requests")
	rounds  = flag.Int("rounds", 2, "rounds")
	rate    = flag.Float64("rate", 0, "submits per second (0: as fast as the server takes them, which saturates it)")
	timeout = flag.Duration("timeout", 5*time.Minute, "give up on one run after")
)

type result struct {
	rate, seconds, cpuS float64
	delivered           int
	badSignatures       int64
	lags                []float64 // seconds, sorted
	deliveryRate        float64
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	for round := 1; round <= *rounds; round++ {
		plain := run(round, false)
		hooked := run(round, true)
		log.Printf("round %d %s: without webhooks %.0f jobs/s (server CPU %.2f ms/job); with %.0f jobs/s (%.2f ms/job), %d deliveries at %.0f/s, %d bad signatures",
			round, *kind, plain.rate, plain.cpuS/float64(*n)*1e3, hooked.rate, hooked.cpuS/float64(*n)*1e3, hooked.delivered, hooked.deliveryRate, hooked.badSignatures)
		p := func(q float64) float64 { return benchutil.Percentile(hooked.lags, q) * 1e3 }
		benchutil.Summary("webhooks %s round %d: %d jobs (rate %s): %.0f jobs/s with a webhook each vs %.0f without = %.3f; server CPU/job %.2f ms vs %.2f ms; delivery lag after finished_at p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms; %d of %d delivered, %d bad signatures",
			*kind, round, *n, rateName(), hooked.rate, plain.rate, hooked.rate/plain.rate, hooked.cpuS/float64(*n)*1e3, plain.cpuS/float64(*n)*1e3,
			p(50), p(95), p(99), p(100), hooked.delivered, *n, hooked.badSignatures)
	}
}

func freshDB(name string) (url, dataDir string, cleanup func()) {
	dataDir = filepath.Join(*work, name)
	os.RemoveAll(dataDir)
	os.MkdirAll(dataDir, 0o700)
	if *kind == "sqlite" {
		return benchutil.SQLiteURL(dataDir), dataDir, func() { os.RemoveAll(dataDir) }
	}
	pg, err := benchutil.NewPGDatabase(*pgURL)
	benchutil.Check(err)
	return pg.URL, dataDir, func() { pg.Drop(); os.RemoveAll(dataDir) }
}

// receiver records when each job's delivery arrives, verifying signatures.
type receiver struct {
	secrets map[string]string // user index (the URL's ?u=) → that user's secret
	mu      sync.Mutex
	arrived map[string]time.Time // job id → first arrival
	bad     atomic.Int64
	done    chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	user, _ := strconv.Atoi(r.URL.Query().Get("u"))
	if err := client.VerifyWebhook(rc.secrets[strconv.Itoa(user)], r.Header, body, 0); err != nil {
		rc.bad.Add(1)
	}
	var j struct {
		ID string `json:"job_id"`
	}
	json.Unmarshal(body, &j)
	rc.mu.Lock()
	if _, ok := rc.arrived[j.ID]; !ok {
		rc.arrived[j.ID] = now
		if len(rc.arrived) == *n {
			close(rc.done)
		}
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func run(round int, hooks bool) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := fmt.Sprintf("wh-%s-%d-%v", *kind, round, hooks)
	url, dataDir, cleanup := freshDB(name)
	defer cleanup()
	us, err := benchutil.MakeUsers(ctx, url, "wh", *users, int64(*n))
	benchutil.Check(err)
	args := []string{"--offline-chunk-delay", "0", "--webhook-allow-private", "--max-streams", "1000"}
	if *kind == "postgres" {
		args = append(args, "--database-url", url)
	}
	srv, err := benchutil.StartServer(*bin, dataDir, filepath.Join(*work, name+".log"), args...)
	benchutil.Check(err)
	defer srv.Stop()
	c := benchutil.Client(*subs + *n + 10)

	rc := &receiver{secrets: map[string]string{}, arrived: map[string]time.Time{}, done: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	benchutil.Check(err)
	hs := &http.Server{Handler: rc}
	go hs.Serve(ln)
	defer hs.Close()
	if hooks {
		for i, u := range us {
			sec, err := client.New(srv.URL, u.Token, &client.Options{HTTPClient: c}).RotateWebhookSecret(ctx)
			benchutil.Check(err)
			rc.secrets[strconv.Itoa(i)] = sec
		}
	}

	cpu0 := benchutil.CPUSeconds(srv.Pid())
	ids := make([]string, *n)
	next := make(chan int, *n)
	for i := range *n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	t0 := time.Now()
	var pace <-chan time.Time
	if *rate > 0 {
		tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer tick.Stop()
		pace = tick.C
	}
	for range *subs {
		wg.Go(func() {
			for i := range next {
				if pace != nil {
					<-pace
				}
				u := us[i%len(us)]
				body := map[string]any{"input": benchutil.Input(i)}
				if hooks {
					body["webhook_url"] = fmt.Sprintf("http://%s/hook?u=%d", ln.Addr(), i%len(us))
				}
				ids[i] = submit(ctx, c, srv.URL, u.Token, body)
			}
		})
	}
	wg.Wait()
	// Every job terminal, and when it finished (by its own clock).
	finished := make([]time.Time, *n)
	for i := range *n {
		wg.Go(func() {
			u := us[i%len(us)]
			_, err := benchutil.WaitTerminal(ctx, c, srv.URL, u.Token, ids[i], *timeout)
			benchutil.Check(err)
			_, b, err := benchutil.Get(ctx, c, srv.URL, u.Token, ids[i])
			benchutil.Check(err)
			var j struct {
				FinishedAt time.Time `json:"finished_at"`
			}
			benchutil.Check(json.Unmarshal(b, &j))
			finished[i] = j.FinishedAt
		})
	}
	wg.Wait()
	last := t0
	for _, f := range finished {
		if f.After(last) {
			last = f
		}
	}
	res := result{seconds: last.Sub(t0).Seconds()}
	res.rate = float64(*n) / res.seconds
	if hooks {
		select {
		case <-rc.done:
		case <-time.After(*timeout):
			log.Fatalf("only %d of %d deliveries after %v; server log %s", len(rc.arrived), *n, *timeout, srv.LogPath)
		}
		rc.mu.Lock()
		lastArrival := t0
		for i, id := range ids {
			at := rc.arrived[id]
			res.lags = append(res.lags, at.Sub(finished[i]).Seconds())
			if at.After(lastArrival) {
				lastArrival = at
			}
		}
		res.delivered = len(rc.arrived)
		rc.mu.Unlock()
		res.lags = benchutil.Sorted(res.lags)
		res.deliveryRate = float64(*n) / lastArrival.Sub(t0).Seconds()
		res.badSignatures = rc.bad.Load()
	}
	res.cpuS = benchutil.CPUSeconds(srv.Pid()) - cpu0
	return res
}

// submit posts one request, waiting out 429s.
func submit(ctx context.Context, c *http.Client, base, token string, body map[string]any) string {
	b, _ := json.Marshal(body)
	for tries := 0; ; tries++ {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/ai/proxy", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		benchutil.Check(err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTooManyRequests && tries < 300:
			time.Sleep(100 * time.Millisecond)
			continue
		case resp.StatusCode != http.StatusAccepted:
			log.Fatalf("submit: %d %s", resp.StatusCode, out)
		}
		var s struct {
			ID string `json:"job_id"`
		}
		benchutil.Check(json.Unmarshal(out, &s))
		return s.ID
	}
}

func rateName() string {
	if *rate == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%g/s", *rate)
}
