// Command bareserver is the reference the aijobs benchmarks compare with: a
// plain net/http server that does the least a server can do for the same
// request, so that a ratio to it says what aijobs' own work costs on this
// machine, in this run.
//
//	GET /job           the JSON body read from -body, with ETag "<-seq>"; If-None-Match
//	                   that matches gives 304 (what GET /api/v1/jobs/{id} does, minus
//	                   authentication, the database read and encoding)
//	GET /idle          an SSE stream that sends "retry: 2000" and then nothing (an idle stream)
//	GET /tick?every=2s an SSE stream that sends an event carrying its send time ("at") every
//	                   interval, with a random phase (push latency reference)
//	GET /metrics       go_memstats_heap_inuse_bytes and friends, like aijobs' /metrics
//	GET /readyz        200
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	bodyFile := flag.String("body", "", "file with the JSON body of GET /job (default: a 700-byte job snapshot)")
	seq := flag.Int64("seq", 7, "the seq the ETag of GET /job carries")
	flag.Parse()

	body := []byte(defaultBody)
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			log.Fatal(err)
		}
		body = b
	}
	etag := `"` + strconv.FormatInt(*seq, 10) + `"`

	mux := http.NewServeMux()
	mux.HandleFunc("GET /job", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, no-cache")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	mux.HandleFunc("GET /idle", func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		fmt.Fprint(w, "retry: 2000\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /tick", func(w http.ResponseWriter, r *http.Request) {
		every, err := time.ParseDuration(r.URL.Query().Get("every"))
		if err != nil || every <= 0 {
			every = 2 * time.Second
		}
		sseHeaders(w)
		fmt.Fprint(w, "retry: 2000\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(every)))):
		case <-r.Context().Done():
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for seq := 1; ; seq++ {
			data, _ := json.Marshal(map[string]any{"type": "output", "seq": seq, "at": time.Now().UTC(), "text": strings.Repeat("x", 30)})
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", seq, data); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\ngo_memstats_stack_inuse_bytes %d\ngo_memstats_sys_bytes %d\ngo_goroutines %d\n",
			m.HeapInuse, m.StackInuse, m.Sys, runtime.NumGoroutine())
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func sseHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, no-transform")
	w.WriteHeader(http.StatusOK)
}

// defaultBody is a completed job's snapshot of about the size aijobs sends.
const defaultBody = `{"job_id":"job_5u3kq2m1x9d7w4t8b6c0ya2e","status":"completed","terminal":true,"progress":100,"seq":7,"intent":"general","attempt":1,"result":{"intent":"general","output":{"summary":"…"},"text":"…","usage_info":{"provider":"offline","model":"offline-1","tokens_in":120,"tokens_out":230}},"error":null,"created_at":"2026-11-28T19:00:00Z","started_at":"2026-11-28T19:00:00.1Z","finished_at":"2026-11-28T19:00:03Z","expires_at":"2026-12-05T19:00:00Z"}` + "\n"
