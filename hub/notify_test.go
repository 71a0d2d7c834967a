package hub_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
)

// countingStore counts job reads.
type countingStore struct {
	*store.Store
	reads atomic.Int64
}

func (c *countingStore) UserJob(ctx context.Context, userID, id string) (jobs.Job, error) {
	c.reads.Add(1)
	return c.Store.UserJob(ctx, userID, id)
}

// node is one aijobs node: its store connection, Service and Notifier.
type node struct {
	st   *countingStore
	svc  *jobs.Service
	name string // the PostgreSQL application_name of its connections
}

// startNode opens a node on the database at url, its live state linked
// by a running Notifier; it stops with the test.
func startNode(t *testing.T, url string) *node {
	t.Helper()
	name := "hubtest_" + strings.ToLower(rand.Text()[:10])
	st, err := store.Open(context.Background(), url+"&application_name="+name)
	if err != nil {
		t.Fatal(err)
	}
	st.SetEnqueuer(func(context.Context, store.Tx, string) (int64, error) { return 0, nil })
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{st: &countingStore{Store: st}, name: name}
	notifier := hub.NewNotifier(hub.New(0), st.Pool(), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.svc = jobs.NewService(n.st, notifier, keys, jobs.Config{LiveFor: time.Hour})
	notifier.Keep(n.svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { notifier.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; time.Sleep(50 * time.Millisecond); st.Close() })
	return n
}

// poll reads the job on n and says how many store reads it took.
func (n *node) poll(t *testing.T, userID, id string) (jobs.Job, int64) {
	t.Helper()
	before := n.st.reads.Load()
	j, err := n.svc.Get(context.Background(), userID, id)
	if err != nil {
		t.Fatal(err)
	}
	return j, n.st.reads.Load() - before
}

// eventually polls the job on n until cond holds, and fails after timeout.
func (n *node) eventually(t *testing.T, userID, id string, timeout time.Duration, what string, cond func(j jobs.Job, reads int64) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		j, reads := n.poll(t, userID, id)
		if cond(j, reads) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %v (seq %d, %d reads)", what, timeout, j.Seq, reads)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoNodes migrates a fresh schema and starts two nodes on it, with a user
// and a running job (started on a), held by b's live state.
func twoNodes(t *testing.T) (a, b *node, userID string, j jobs.Job) {
	t.Helper()
	ctx := context.Background()
	url := jobstest.PostgresURL(t)
	mig, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := mig.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	u, _, err := mig.EnsureUser(ctx, "tess", 10)
	mig.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, b = startNode(t, url), startNode(t, url)
	if j, _, err = a.svc.Submit(ctx, u, jobs.SubmitRequest{Input: "hello"}); err != nil {
		t.Fatal(err)
	}
	if j, err = a.svc.Start(ctx, j.ID, 1, "node-a"); err != nil {
		t.Fatal(err)
	}
	// b trusts its live state once its listener is up: a second poll then
	// costs no read.
	b.eventually(t, u.ID, j.ID, 10*time.Second, "node b's listener up", func(got jobs.Job, reads int64) bool {
		return got.Seq == j.Seq && reads == 0
	})
	return a, b, u.ID, j
}

func TestLiveSeesAnotherNodesChange(t *testing.T) {
	t.Parallel()
	a, b, userID, j := twoNodes(t)
	next, err := a.svc.Report(context.Background(), j.ID, 1, jobs.IntentGeneral, "text", 30)
	if err != nil {
		t.Fatal(err)
	}
	// Without the notification b would answer j until LiveFor (an hour).
	took := b.eventually(t, userID, j.ID, 2*time.Second, "node b sees node a's change", func(got jobs.Job, _ int64) bool {
		return got.Seq == next.Seq && got.Progress == 30
	})
	t.Logf("node b saw node a's change %v after it was committed (flush every 20 ms)", took)
	if _, reads := b.poll(t, userID, j.ID); reads != 0 {
		t.Errorf("node b reads the job again after it refreshed (%d reads)", reads)
	}
}

func TestLiveNotTrustedAcrossALostListener(t *testing.T) {
	t.Parallel()
	a, b, userID, j := twoNodes(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", jobstest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, b.name).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate node b's listener: %v (%d terminated)", err, killed)
	}
	// Committed while b's listener is down: b never hears of it, so it
	// must not answer from what it held before.
	next, err := a.svc.Report(ctx, j.ID, 1, jobs.IntentGeneral, "text", 30)
	if err != nil {
		t.Fatal(err)
	}
	b.eventually(t, userID, j.ID, 2*time.Second, "node b answers the change made while its listener was down", func(got jobs.Job, _ int64) bool {
		return got.Seq == next.Seq
	})
	// Once reconnected it holds the job again.
	b.eventually(t, userID, j.ID, 10*time.Second, "node b trusts its live state again", func(got jobs.Job, reads int64) bool {
		return got.Seq == next.Seq && reads == 0
	})
}
