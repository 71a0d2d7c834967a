package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

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
