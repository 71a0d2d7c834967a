package api

import (
	"bytes"
	"encoding/json"
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
