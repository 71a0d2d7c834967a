// Command poll measures the poll rate of GET /api/v1/jobs/{id} (a valid API
// token, SQLite default) on a real `aijobs serve`, for a completed job and
// for a running one (held working by the offline provider), 200 and 304
// (If-None-Match matching), each against a bareserver's GET /job returning
// the same bytes, all driven by wrk in the same run, interleaved:
//
//	bare/aijobs finished 200, finished 304, running 200, running 304   (× -rounds)
//
// It also reports the server CPU time per request of each (from /proc), a
// figure less sensitive than requests/s to wrk sharing the 2 cores.
// With -profbin it then runs the same load on profserve (aijobs with a CPU
// profiler) and prints the top of the profiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

func main() {
	bin := benchutil.AijobsFlag()
	bareBin := benchutil.BareFlag()
	profBin := flag.String("profbin", "", "profserve binary: profile the aijobs handler after the rounds")
	work := benchutil.WorkFlag()
	rounds := flag.Int("rounds", 2, "rounds of the eight measurements")
	dur := flag.Duration("d", 10*time.Second, "wrk duration of one measurement")
	threads := flag.Int("t", 2, "wrk threads")
	conns := flag.Int("c", 64, "wrk connections")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()

	dataDir := filepath.Join(*work, "poll-data")
	os.RemoveAll(dataDir)
	users, err := benchutil.MakeUsers(ctx, benchutil.SQLiteURL(dataDir), "poller", 1, 1000)
	benchutil.Check(err)
	tok := users[0].Token
	c := benchutil.Client(4)

	// The finished job is made by a server without chunk delay; the
	// running one by a server whose offline provider then pauses for an
	// hour after its first chunk, so it stays working, unchanged, for the
	// whole run. That second server answers both.
	srv, err := benchutil.StartServer(*bin, dataDir, filepath.Join(*work, "poll-aijobs-setup.log"), "--offline-chunk-delay", "0")
	benchutil.Check(err)
	finished, err := benchutil.Submit(ctx, c, srv.URL, tok, benchutil.Input(1))
	benchutil.Check(err)
	finished, err = benchutil.WaitTerminal(ctx, c, srv.URL, tok, finished.ID, 30*time.Second)
	benchutil.Check(err)
	srv.Stop()
	srv, err = benchutil.StartServer(*bin, dataDir, filepath.Join(*work, "poll-aijobs.log"), holdArgs...)
	benchutil.Check(err)
	defer srv.Stop()
	running, err := benchutil.Submit(ctx, c, srv.URL, tok, benchutil.Input(2))
	benchutil.Check(err)
	running, err = waitSteady(ctx, c, srv.URL, tok, running.ID)
	benchutil.Check(err)

	jobsUnder := []benchutil.Snapshot{finished, running}
	bares := make([]*benchutil.Proc, len(jobsUnder))
	for i, job := range jobsUnder {
		_, body, err := benchutil.Get(ctx, c, srv.URL, tok, job.ID)
		benchutil.Check(err)
		bodyFile := filepath.Join(*work, fmt.Sprintf("poll-body-%s.json", job.Status))
		benchutil.Check(os.WriteFile(bodyFile, body, 0o644))
		log.Printf("job %s is %s, seq %d; its snapshot is %d bytes", job.ID, job.Status, job.Seq, len(body))
		bareAddr := benchutil.FreeAddr()
		bares[i], err = benchutil.StartPlain(*bareBin, []string{"-addr", bareAddr, "-body", bodyFile, "-seq", strconv.FormatInt(job.Seq, 10)},
			bareAddr, filepath.Join(*work, fmt.Sprintf("poll-bare-%s.log", job.Status)), "/readyz")
		benchutil.Check(err)
		defer bares[i].Stop()
	}

	auth := "Authorization: Bearer " + tok
	w := wrkArgs{threads: *threads, conns: *conns, dur: *dur}
	cases := makeCases(srv.URL, auth, jobsUnder, bares)
	type pair struct{ bare, aijobs result }
	results := make([][]pair, *rounds)
	for round := range *rounds {
		for _, pc := range cases {
			var p pair
			p.bare = w.run(pc.bare, pc.bare.URL+"/job", pc.want, pc.bareHdrs...)
			p.aijobs = w.run(srv, pc.url, pc.want, pc.hdrs...)
			results[round] = append(results[round], p)
			log.Printf("round %d %s: bare %.0f req/s (%.1f µs CPU/req), aijobs %.0f req/s (%.1f µs CPU/req): rate ratio %.3f, CPU/req ratio %.2f",
				round+1, pc.name, p.bare.rps, p.bare.cpuPerReq*1e6, p.aijobs.rps, p.aijobs.cpuPerReq*1e6,
				p.aijobs.rps/p.bare.rps, p.aijobs.cpuPerReq/p.bare.cpuPerReq)
		}
	}
	for round, ps := range results {
		for i, pc := range cases {
			p := ps[i]
			benchutil.Summary("poll round %d: GET %s aijobs %.0f/s vs bare %.0f/s = %.3f (target >= %s); server CPU/req %.1f vs %.1f µs",
				round+1, pc.name, p.aijobs.rps, p.bare.rps, p.aijobs.rps/p.bare.rps, target[pc.want],
				p.aijobs.cpuPerReq*1e6, p.bare.cpuPerReq*1e6)
		}
	}

	if *profBin == "" {
		return
	}
	// Profile: the same server, database and jobs, run by profserve.
	srv.Stop()
	prefix := filepath.Join(*work, "poll-cpu")
	psrv, err := benchutil.StartPlain(*profBin, append([]string{"--cpuprofile", prefix, "serve", "--addr", srv.Addr, "--data-dir", dataDir,
		"--log-format", "json"}, holdArgs...), srv.Addr, filepath.Join(*work, "poll-prof.log"), "/readyz")
	benchutil.Check(err)
	defer psrv.Stop()
	// The restart hands the running job's attempt back: it starts again,
	// with a new seq.
	if jobsUnder[1], err = waitSteady(ctx, c, psrv.URL, tok, running.ID); err != nil {
		log.Printf("the running job: %v", err)
	}
	cases = makeCases(psrv.URL, auth, jobsUnder, bares)
	for i, pc := range cases {
		psrv.Cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(100 * time.Millisecond)
		r := w.run(psrv, pc.url, pc.want, pc.hdrs...)
		psrv.Cmd.Process.Signal(syscall.SIGUSR2)
		time.Sleep(500 * time.Millisecond)
		prof := fmt.Sprintf("%s.%d.pprof", prefix, i+1)
		log.Printf("profiled %s: %.0f req/s; profile %s", pc.name, r.rps, prof)
		for _, mode := range []string{"-top", "-top -cum"} {
			args := append([]string{"tool", "pprof"}, strings.Fields(mode)...)
			args = append(args, "-nodecount=45", *profBin, prof)
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				log.Printf("pprof: %v", err)
			}
			name := fmt.Sprintf("%s.%s%s.txt", prefix, strings.ReplaceAll(pc.name, " ", "-"), strings.ReplaceAll(mode, " ", ""))
			os.WriteFile(name, out, 0o644)
			fmt.Printf("---- pprof %s, %s (%s) ----\n%s\n", mode, pc.name, name, out)
		}
	}
}

// holdArgs make the offline provider pause for an hour after a job's first
// chunk: a job submitted then stays working, unchanged, through the run.
var holdArgs = []string{"--offline-chunk-delay", "1h"}

// target is the goal per status, as a ratio to bare.
var target = map[int]string{200: "0.8", 304: "0.9"}

// makeCases are the measurements of each job, 200 and 304, on the aijobs at
// base, each against the bare server of the same job.
func makeCases(base, auth string, jobs []benchutil.Snapshot, bares []*benchutil.Proc) []pollCase {
	var cases []pollCase
	for i, job := range jobs {
		name := "finished"
		if !job.Terminal {
			name = "running"
		}
		inm := fmt.Sprintf(`If-None-Match: "%d"`, job.Seq)
		cases = append(cases,
			pollCase{name + " 200", bares[i], base + "/api/v1/jobs/" + job.ID, 200, nil, []string{auth}},
			pollCase{name + " 304", bares[i], base + "/api/v1/jobs/" + job.ID, 304, []string{inm}, []string{auth, inm}})
	}
	return cases
}

// pollCase is one measurement: aijobs at url against bare's /job.
type pollCase struct {
	name           string
	bare           *benchutil.Proc
	url            string
	want           int
	bareHdrs, hdrs []string
}

// waitSteady waits until a held job has started and its first chunk has
// been written (its seq stops moving), and returns it.
func waitSteady(ctx context.Context, c *http.Client, base, tok, id string) (benchutil.Snapshot, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last benchutil.Snapshot
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		s, _, err := benchutil.Get(ctx, c, base, tok, id)
		if err != nil {
			return s, err
		}
		if s.Terminal {
			return s, fmt.Errorf("job %s ended (%s) though it should be held running", id, s.Status)
		}
		if s.Status == "working" && s.Seq == last.Seq && s.Seq > 2 {
			return s, nil
		}
		last = s
	}
	return last, fmt.Errorf("job %s did not settle in 30 s (status %s, seq %d)", id, last.Status, last.Seq)
}

type wrkArgs struct {
	threads, conns int
	dur            time.Duration
}

type result struct {
	rps       float64
	cpuPerReq float64 // server CPU seconds per request
}

var (
	rpsRe   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	totalRe = regexp.MustCompile(`(\d+) requests in`)
	badRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	errRe   = regexp.MustCompile(`Socket errors: .*`)
)

// run checks that one request gets status want, then runs wrk against url
// (wrk itself reports any answer that is not 2xx/3xx, which fails the run).
func (w wrkArgs) run(p *benchutil.Proc, url string, want int, headers ...string) result {
	req, _ := http.NewRequest("GET", url, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	benchutil.Check(err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		log.Fatalf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	args := []string{"-t", strconv.Itoa(w.threads), "-c", strconv.Itoa(w.conns), "-d", w.dur.String()}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	cpu0 := benchutil.CPUSeconds(p.Pid())
	out, err := exec.Command("wrk", args...).CombinedOutput()
	cpu1 := benchutil.CPUSeconds(p.Pid())
	if err != nil {
		log.Fatalf("wrk %v: %v\n%s", args, err, out)
	}
	s := string(out)
	m := rpsRe.FindStringSubmatch(s)
	n := totalRe.FindStringSubmatch(s)
	if m == nil || n == nil {
		log.Fatalf("wrk output not understood:\n%s", s)
	}
	if b := badRe.FindStringSubmatch(s); b != nil {
		log.Fatalf("wrk %s: %s responses were not 2xx/3xx:\n%s", url, b[1], s)
	}
	if e := errRe.FindString(s); e != "" {
		log.Printf("wrk %s: %s", url, e)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	total, _ := strconv.ParseFloat(n[1], 64)
	return result{rps: rps, cpuPerReq: (cpu1 - cpu0) / total}
}
