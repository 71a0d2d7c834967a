package jobs_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
)

// TestNotFoundTakesTheSameTime: a 404 for another user's job costs what
// one for an unknown id costs, so timing does not tell which ids exist.
// Samples of both are interleaved, so a busy machine slows both alike, and
// their medians must be within maxRatio of each other — for a job still
// running and for a finished one (which its owner's reads cache).
func TestNotFoundTakesTheSameTime(t *testing.T) {
	t.Parallel()
	const (
		samples  = 3000
		maxRatio = 1.25
	)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := jobstest.Store(t, db, nil)
			svc := jobstest.Service(t, st, jobs.Config{})
			owner, _, err := st.EnsureUser(ctx, "owner", 100)
			if err != nil {
				t.Fatal(err)
			}
			other, _, err := st.EnsureUser(ctx, "other", 100)
			if err != nil {
				t.Fatal(err)
			}
			submit := func() jobs.Job {
				j, _, err := svc.Submit(ctx, owner, jobs.SubmitRequest{Input: strings.Repeat("plan my week ", 500)})
				if err != nil {
					t.Fatal(err)
				}
				return j
			}
			running, finished := submit(), submit()
			for _, j := range []jobs.Job{running, finished} {
				if _, err := svc.Start(ctx, j.ID, 1, "n1"); err != nil {
					t.Fatal(err)
				}
			}
			text := strings.Repeat("a long answer ", 2000)
			if _, err := svc.Complete(ctx, finished.ID, 1, jobs.Result{Intent: jobs.IntentGeneral, Output: []byte(`{"answer":"x"}`), Text: text}, jobs.Tokens{}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Get(ctx, owner.ID, finished.ID); err != nil { // its owner's read caches it
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				j    jobs.Job
			}{{"running", running}, {"finished", finished}} {
				j := c.j
				var theirs, unknown []time.Duration
				for range samples {
					for _, id := range []string{j.ID, "job_" + strings.ToLower(rand.Text())} {
						start := time.Now()
						_, err := svc.Get(ctx, other.ID, id)
						d := time.Since(start)
						if !errors.Is(err, jobs.ErrNotFound) {
							t.Fatalf("Get(%s) by another user: %v, want ErrNotFound", id, err)
						}
						if id == j.ID {
							theirs = append(theirs, d)
						} else {
							unknown = append(unknown, d)
						}
					}
				}
				a, b := median(theirs), median(unknown)
				ratio := float64(max(a, b)) / float64(min(a, b))
				t.Logf("%s job: median 404 for another user's %v, for an unknown id %v (ratio %.2f)", c.name, a, b, ratio)
				if ratio > maxRatio {
					t.Errorf("%s job: another user's job answers 404 in %v (median), an unknown id in %v: ratio %.2f, want at most %.2f",
						c.name, a, b, ratio, maxRatio)
				}
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
