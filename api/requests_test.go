package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/logs"
)

// lockedBuffer is a log destination the server's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRequestID: every answer carries X-Request-Id — the client's when it
// is a usable id, else a new one — and every log line of the request
// carries it as request_id.
func TestRequestID(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log, err := logs.New(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	e := newCableEnv(t, Config{Logger: log})
	_, tok := e.user("ria")
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"the client's id", "req-42.a_b:c", true},
		{"none sent", "", false},
		{"a forged log line", "x\" level=ERROR msg=forged", false},
		{"too long", strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", e.hs.URL+"/api/v1/jobs/job_nope", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if tt.sent != "" {
			req.Header.Set(RequestIDHeader, tt.sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get(RequestIDHeader)
		if tt.kept && got != tt.sent || !tt.kept && (got == tt.sent || !validRequestID(got)) {
			t.Errorf("%s: sent %q, answered X-Request-Id %q", tt.name, tt.sent, got)
		}
		found := false
		for _, line := range buf.lines(t) {
			if line["msg"] == "request" && line["request_id"] == got {
				found = line["status"] == float64(404) && line["route"] == "GET /api/v1/jobs/{id}"
			}
		}
		if !found {
			t.Errorf("%s: no debug line \"request\" with request_id %q, status 404 and its route in the log:\n%s", tt.name, got, buf.b.String())
		}
	}
}

// routeObserver records the requests the Server reports.
type routeObserver struct {
	nopObserver
	mu     sync.Mutex
	open   int
	routes []string
}

func (o *routeObserver) RequestStarted() { o.mu.Lock(); o.open++; o.mu.Unlock() }

func (o *routeObserver) RequestDone(route string, code int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.open--
	o.routes = append(o.routes, fmt.Sprintf("%s %d", route, code))
}

// TestObserveRoutes: requests are reported by the route pattern the mux
// matched, never the path with its ids; one answered before the mux (431)
// has no route. The writer keeps its Flusher for SSE.
func TestObserveRoutes(t *testing.T) {
	t.Parallel()
	obs := &routeObserver{}
	e := newCableEnv(t, Config{Observer: obs})
	u, tok := e.user("oli")
	j := e.submit(u)
	get := func(path string, header ...string) {
		req, _ := http.NewRequest("GET", e.hs.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/api/v1/jobs/" + j.ID)
	get("/api/v1/jobs/job_other")
	get("/api/v1/jobs/"+j.ID, "X-Big", strings.Repeat("x", 70<<10))
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"GET /api/v1/jobs/{id} 200", "GET /api/v1/jobs/{id} 404", " 431"}
	if !slices.Equal(obs.routes, want) || obs.open != 0 {
		t.Errorf("reported %q (%d still open), want %q", obs.routes, obs.open, want)
	}
}

// TestRequestIDsUnique: the ids made here are valid, never repeat within a
// process, and differ between processes (their random prefix).
func TestRequestIDsUnique(t *testing.T) {
	t.Parallel()
	a, b := newRequestIDs(), newRequestIDs()
	seen := map[string]bool{}
	for range 10000 {
		for _, id := range []string{a.next(), b.next()} {
			if !validRequestID(id) || seen[id] {
				t.Fatalf("request id %q: valid %v, seen before %v", id, validRequestID(id), seen[id])
			}
			seen[id] = true
		}
	}
}
