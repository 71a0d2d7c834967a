package jobs_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// TestLogFoldsToSnapshot shows that the one fold clients use
// (jobtype.Apply) turns a job's stored log into the snapshot the server
// answers, whichever way the job ends.
func TestLogFoldsToSnapshot(t *testing.T) {
	t.Parallel()
	result := jobs.Result{Intent: jobs.IntentGeneral, Output: json.RawMessage(`{"a":1}`), Text: "done"}
	cases := []struct {
		name string
		run  func(ctx context.Context, b *bundle, id string) error
	}{
		{"completed", func(ctx context.Context, b *bundle, id string) error {
			if _, err := b.svc.Start(ctx, id, 1, "n"); err != nil {
				return err
			}
			if _, err := b.svc.Report(ctx, id, 1, jobs.IntentGeneral, "chunk", 40); err != nil {
				return err
			}
			_, err := b.svc.Complete(ctx, id, 1, result, jobs.Tokens{In: 1, Out: 2})
			return err
		}},
		{"retried then failed", func(ctx context.Context, b *bundle, id string) error {
			b.svc.Start(ctx, id, 1, "n")
			b.svc.Report(ctx, id, 1, "", "half", 30)
			if _, err := b.svc.Retrying(ctx, id, 1, time.Now().Add(time.Second), jobs.Error{Code: "rate_limited", Message: "slow down"}, jobs.Tokens{}); err != nil {
				return err
			}
			b.svc.Start(ctx, id, 2, "n")
			_, err := b.svc.Fail(ctx, id, 2, jobs.Error{Code: "provider_error", Message: "down"}, jobs.Tokens{})
			return err
		}},
		{"retrying", func(ctx context.Context, b *bundle, id string) error {
			b.svc.Start(ctx, id, 1, "n")
			_, err := b.svc.Retrying(ctx, id, 1, time.Now().Add(time.Minute), jobs.Error{Code: "timeout", Message: "slow"}, jobs.Tokens{})
			return err
		}},
		{"cancelled while working", func(ctx context.Context, b *bundle, id string) error {
			b.svc.Start(ctx, id, 1, "n")
			b.svc.Report(ctx, id, 1, jobs.IntentSmartGoal, "x", 10)
			_, err := b.svc.Cancel(ctx, b.user.ID, id)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			j := b.submit(t)
			if err := c.run(ctx, b, j.ID); err != nil {
				t.Fatal(err)
			}
			want, err := b.svc.Get(ctx, b.user.ID, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := b.store.Events(ctx, j.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got jobtype.Job
			for _, ev := range evs {
				jobtype.Apply(&got, ev.Event)
			}
			// Only a snapshot carries these.
			got.CreatedAt, got.ExpiresAt = want.CreatedAt, want.ExpiresAt
			if !reflect.DeepEqual(encode(t, got), encode(t, want.Job)) {
				t.Errorf("folded log:\n%s\nsnapshot:\n%s", encode(t, got), encode(t, want.Job))
			}
		})
	}
}

func encode(t *testing.T, j jobtype.Job) string {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
