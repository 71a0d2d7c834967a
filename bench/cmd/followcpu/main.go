// Command followcpu measures the server CPU it takes to follow -jobs running
// jobs by SSE (one GET /api/v1/jobs/{id}/events stream per job) versus by
// polling GET /api/v1/jobs/{id} every -poll (the original app's 2-second
// poll), over windows of the same length on the same running jobs, plus a
// window where nobody follows (the cost of running the jobs themselves).
// CPU is the server process's utime+stime from /proc/<pid>/stat.
//
// Phases run -cycles times per round, in the order of -phases and then
// reversed, alternately, so a drift over the jobs' lives does not favour one
// method; each phase's CPU is summed over its cycles.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

var (
	bin    = benchutil.AijobsFlag()
	work   = benchutil.WorkFlag()
	njobs  = flag.Int("jobs", 1000, "running jobs followed")
	users  = flag.Int("users", 100, "users the jobs belong to")
	delay  = flag.Duration("delay", 6*time.Second, "offline chunk delay (a job lasts about 29 of these)")
	window = flag.Duration("window", 10*time.Second, "measurement window of each phase")
	poll   = flag.Duration("poll", 2*time.Second, "poll interval")
	phases = flag.String("phases", "none,sse,poll,poll-etag", "phases: none, sse, poll (plain GET), poll-etag (GET with If-None-Match)")
	rounds = flag.Int("rounds", 2, "rounds")
	spread = flag.Duration("spread", 6*time.Second, "submit the jobs evenly over this long, so their changes are spread in time (0: all at once)")
	cycles = flag.Int("cycles", 2, "times each phase runs in a round (alternating the order); its CPU is summed")
)

type phaseResult struct {
	name     string
	cpu      float64 // server CPU seconds in the window
	requests int64   // poll requests or events received in the window
	running  int
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	var all [][]phaseResult
	for round := 1; round <= *rounds; round++ {
		var order []string
		for c := range *cycles {
			o := strings.Split(*phases, ",")
			if (round+c)%2 == 0 {
				slices.Reverse(o)
			}
			order = append(order, o...)
		}
		rs := runRound(round, order)
		all = append(all, rs)
	}
	for i, rs := range all {
		get := func(name string) (phaseResult, bool) {
			for _, r := range rs {
				if r.name == name {
					return r, true
				}
			}
			return phaseResult{}, false
		}
		none, hasNone := get("none")
		sse, _ := get("sse")
		parts := []string{}
		for _, name := range []string{"poll", "poll-etag"} {
			p, ok := get(name)
			if !ok {
				continue
			}
			net := ""
			if hasNone {
				net = fmt.Sprintf(", net of the no-follower window %.2f vs %.2f s = %.3f", sse.cpu-none.cpu, p.cpu-none.cpu, (sse.cpu-none.cpu)/(p.cpu-none.cpu))
			}
			parts = append(parts, fmt.Sprintf("SSE %.2f s vs %s %.2f s (%d requests) = %.3f%s", sse.cpu, name, p.cpu, p.requests, sse.cpu/p.cpu, net))
		}
		benchutil.Summary("followcpu round %d: %d running jobs, %d × %v windows per method, server CPU: nobody following %.2f s; %s",
			i+1, *njobs, *cycles, *window, none.cpu, strings.Join(parts, "; "))
		if sse.requests > 0 {
			benchutil.Summary("followcpu round %d per 1,000 delivered changes: %s", i+1, perThousand(sse, none, hasNone, get))
		}
	}
}

// perThousand says what 1,000 changes delivered by SSE cost the server:
// gross (the window's CPU over the events it delivered) and, with a
// no-follower window, net of running the jobs, which is also the reference
// (the CPU of making the same number of changes with nobody following);
// and what 1,000 polls cost, net, for comparison.
func perThousand(sse, none phaseResult, hasNone bool, get func(string) (phaseResult, bool)) string {
	k := 1000 / float64(sse.requests)
	out := fmt.Sprintf("SSE %.3f s gross (%d events)", sse.cpu*k, sse.requests)
	if !hasNone {
		return out
	}
	out += fmt.Sprintf(", %.3f s net of running the jobs; reference, the same changes with nobody following: %.3f s (gross ratio %.2f)",
		(sse.cpu-none.cpu)*k, none.cpu*k, sse.cpu/none.cpu)
	if p, ok := get("poll"); ok && p.requests > 0 {
		out += fmt.Sprintf("; 1,000 polls: %.3f s net", (p.cpu-none.cpu)*1000/float64(p.requests))
	}
	return out
}

func runRound(round int, order []string) []phaseResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := filepath.Join(*work, fmt.Sprintf("follow-data-%d", round))
	os.RemoveAll(dataDir)
	defer os.RemoveAll(dataDir)
	us, err := benchutil.MakeUsers(ctx, benchutil.SQLiteURL(dataDir), "follow", *users, int64(*njobs))
	benchutil.Check(err)
	srv, err := benchutil.StartServer(*bin, dataDir, filepath.Join(*work, fmt.Sprintf("follow-aijobs-%d.log", round)),
		"--offline-chunk-delay", delay.String(), "--workers", strconv.Itoa(*njobs+50), "--max-streams", strconv.Itoa(*njobs))
	benchutil.Check(err)
	defer srv.Stop()

	c := benchutil.Client(64)
	ids, tokens := benchutil.SubmitSpread(ctx, c, srv.URL, us, *njobs, *spread)
	time.Sleep(3 * time.Second) // let every job start

	var out []phaseResult
	sum := map[string]*phaseResult{}
	for _, ph := range order {
		r := runPhase(ctx, srv, ph, ids, tokens)
		r.running = benchutil.CountRunning(ctx, c, srv.URL, tokens, ids)
		log.Printf("round %d %-9s: server CPU %.2f s in %v (%.0f%% of a core); %d requests/events; ~%d jobs still working after",
			round, ph, r.cpu, *window, 100*r.cpu/window.Seconds(), r.requests, r.running)
		if r.running < *njobs*9/10 {
			log.Printf("warning: jobs are finishing; raise -delay")
		}
		if sum[ph] == nil {
			sum[ph] = &phaseResult{name: ph}
			out = append(out, phaseResult{name: ph})
		}
		sum[ph].cpu += r.cpu
		sum[ph].requests += r.requests
	}
	for i := range out {
		out[i] = *sum[out[i].name]
	}
	return out
}

func runPhase(parent context.Context, srv *benchutil.Proc, phase string, ids, tokens []string) phaseResult {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var count atomic.Int64
	counting := atomic.Bool{}
	var wg sync.WaitGroup
	switch phase {
	case "none":
	case "sse":
		client := benchutil.ManyConnClient(1)
		sem := make(chan struct{}, 100)
		var opened sync.WaitGroup
		for i := range ids {
			opened.Add(1)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				st, err := benchutil.OpenSSE(ctx, client, srv.URL+"/api/v1/jobs/"+ids[i]+"/events", map[string]string{"Authorization": "Bearer " + tokens[i]})
				<-sem
				opened.Done()
				if err != nil {
					log.Printf("open stream: %v", err)
					return
				}
				defer st.Close()
				for {
					if _, err := st.Next(); err != nil {
						return
					}
					if counting.Load() {
						count.Add(1)
					}
				}
			}()
		}
		opened.Wait()
	case "poll", "poll-etag":
		client := benchutil.Client(len(ids))
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				etag := ""
				t := time.NewTimer(time.Duration(rand.Int64N(int64(*poll))))
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
					t.Reset(*poll)
					req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/jobs/"+ids[i], nil)
					req.Header.Set("Authorization", "Bearer "+tokens[i])
					if phase == "poll-etag" && etag != "" {
						req.Header.Set("If-None-Match", etag)
					}
					resp, err := client.Do(req)
					if err != nil {
						continue
					}
					if e := resp.Header.Get("ETag"); e != "" {
						etag = e
					}
					drain(resp)
					if counting.Load() {
						count.Add(1)
					}
				}
			}()
		}
	default:
		log.Fatalf("unknown phase %q", phase)
	}
	time.Sleep(2 * time.Second) // steady state: streams open, polls spread
	cpu0 := benchutil.CPUSeconds(srv.Pid())
	counting.Store(true)
	time.Sleep(*window)
	counting.Store(false)
	cpu := benchutil.CPUSeconds(srv.Pid()) - cpu0
	cancel()
	wg.Wait()
	time.Sleep(time.Second) // let the server tear the streams down outside the next window
	return phaseResult{name: phase, cpu: cpu, requests: count.Load()}
}

func drain(resp *http.Response) {
	buf := make([]byte, 4096)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}
