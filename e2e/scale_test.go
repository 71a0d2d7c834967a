package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is several aijobs processes sharing one PostgreSQL database.
type cluster struct {
	t     *testing.T
	dbURL string
	dir   string
}

// node starts one process with the given role and returns a server handle
// pointing at it.
func (c *cluster) node(role string, args ...string) (*server, *process) {
	c.t.Helper()
	s := &server{t: c.t, dataDir: c.dir, dbURL: c.dbURL, addr: freeAddr(c.t)}
	p := s.spawn(c.t, append([]string{"--role", role}, args...)...)
	return s, p
}

// followUser follows a user's SSE stream, reconnecting with Last-Event-ID
// when it drops, and sends the id of every job that ends.
func followUser(t *testing.T, url string, finished chan<- string) {
	last := ""
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				last = id
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev struct {
					JobID string `json:"job_id"`
					Type  string
				}
				jsonUnmarshal(data, &ev)
				if ev.Type == "completed" || ev.Type == "failed" || ev.Type == "cancelled" {
					finished <- ev.JobID
				}
			}
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
	}
}

// streamToken gets a token for all of the user's streams.
func streamToken(t *testing.T, a *api) string {
	t.Helper()
	var v struct {
		StreamToken string `json:"stream_token"`
	}
	a.do("POST", "/api/v1/stream_tokens", nil).json(t, &v)
	return v.StreamToken
}

func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := newDatabaseURL(t, postgres)
	var wg sync.WaitGroup
	errs := make([]string, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(binary(t), "migrate", "--database-url", url, "--data-dir", t.TempDir()).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Sprintf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Errorf("concurrent migrate failed: %s", e)
		}
	}
}

func TestScaleOut(t *testing.T) {
	t.Parallel()
	c := &cluster{t: t, dbURL: newDatabaseURL(t, postgres), dir: t.TempDir()}
	// Every node shares the secret key through the data directory here; in
	// production they share --secret-key.
	args := []string{"--offline-chunk-delay", "40ms"} // default lease and timeouts
	apiA, _ := c.node("api", args...)
	apiB, _ := c.node("api", args...)
	_, w1 := c.node("worker", args...)
	_, w2 := c.node("worker", args...)
	tok := apiA.token("nia")
	a, b := apiA.client(tok), apiB.client(tok)

	t.Run("a job submitted on B streams to a client on A", func(t *testing.T) {
		j := b.submit("I want to cycle 100 km in one day by September")
		events := collectSSE(t, apiA.URL+"/api/v1/jobs/"+j.ID+"/events?token="+j.StreamToken, 60*time.Second)
		checkContiguous(t, events)
		if last := events[len(events)-1]; last.typ != "completed" {
			t.Fatalf("last event %s, want completed", last.typ)
		}
	})

	t.Run("long-poll on A sees a change made on a worker", func(t *testing.T) {
		j := b.submit("[[offline:slow]] plan a garden")
		start := time.Now()
		r := a.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=20&since=%d", j.ID, j.Seq), nil)
		if r.Status != 200 || time.Since(start) > 10*time.Second {
			t.Errorf("cross-node long-poll: %d after %v", r.Status, time.Since(start))
		}
		b.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil)
	})

	t.Run("cancel on A stops the worker at once", func(t *testing.T) {
		j := b.submit("[[offline:slow]] write a long story about a lighthouse")
		a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		c := a.do("POST", "/api/v1/jobs/"+j.ID+"/cancel", nil)
		var cj job
		c.json(t, &cj)
		time.Sleep(1500 * time.Millisecond)
		if got := b.get(j.ID); got.Status != "cancelled" || got.Seq != cj.Seq {
			t.Errorf("after a cross-node cancel the job moved on: %s seq %d (cancelled at %d)", got.Status, got.Seq, cj.Seq)
		}
	})

	t.Run("kill -9 of a worker mid-job", func(t *testing.T) {
		var ids []string
		for i := 0; i < 6; i++ {
			ids = append(ids, b.submit(fmt.Sprintf("I want to save %d euros a month", 100*(i+1))).ID)
		}
		a.waitFor(ids[0], 30*time.Second, func(j job) bool { return j.Status == "working" })
		w1.kill(t)
		killed := time.Now()
		for _, id := range ids {
			j := a.waitFor(id, 90*time.Second, func(j job) bool { return j.Terminal })
			if j.Status != "completed" {
				t.Errorf("job %s: %s %+v", id, j.Status, j.Error)
			}
			seqsOf(t, a, id)
		}
		// The killed node's attempts went back to the live worker within
		// one default lease (10 s) and a sweep.
		if took := time.Since(killed); took > 30*time.Second {
			t.Errorf("the killed worker's jobs took %v to complete on the other worker", took)
		}
	})
	_ = w2
}

// sseEvent is one parsed SSE event.
type sseEvent struct {
	id  string
	seq int64
	typ string
}

// collectSSE reads an SSE stream until it ends or timeout.
func collectSSE(t *testing.T, url string, timeout time.Duration) []sseEvent {
	t.Helper()
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SSE %s: status %d", url, resp.StatusCode)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			var ev struct {
				Seq  int64
				Type string
			}
			if err := jsonUnmarshal(line[6:], &ev); err != nil {
				t.Fatalf("bad event data %q: %v", line, err)
			}
			cur.seq, cur.typ = ev.Seq, ev.Type
		case line == "" && cur.typ != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no events from %s", url)
	}
	return out
}

// checkContiguous checks a job stream: a snapshot, then seqs rising by one.
func checkContiguous(t *testing.T, evs []sseEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].seq != evs[i-1].seq+1 {
			t.Fatalf("events not contiguous at %d: %v", i, evs)
		}
	}
}

// pgCluster is a PostgreSQL server of the test's own, so the test can stop
// and start it without disturbing other tests.
type pgCluster struct {
	t    *testing.T
	bin  string
	dir  string
	port string
}

func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	_, runuserErr := exec.LookPath("runuser")
	if len(bins) == 0 || runuserErr != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) and root to run them as user postgres")
		}
		t.Skip("needs PostgreSQL's server binaries and root (to run a private PostgreSQL as user postgres)")
	}
	pg := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: filepath.Join(os.TempDir(), "aijobs-pg-"+strings.ToLower(randText(8)))}
	pg.port = strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	if err := os.MkdirAll(pg.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pg.run("chown", "postgres", pg.dir)
	pg.asPostgres(filepath.Join(pg.bin, "initdb"), "-D", pg.dir+"/data", "-A", "trust", "-U", "postgres")
	pg.start()
	t.Cleanup(func() {
		pg.asPostgresQuiet(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.dir+"/data", "-m", "immediate", "stop")
		os.RemoveAll(pg.dir)
	})
	return pg
}

func (pg *pgCluster) run(name string, args ...string) {
	pg.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		pg.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (pg *pgCluster) asPostgres(args ...string) {
	pg.t.Helper()
	pg.run("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
}

func (pg *pgCluster) asPostgresQuiet(args ...string) {
	exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).Run()
}

func (pg *pgCluster) start() {
	pg.t.Helper()
	pg.asPostgres(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.dir+"/data", "-w", "-l", pg.dir+"/log",
		"-o", "-p "+pg.port+" -k "+pg.dir+" -c listen_addresses=127.0.0.1 -c fsync=off", "start")
}

// stop stops the server at once, cutting every connection.
func (pg *pgCluster) stop() {
	pg.t.Helper()
	pg.asPostgres(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.dir+"/data", "-m", "immediate", "-w", "stop")
}

func (pg *pgCluster) url() string {
	return "postgres://postgres@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	newDatabaseURL(t, postgres) // fails under CI, skips elsewhere, without PostgreSQL
	pg := newPGCluster(t)
	// An API node and a worker node: the API node's clients hear of the
	// worker's events through LISTEN/NOTIFY, whose connection the outage cuts.
	c := &cluster{t: t, dbURL: pg.url(), dir: t.TempDir()}
	args := []string{"--offline-chunk-delay", "20ms"}
	s, _ := c.node("api", args...)
	c.node("worker", args...)
	a := s.client(s.token("olu"))
	// A user stream open across the outage must see every job end.
	finished := make(chan string, 1000)
	go followUser(t, s.URL+"/api/v1/events?token="+streamToken(t, a), finished)

	// Load: submitters keep going through the outage.
	var (
		mu        sync.Mutex
		accepted  []string
		statuses  = map[int]int{}
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		submitted int
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": fmt.Sprintf("What is a good habit number %d?", i)})
				mu.Lock()
				submitted++
				statuses[r.Status]++
				if r.Status == 202 {
					var j job
					r.json(t, &j)
					accepted = append(accepted, j.ID)
				}
				if r.Status == 503 && r.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				mu.Unlock()
				time.Sleep(250 * time.Millisecond) // 8 submits/s: under the rate limit
			}
		}()
	}
	time.Sleep(time.Second)
	pg.stop()
	time.Sleep(500 * time.Millisecond)
	// During the outage: clear 503s (never a hang), and /readyz fails.
	start := time.Now()
	r := a.do("GET", "/api/v1/jobs", nil)
	if r.Status != 503 || time.Since(start) > 5*time.Second {
		t.Errorf("list during outage: %d after %v, want a quick 503", r.Status, time.Since(start))
	}
	wantError(t, r, 503, "store_unavailable")
	if code, _ := httpGet(s.URL + "/readyz"); code != 503 {
		t.Errorf("/readyz during outage: %d", code)
	}
	time.Sleep(2 * time.Second)
	pg.start()
	// Everything resumes without a restart.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := httpGet(s.URL + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if statuses[503] == 0 || statuses[202] == 0 {
		t.Errorf("statuses during the run: %v (want some 202s and some 503s)", statuses)
	}
	for code := range statuses {
		if code != 202 && code != 503 {
			t.Errorf("unexpected status %d during the outage (%v)", code, statuses)
		}
	}
	// No accepted job is lost: every one completes, with a whole event log.
	for _, id := range accepted {
		j := a.waitFor(id, 90*time.Second, func(j job) bool { return j.Terminal })
		if j.Status != "completed" {
			t.Errorf("job %s after the outage: %s %+v", id, j.Status, j.Error)
		}
		seqsOf(t, a, id)
	}
	// The live stream saw every job end, the outage notwithstanding.
	want := map[string]bool{}
	for _, id := range accepted {
		want[id] = true
	}
	giveUp := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case id := <-finished:
			delete(want, id)
		case <-giveUp:
			t.Fatalf("the user stream on the API node never saw %d jobs end", len(want))
		}
	}
	t.Logf("%d submits: %v; %d jobs accepted and completed", submitted, statuses, len(accepted))
}
