package store

import (
	"context"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// TestUpgradeKeepsUserPositionsRising: a PostgreSQL store upgraded to
// transaction-id positions (migration 0007) gives every new event a
// position above those the old per-user counter handed out, so a client
// resuming from an old position misses nothing; and UserEvents hands out
// the new events after the old ones.
func TestUpgradeKeepsUserPositionsRising(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, _ := newDB(t)
	st, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.exec(ctx, `CREATE TABLE aijobs_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version < 7 {
			if err := st.apply(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The old counter was far ahead of this young cluster's transaction ids.
	const old = int64(1) << 40
	u, _, err := st.EnsureUser(ctx, "olga", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.exec(ctx, `INSERT INTO aijobs_events (job_id, seq, user_id, user_seq, type, data) VALUES ('job_old', 1, $1, $2, 'status', '{"job_id":"job_old","seq":1,"type":"status"}')`, u.ID, old); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	st.SetEnqueuer(func(context.Context, Tx, string) (int64, error) { return 0, nil })
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, first, err := st.Create(ctx, jobs.NewJob{
		Job:   jobs.Job{Job: jobtype.Job{ID: "job_new", Status: jobs.StatusQueued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, UserID: u.ID},
		First: jobs.Event{Event: jobtype.Event{Type: jobs.EventStatus, Status: jobs.StatusQueued}},
		Input: "hi", Day: now.Format(time.DateOnly), Quota: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.UserSeq <= old {
		t.Fatalf("the first event after the upgrade has user seq %d, not above the old %d", first.UserSeq, old)
	}
	// The new event is handed out once no transaction that began before
	// its commit is still running — in the whole cluster, which other
	// tests share: wait for that.
	var evs []jobs.Event
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if evs, err = st.UserEvents(ctx, u.ID, 0, 10); err != nil {
			t.Fatal(err)
		}
		if len(evs) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(evs) != 2 || evs[0].JobID != "job_old" || evs[1].JobID != "job_new" {
		t.Fatalf("user events after the upgrade: %+v, want job_old's then job_new's", evs)
	}
}
