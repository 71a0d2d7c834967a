package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

func TestViewJSONIsTheEncodedView(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	j := jobs.Job{Job: jobtype.Job{ID: "job_x", Status: jobs.StatusCompleted, Terminal: true, Progress: 100, Seq: 9,
		Result: json.RawMessage(`{"text": "<b>&</b>"}`), CreatedAt: now, FinishedAt: &now, ExpiresAt: now}, UserID: "u"}
	for _, tok := range []string{"", "st_abc.def", "needs \"escaping\" <&> \u2028 é"} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(jobView{Job: j, StreamToken: tok}); err != nil {
			t.Fatal(err)
		}
		snap := jobs.NewSnapshot(j)
		for range 2 { // the second answer shares the first's encoding
			head, tail, err := viewJSON(snap, tok)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(head) + string(tail); got != want.String() {
				t.Fatalf("token %q:\n got %s\nwant %s", tok, got, want.String())
			}
		}
	}
}

// poll GETs a job over HTTP with tok and extra headers.
func (e *cableEnv) poll(tok, id string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.hs.URL+"/api/v1/jobs/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestPollOfRunningJob(t *testing.T) {
	t.Parallel()
	e := newCableEnv(t, Config{})
	u, tok := e.user("hal")
	_, otherTok := e.user("eve")
	j := e.submit(u)
	ctx := context.Background()
	if _, err := e.svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	resp, body := e.poll(tok, j.ID)
	var got jobView
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || got.Status != jobs.StatusWorking || got.StreamToken == "" {
		t.Fatalf("poll: %d %s (%v)", resp.StatusCode, body, err)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := e.poll(tok, j.ID, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("poll with its ETag: %d, want 304", resp.StatusCode)
	}
	if resp, body := e.poll(otherTok, j.ID); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's poll of a held job: %d %s, want 404", resp.StatusCode, body)
	}
	// A change committed here shows at once, with a new ETag.
	next, err := e.svc.Report(ctx, j.ID, 1, jobs.IntentGeneral, "text", 50)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = e.poll(tok, j.ID, "If-None-Match", etag)
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || got.Seq != next.Seq || got.Progress != 50 {
		t.Fatalf("poll after a change: %d %s, want seq %d progress 50", resp.StatusCode, body, next.Seq)
	}
}
