package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFairShare: with the queue contended, a user's single job does not wait
// behind another user's backlog — it starts within about two job durations,
// where first in, first out (--fair-share=false, the reference) makes it
// wait for the whole backlog — and each user's jobs start in their submit
// order. A user of weight 3 gets about three turns for one of a user of
// weight 1.
func TestFairShare(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		for _, fair := range []bool{true, false} {
			t.Run("fair-share="+strconv.FormatBool(fair), func(t *testing.T) {
				s := startServer(t, db, "--workers", "2", "--offline-chunk-delay", "10ms",
					"--submit-rate", "1000", "--submit-burst", "1000", "--fair-share="+strconv.FormatBool(fair))
				heavy, light := s.client(s.token("heavy")), s.client(s.token("light"))
				var backlog []job
				for range 30 {
					backlog = append(backlog, heavy.submit("Plan my week"))
				}
				one := light.waitTerminal(light.submit("Plan my week").ID)
				var took time.Duration
				var starts []time.Time
				for _, j := range backlog {
					j = heavy.waitTerminal(j.ID)
					took += j.FinishedAt.Sub(*j.StartedAt)
					starts = append(starts, *j.StartedAt)
				}
				mean := took / time.Duration(len(backlog))
				wait := one.StartedAt.Sub(one.CreatedAt)
				t.Logf("the light user's job waited %s; a job takes %s on average; the backlog was %d jobs on 2 workers", wait, mean, len(backlog))
				switch {
				case fair && wait > 2*mean+300*time.Millisecond:
					t.Errorf("with fair share the light user's job waited %s, more than 2 × the mean job time (%s) + 0.3 s", wait, mean)
				case !fair && wait < 5*mean:
					t.Errorf("first in, first out: the light user's job waited only %s (mean job %s): the reference does not show the backlog", wait, mean)
				}
				for i := 1; i < len(starts); i++ {
					if starts[i].Before(starts[i-1].Add(-150 * time.Millisecond)) {
						t.Errorf("the heavy user's job %d started at %s, before job %d (%s): not in submit order", i, starts[i].Format(time.StampMilli), i-1, starts[i-1].Format(time.StampMilli))
					}
				}
			})
		}
		t.Run("weights", func(t *testing.T) {
			s := startServer(t, db, "--workers", "2", "--offline-chunk-delay", "5ms", "--submit-rate", "1000", "--submit-burst", "1000")
			one, three := s.client(s.token("one")), s.client(s.token("three", "--weight", "3"))
			var ids []string
			for range 20 {
				ids = append(ids, one.submit("Plan my week").ID)
			}
			threeIDs := map[string]bool{}
			for range 20 {
				j := three.submit("Plan my week")
				ids, threeIDs[j.ID] = append(ids, j.ID), true
			}
			type start struct {
				at    time.Time
				three bool
			}
			var order []start
			for _, id := range ids {
				c := one
				if threeIDs[id] {
					c = three
				}
				j := c.waitTerminal(id)
				order = append(order, start{*j.StartedAt, threeIDs[id]})
			}
			slices.SortFunc(order, func(a, b start) int { return a.at.Compare(b.at) })
			n := 0
			for _, o := range order[:16] {
				if o.three {
					n++
				}
			}
			// Weight 3 to 1: about 12 of the first 16; first in, first out
			// would give the weight-3 user almost none (it submitted last).
			if n < 9 {
				t.Errorf("the weight-3 user had %d of the first 16 starts, want about 12 (at least 9)", n)
			}
		})
	})
}

// TestFairShareOutlivesAKilledNode: waiting jobs keep moving when a worker
// process is killed with kill -9 — the maintenance leader included — not
// only once its lease has lapsed: every worker process dispatches.
func TestFairShareOutlivesAKilledNode(t *testing.T) {
	t.Parallel()
	c := &cluster{t: t, dbURL: newDatabaseURL(t, postgres), dir: t.TempDir()}
	args := []string{"--workers", "2", "--offline-chunk-delay", "10ms", "--submit-rate", "1000", "--submit-burst", "1000"}
	apiNode, _ := c.node("api", args...)
	_, first := c.node("worker", args...) // started first: the maintenance leader
	c.node("worker", args...)
	a := apiNode.client(apiNode.token("heavy"))
	var ids []string
	for range 40 {
		ids = append(ids, a.submit("Plan my week").ID)
	}
	a.waitFor(ids[5], 30*time.Second, func(j job) bool { return j.StartedAt != nil })
	first.kill(t)
	killed := time.Now()
	var after []time.Time
	for _, id := range ids {
		// Jobs the dead node had taken come back after its lease, by design
		// (attempt 2); the waiting ones must not wait for it.
		if j := a.waitTerminal(id); j.StartedAt.After(killed) && j.Attempt == 1 {
			after = append(after, *j.StartedAt)
		}
	}
	slices.SortFunc(after, time.Time.Compare)
	if len(after) < 10 {
		t.Fatalf("only %d jobs started after the kill", len(after))
	}
	prev := killed
	for _, at := range after {
		if gap := at.Sub(prev); gap > 3*time.Second {
			t.Errorf("no job started for %s (from %s) after the kill: waiting jobs waited for the dead node's lease (10 s)", gap.Round(time.Millisecond), prev.Format(time.StampMilli))
		}
		prev = at
	}
}

// TestMaxRunningPerUser: with --max-running-per-user 2 a user's jobs never
// run more than two at once, and the workers left over run another user's.
func TestMaxRunningPerUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--workers", "4", "--max-running-per-user", "2", "--offline-chunk-delay", "5ms",
			"--submit-rate", "1000", "--submit-burst", "1000")
		capped, other := s.client(s.token("capped")), s.client(s.token("other"))
		type span struct{ from, to time.Time }
		submit := func(c *api, n int) []string {
			var ids []string
			for range n {
				ids = append(ids, c.submit("Plan my week").ID)
			}
			return ids
		}
		spans := func(c *api, ids []string) []span {
			var out []span
			for _, id := range ids {
				j := c.waitTerminal(id)
				if j.Status != "completed" {
					t.Fatalf("job %s ended %s", id, j.Status)
				}
				out = append(out, span{*j.StartedAt, *j.FinishedAt})
			}
			return out
		}
		// The capped user alone would take all 4 workers; the other user
		// comes a moment later.
		mineIDs := submit(capped, 10)
		theirIDs := submit(other, 6)
		mine, theirs := spans(capped, mineIDs), spans(other, theirIDs)
		most := func(spans []span) int {
			best := 0
			for _, a := range spans {
				n := 0
				for _, b := range spans {
					if !b.from.After(a.from) && b.to.After(a.from) {
						n++
					}
				}
				best = max(best, n)
			}
			return best
		}
		if n := most(mine); n > 2 {
			t.Errorf("%d of the capped user's jobs ran at once, want at most 2", n)
		}
		if n := most(append(mine, theirs...)); n < 3 {
			t.Errorf("at most %d jobs ran at once on 4 workers: the cap left workers idle while the other user had work", n)
		}
	})
}
