// Command idle measures the memory an idle stream costs the server: it opens
// -n connections that then stay idle, and divides the growth of the server
// process's RSS (/proc) and Go heap (go_memstats_heap_inuse_bytes on
// /metrics) by n. Kinds:
//
//	sse-job   GET /api/v1/jobs/{id}/events of one queued job on an --role api server
//	          (no workers, so nothing changes)
//	sse-user  GET /api/v1/events (the user stream) of the same user
//	cable     GET /cable (ActionCable over WebSocket), subscribed to AiJobChannel
//	          with that job_id
//	bare      bareserver's /idle: a plain net/http SSE handler that blocks (reference)
//
// Every kind runs on a fresh server process; rounds repeat the whole set.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/bench/internal/benchutil"
)

var (
	bin     = benchutil.AijobsFlag()
	bareBin = benchutil.BareFlag()
	work    = benchutil.WorkFlag()
	n       = flag.Int("n", 10000, "idle connections")
	kinds   = flag.String("kinds", "bare,sse-job,sse-user,cable", "what to measure, in order")
	rounds  = flag.Int("rounds", 2, "rounds")
	sources = flag.Int("sources", 1, "loopback source addresses (127.0.0.1…) to bind client sockets to (1: let connect pick the port; ports are then reused per destination)")
	settle  = flag.Duration("settle", 3*time.Second, "wait before each reading")
	profBin = flag.String("profbin", "", "run aijobs as this profserve binary and write a heap profile with the connections open into -work")
)

type result struct {
	kind                  string
	opened                int
	rssBefore, rssAfter   int64
	heapBefore, heapAfter float64
	stackBefore, stackAft float64
	goroutinesAfter       float64
	openSeconds           float64
}

func (r result) perConnRSS() float64  { return float64(r.rssAfter-r.rssBefore) / float64(r.opened) }
func (r result) perConnHeap() float64 { return (r.heapAfter - r.heapBefore) / float64(r.opened) }
func (r result) perConnStack() float64 {
	return (r.stackAft - r.stackBefore) / float64(r.opened)
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	var all [][]result
	for round := 1; round <= *rounds; round++ {
		var rs []result
		for _, k := range strings.Split(*kinds, ",") {
			r := measure(round, strings.TrimSpace(k))
			log.Printf("round %d %-8s: %d open in %.1fs; RSS %.1f → %.1f MiB = %.1f KiB/conn; heap in use %.1f → %.1f MiB = %.1f KiB/conn; goroutine stacks %.1f KiB/conn; goroutines %.0f",
				round, r.kind, r.opened, r.openSeconds, mib(float64(r.rssBefore)), mib(float64(r.rssAfter)), r.perConnRSS()/1024,
				mib(r.heapBefore), mib(r.heapAfter), r.perConnHeap()/1024, r.perConnStack()/1024, r.goroutinesAfter)
			rs = append(rs, r)
		}
		all = append(all, rs)
	}
	for i, rs := range all {
		var bare *result
		for j := range rs {
			if rs[j].kind == "bare" {
				bare = &rs[j]
			}
		}
		for _, r := range rs {
			if r.kind == "bare" {
				continue
			}
			ratio := ""
			if bare != nil {
				ratio = fmt.Sprintf(" (RSS %.2fx bare net/http: %.1f KiB RSS, %.1f KiB heap, %.1f KiB stacks)", r.perConnRSS()/bare.perConnRSS(), bare.perConnRSS()/1024, bare.perConnHeap()/1024, bare.perConnStack()/1024)
			}
			benchutil.Summary("idle round %d %s: %d conns: %.1f KiB RSS/conn, %.1f KiB heap/conn, %.1f KiB stacks/conn%s (targets: SSE <= 30 KiB, /cable <= 36 KiB); %.0f goroutines",
				i+1, r.kind, r.opened, r.perConnRSS()/1024, r.perConnHeap()/1024, r.perConnStack()/1024, ratio, r.goroutinesAfter)
		}
	}
}

func mib(b float64) float64 { return b / (1 << 20) }

func measure(round int, kind string) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := result{kind: kind}
	var (
		p    *benchutil.Proc
		err  error
		open func(i int) error
	)
	logPath := filepath.Join(*work, fmt.Sprintf("idle-%s-%d.log", kind, round))
	client := benchutil.ManyConnClient(*sources)
	if kind == "bare" {
		addr := benchutil.FreeAddr()
		p, err = benchutil.StartPlain(*bareBin, []string{"-addr", addr}, addr, logPath, "/readyz")
		benchutil.Check(err)
		open = func(int) error { return holdSSE(ctx, client, p.URL+"/idle", nil, false) }
	} else {
		dataDir := filepath.Join(*work, fmt.Sprintf("idle-data-%s-%d", kind, round))
		os.RemoveAll(dataDir)
		defer os.RemoveAll(dataDir)
		us, err := benchutil.MakeUsers(ctx, benchutil.SQLiteURL(dataDir), "idle", 1, 1000)
		benchutil.Check(err)
		tok := us[0].Token
		server, pre := *bin, []string(nil)
		if *profBin != "" {
			server, pre = *profBin, []string{"--cpuprofile", filepath.Join(*work, fmt.Sprintf("idle-%s-%d", kind, round))}
		}
		p, err = benchutil.StartServerPre(server, pre, dataDir, logPath, "--role", "api", "--max-streams", strconv.Itoa(2*(*n)+100)) // a /cable connection with one subscription holds two slots
		benchutil.Check(err)
		job, err := benchutil.Submit(ctx, benchutil.Client(2), p.URL, tok, benchutil.Input(1))
		benchutil.Check(err)
		auth := map[string]string{"Authorization": "Bearer " + tok}
		switch kind {
		case "sse-job":
			open = func(int) error { return holdSSE(ctx, client, p.URL+"/api/v1/jobs/"+job.ID+"/events", auth, true) }
		case "sse-user":
			open = func(int) error { return holdSSE(ctx, client, p.URL+"/api/v1/events", auth, true) }
		case "cable":
			open = func(int) error { return holdCable(ctx, client, p.URL, tok, job.ID) }
		default:
			log.Fatalf("unknown kind %q", kind)
		}
	}
	defer p.Stop()
	metrics := p.URL + "/metrics"

	time.Sleep(*settle)
	res.rssBefore = benchutil.RSS(p.Pid())
	res.heapBefore, err = benchutil.Metric(metrics, "go_memstats_heap_inuse_bytes")
	benchutil.Check(err)
	res.stackBefore, _ = benchutil.Metric(metrics, "go_memstats_stack_inuse_bytes")

	var opened, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	t0 := time.Now()
	for i := range *n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := open(i); err != nil {
				if failed.Add(1) <= 5 {
					log.Printf("%s: open %d: %v", kind, i, err)
				}
				return
			}
			opened.Add(1)
		}()
	}
	wg.Wait()
	res.openSeconds = time.Since(t0).Seconds()
	res.opened = int(opened.Load())
	if f := failed.Load(); f > 0 {
		log.Printf("%s: %d connections failed to open", kind, f)
	}
	time.Sleep(*settle)
	res.rssAfter = benchutil.RSS(p.Pid())
	res.heapAfter, err = benchutil.Metric(metrics, "go_memstats_heap_inuse_bytes")
	benchutil.Check(err)
	res.goroutinesAfter, _ = benchutil.Metric(metrics, "go_goroutines")
	res.stackAft, _ = benchutil.Metric(metrics, "go_memstats_stack_inuse_bytes")
	if *profBin != "" && kind != "bare" {
		p.Cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(2 * time.Second)
		log.Printf("heap profile with the connections open: %s", filepath.Join(*work, fmt.Sprintf("idle-%s-%d.heap.1.pprof", kind, round)))
	}
	cancel()
	return res
}

// holdSSE opens an SSE stream, waits for its first event (or, without
// wantEvent, its headers), and leaves a goroutine holding it open until ctx
// ends.
func holdSSE(ctx context.Context, c *http.Client, url string, headers map[string]string, wantEvent bool) error {
	st, err := benchutil.OpenSSE(ctx, c, url, headers)
	if err != nil {
		return err
	}
	if wantEvent {
		if _, err := st.Next(); err != nil {
			st.Close()
			return fmt.Errorf("first event: %w", err)
		}
	}
	go func() {
		defer st.Close()
		for {
			if _, err := st.Next(); err != nil {
				return
			}
		}
	}()
	return nil
}

// holdCable connects to /cable, subscribes to AiJobChannel for jobID, waits
// for the confirmation and the job's snapshot, and leaves a goroutine
// reading (pings) until ctx ends.
func holdCable(ctx context.Context, c *http.Client, base, token, jobID string) error {
	url := "ws" + strings.TrimPrefix(base, "http") + "/cable"
	octx, ocancel := context.WithTimeout(ctx, 60*time.Second)
	defer ocancel()
	ws, _, err := websocket.Dial(octx, url, &websocket.DialOptions{
		HTTPClient:   c,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{"actioncable-v1-json", "actioncable-unsupported"},
	})
	if err != nil {
		return err
	}
	ident, _ := json.Marshal(map[string]string{"channel": "AiJobChannel", "job_id": jobID})
	sub, _ := json.Marshal(map[string]string{"command": "subscribe", "identifier": string(ident)})
	confirmed, snapshot := false, false
	for !confirmed || !snapshot {
		_, b, err := ws.Read(octx)
		if err != nil {
			ws.CloseNow()
			return err
		}
		var f struct {
			Type    string          `json:"type"`
			Message json.RawMessage `json:"message"`
		}
		json.Unmarshal(b, &f)
		switch f.Type {
		case "welcome":
			if err := ws.Write(octx, websocket.MessageText, sub); err != nil {
				ws.CloseNow()
				return err
			}
		case "confirm_subscription":
			confirmed = true
		case "reject_subscription", "disconnect":
			ws.CloseNow()
			return fmt.Errorf("cable: %s", b)
		case "", "message":
			if len(f.Message) > 0 && f.Message[0] == '{' {
				snapshot = true
			}
		}
	}
	go func() {
		defer ws.CloseNow()
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	return nil
}
