// Command poll measures the poll rate of GET /api/v1/jobs/{id} (a completed
// job, a valid API token, SQLite default) on a real `aijobs serve`, and the
// 304 path (If-None-Match matching), each against bareserver's GET /job
// returning the same bytes, all driven by wrk in the same run, interleaved:
//
//	bare 200, aijobs 200, bare 304, aijobs 304   (× -rounds)
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
	rounds := flag.Int("rounds", 2, "rounds of the four measurements")
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
	srv, err := benchutil.StartServer(*bin, dataDir, filepath.Join(*work, "poll-aijobs.log"), "--offline-chunk-delay", "0")
	benchutil.Check(err)
	defer srv.Stop()

	c := benchutil.Client(4)
	job, err := benchutil.Submit(ctx, c, srv.URL, tok, benchutil.Input(1))
	benchutil.Check(err)
	job, err = benchutil.WaitTerminal(ctx, c, srv.URL, tok, job.ID, 30*time.Second)
	benchutil.Check(err)
	_, body, err := benchutil.Get(ctx, c, srv.URL, tok, job.ID)
	benchutil.Check(err)
	bodyFile := filepath.Join(*work, "poll-body.json")
	benchutil.Check(os.WriteFile(bodyFile, body, 0o644))
	log.Printf("job %s is %s, seq %d; its snapshot is %d bytes", job.ID, job.Status, job.Seq, len(body))

	bareAddr := benchutil.FreeAddr()
	bare, err := benchutil.StartPlain(*bareBin, []string{"-addr", bareAddr, "-body", bodyFile, "-seq", strconv.FormatInt(job.Seq, 10)},
		bareAddr, filepath.Join(*work, "poll-bare.log"), "/readyz")
	benchutil.Check(err)
	defer bare.Stop()

	etag := fmt.Sprintf(`"%d"`, job.Seq)
	auth := "Authorization: Bearer " + tok
	inm := "If-None-Match: " + etag
	w := wrkArgs{threads: *threads, conns: *conns, dur: *dur}
	type pair struct{ bare, aijobs result }
	var r200, r304 []pair
	for round := 1; round <= *rounds; round++ {
		var p200, p304 pair
		p200.bare = w.run(bare, bare.URL+"/job", 200)
		p200.aijobs = w.run(srv, srv.URL+"/api/v1/jobs/"+job.ID, 200, auth)
		p304.bare = w.run(bare, bare.URL+"/job", 304, inm)
		p304.aijobs = w.run(srv, srv.URL+"/api/v1/jobs/"+job.ID, 304, auth, inm)
		r200, r304 = append(r200, p200), append(r304, p304)
		for _, x := range []struct {
			name string
			p    pair
		}{{"200", p200}, {"304", p304}} {
			log.Printf("round %d %s: bare %.0f req/s (%.1f µs CPU/req), aijobs %.0f req/s (%.1f µs CPU/req): rate ratio %.3f, CPU/req ratio %.2f",
				round, x.name, x.p.bare.rps, x.p.bare.cpuPerReq*1e6, x.p.aijobs.rps, x.p.aijobs.cpuPerReq*1e6,
				x.p.aijobs.rps/x.p.bare.rps, x.p.aijobs.cpuPerReq/x.p.bare.cpuPerReq)
		}
	}
	for i := range r200 {
		benchutil.Summary("poll round %d: GET 200 aijobs %.0f/s vs bare %.0f/s = %.3f (target >= 0.6); 304 aijobs %.0f/s vs bare %.0f/s = %.3f (target >= 0.7); server CPU/req 200 %.1f vs %.1f µs, 304 %.1f vs %.1f µs",
			i+1, r200[i].aijobs.rps, r200[i].bare.rps, r200[i].aijobs.rps/r200[i].bare.rps,
			r304[i].aijobs.rps, r304[i].bare.rps, r304[i].aijobs.rps/r304[i].bare.rps,
			r200[i].aijobs.cpuPerReq*1e6, r200[i].bare.cpuPerReq*1e6, r304[i].aijobs.cpuPerReq*1e6, r304[i].bare.cpuPerReq*1e6)
	}

	if *profBin == "" {
		return
	}
	// Profile: the same server, database and job, run by profserve.
	srv.Stop()
	prefix := filepath.Join(*work, "poll-cpu")
	psrv, err := benchutil.StartPlain(*profBin, []string{"--cpuprofile", prefix, "serve", "--addr", srv.Addr, "--data-dir", dataDir,
		"--log-format", "json", "--offline-chunk-delay", "0"}, srv.Addr, filepath.Join(*work, "poll-prof.log"), "/readyz")
	benchutil.Check(err)
	defer psrv.Stop()
	for i, hdrs := range [][]string{{auth}, {auth, inm}} {
		psrv.Cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(100 * time.Millisecond)
		want := 200
		if i == 1 {
			want = 304
		}
		r := w.run(psrv, psrv.URL+"/api/v1/jobs/"+job.ID, want, hdrs...)
		psrv.Cmd.Process.Signal(syscall.SIGUSR2)
		time.Sleep(500 * time.Millisecond)
		prof := fmt.Sprintf("%s.%d.pprof", prefix, i+1)
		log.Printf("profiled %d path: %.0f req/s; profile %s", want, r.rps, prof)
		for _, mode := range []string{"-top", "-top -cum"} {
			args := append([]string{"tool", "pprof"}, strings.Fields(mode)...)
			args = append(args, "-nodecount=45", *profBin, prof)
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				log.Printf("pprof: %v", err)
			}
			name := fmt.Sprintf("%s.%d%s.txt", prefix, want, strings.ReplaceAll(mode, " ", ""))
			os.WriteFile(name, out, 0o644)
			fmt.Printf("---- pprof %s, %d path (%s) ----\n%s\n", mode, want, name, out)
		}
	}
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
