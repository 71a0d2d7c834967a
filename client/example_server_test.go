package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// exampleServer stands in for `aijobs serve` in the examples: one job that
// streams two chunks of output and completes.
func exampleServer() *httptest.Server {
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	result := json.RawMessage(`{"intent":"smart_goal","output":{"goal":"Run 5 km"},"text":"Run 5 km by June.","usage_info":{"provider":"offline"}}`)
	final := jobtype.Job{ID: "job_example", Status: jobtype.StatusCompleted, Terminal: true, Progress: 100, Seq: 5,
		Intent: jobtype.IntentSmartGoal, Attempt: 1, Result: result, CreatedAt: at, ExpiresAt: at.Add(7 * 24 * time.Hour)}
	events := []jobtype.Event{
		{Type: jobtype.EventStatus, Status: jobtype.StatusQueued},
		{Type: jobtype.EventStatus, Status: jobtype.StatusWorking, Attempt: 1},
		{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 50, Text: "Run 5 km "},
		{Type: jobtype.EventOutput, Status: jobtype.StatusWorking, Progress: 90, Text: "by June."},
		{Type: jobtype.EventCompleted, Terminal: true, Status: jobtype.StatusCompleted, Progress: 100, Intent: jobtype.IntentSmartGoal, Result: result},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/ai/proxy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/api/v1/jobs/job_example")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": "AI request queued for processing",
			"job_id": "job_example", "status": "queued", "seq": 1, "stream_token": "st_example"})
	})
	mux.HandleFunc("GET /api/v1/jobs/job_example/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\n")
		for i, ev := range events {
			ev.JobID, ev.Seq, ev.At = "job_example", int64(i+1), at
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", ev.Seq, b)
		}
	})
	mux.HandleFunc("GET /api/v1/jobs/job_example", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"5"`)
		_ = json.NewEncoder(w).Encode(final)
	})
	return httptest.NewServer(mux)
}
