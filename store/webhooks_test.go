package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// TestDeliveries: on both databases, a job's webhook gets a delivery row
// and a River insert in the transaction of each event it wants (progress
// at most one a second), none without the user's secret; tries are kept in
// order; the user's default applies to submits naming none; expired jobs
// take their deliveries with them.
func TestDeliveries(t *testing.T) {
	forBothStores(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		if err := st.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		st.SetEnqueuer(func(context.Context, Tx, string) (int64, error) { return 1, nil })
		var queued []string
		st.SetDeliveryEnqueuer(func(_ context.Context, _ Tx, id string) error { queued = append(queued, id); return nil })
		u, _, err := st.EnsureUser(ctx, "wes", 100)
		if err != nil {
			t.Fatal(err)
		}
		hook := &jobs.Webhook{URL: "https://hooks.example.com/x", Events: []jobs.EventType{jobs.EventProgress, jobs.EventCompleted}}
		now := time.Now().UTC()
		nj := func(id string, w *jobs.Webhook) jobs.NewJob {
			return jobs.NewJob{Job: jobs.Job{UserID: u.ID, Job: jobtype.Job{ID: id, Status: jobs.StatusQueued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}},
				First: jobs.Event{Event: jobtype.Event{Type: jobs.EventStatus, At: now, Status: jobs.StatusQueued}}, Input: "x", Day: "2026-12-01", Quota: 100,
				Webhook: w, DefaultWebhook: w == nil}
		}
		if _, _, err := st.Create(ctx, nj("job_a", hook)); !errors.Is(err, jobs.ErrWebhookSecret) {
			t.Fatalf("create with a webhook and no secret: %v, want ErrWebhookSecret", err)
		}
		if err := st.SetWebhookSecret(ctx, u.ID, []byte("sealed")); err != nil {
			t.Fatal(err)
		}
		if got, err := st.WebhookSecret(ctx, u.ID); err != nil || string(got) != "sealed" {
			t.Fatalf("WebhookSecret = %q, %v", got, err)
		}
		j, _, err := st.Create(ctx, nj("job_a", hook))
		if err != nil || j.Webhook == nil || j.Webhook.URL != hook.URL {
			t.Fatalf("create: %+v, %v", j.Webhook, err)
		}
		step := func(typ jobs.EventType, at time.Time, f func(*jobs.Job)) {
			t.Helper()
			_, _, err := st.Update(ctx, "job_a", func(j *jobs.Job) (*jobs.Event, error) {
				f(j)
				return &jobs.Event{Event: jobtype.Event{Type: typ, At: at, Status: j.Status, Progress: j.Progress}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		step(jobs.EventStatus, now, func(j *jobs.Job) { j.Status = jobs.StatusWorking })              // not wanted
		step(jobs.EventProgress, now, func(j *jobs.Job) { j.Progress = 10 })                          // delivered
		step(jobs.EventOutput, now.Add(300*time.Millisecond), func(j *jobs.Job) { j.Progress = 20 })  // coalesced away
		step(jobs.EventOutput, now.Add(1100*time.Millisecond), func(j *jobs.Job) { j.Progress = 30 }) // delivered
		step(jobs.EventCompleted, now.Add(1200*time.Millisecond), func(j *jobs.Job) {
			j.Status, j.Progress, j.FinishedAt = jobs.StatusCompleted, 100, &now
		})
		ds, err := st.Deliveries(ctx, "job_a")
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 || len(queued) != 3 || ds[0].Seq != 3 || ds[1].Seq != 5 || ds[2].Seq != 6 || ds[2].Event != jobs.EventCompleted || ds[1].Event != jobs.EventProgress {
			t.Fatalf("deliveries %+v (queued %v), want progress at seq 3 and 5, completed at 6", ds, queued)
		}
		for i, d := range ds {
			if d.ID != queued[i] || d.State != jobs.DeliveryPending || d.URL != hook.URL {
				t.Errorf("delivery %d: %+v", i, d)
			}
		}
		if d, err := st.Delivery(ctx, ds[0].ID); err != nil || d.WaitFor != nil || string(d.Secret) != "sealed" {
			t.Errorf("the first delivery: waits for %v, secret %q, %v; want no wait", d.WaitFor, d.Secret, err)
		}
		d, err := st.Delivery(ctx, ds[2].ID)
		if err != nil || len(d.Body) == 0 || d.WaitFor == nil || !d.WaitFor.Equal(fromMicros(now.UnixMicro())) {
			t.Fatalf("Delivery: %+v, %v; want it to wait for the earlier ones", d, err)
		}
		for n, r := range []jobs.TryResult{
			{N: 1, Duration: 5 * time.Millisecond, StatusCode: 500, Error: "HTTP 500", State: jobs.DeliveryPending, Next: now.Add(time.Second), At: now},
			{N: 2, Duration: 3 * time.Millisecond, StatusCode: 200, State: jobs.DeliveryDelivered, At: now},
		} {
			if err := st.StartTry(ctx, d.ID, n+1, now); err != nil {
				t.Fatal(err)
			}
			if err := st.FinishTry(ctx, d.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		// A delivered delivery stays delivered, whatever a second worker says.
		if err := st.FinishTry(ctx, d.ID, jobs.TryResult{State: jobs.DeliveryDead, Error: "late", At: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.StartTry(ctx, ds[0].ID, 1, now); err != nil { // a try whose worker died
			t.Fatal(err)
		}
		ds, _ = st.Deliveries(ctx, "job_a")
		if a := ds[2].Attempts; ds[2].State != jobs.DeliveryDelivered || len(a) != 2 || a[0].StatusCode != 500 || a[1].StatusCode != 200 || *a[0].DurationMS != 5 || ds[2].FinishedAt == nil {
			t.Errorf("tries of a delivered delivery: %+v", ds[2])
		}
		if a := ds[0].Attempts; len(a) != 1 || a[0].DurationMS != nil || ds[0].Tries != 1 {
			t.Errorf("an interrupted try: %+v", ds[0])
		}

		// The user's default, for a submit that names no webhook.
		if err := st.SetUserWebhook(ctx, u.ID, hook); err != nil {
			t.Fatal(err)
		}
		if got, err := st.UserWebhook(ctx, u.ID); err != nil || got == nil || got.URL != hook.URL {
			t.Fatalf("UserWebhook = %+v, %v", got, err)
		}
		b, _, err := st.Create(ctx, nj("job_b", nil))
		if err != nil || b.Webhook == nil || b.Webhook.URL != hook.URL {
			t.Fatalf("create with the default webhook: %+v, %v", b.Webhook, err)
		}
		none := nj("job_c", nil)
		none.DefaultWebhook = false // webhook_url: "" opts out
		if c, _, err := st.Create(ctx, none); err != nil || c.Webhook != nil {
			t.Fatalf("create without a webhook: %+v, %v", c.Webhook, err)
		}
		if err := st.SetUserWebhook(ctx, "usr_nobody", nil); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("SetUserWebhook of an unknown user: %v", err)
		}

		// Expiry takes the deliveries and their tries.
		if _, err := st.w.exec(ctx, `UPDATE aijobs_jobs SET expires_at = ? WHERE id = ?`, now.Add(-time.Minute).UnixMicro(), "job_a"); err != nil {
			t.Fatal(err)
		}
		if n, err := st.DeleteExpired(ctx, now, 10); err != nil || n != 1 {
			t.Fatalf("DeleteExpired = %d, %v", n, err)
		}
		var left int
		st.w.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM aijobs_deliveries WHERE job_id = 'job_a') + (SELECT COUNT(*) FROM aijobs_delivery_attempts)`).Scan(&left)
		if left != 0 {
			t.Errorf("%d delivery rows left after the job expired", left)
		}
	})
}
