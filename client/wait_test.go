package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// TestWaitFollowsLongPolls drives a job while Wait long-polls it: every
// version reaches onChange, each poll asks for what comes after the last
// version seen, and nothing sleeps.
func TestWaitFollowsLongPolls(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, rec := testClient(t, f)
	id := f.add("hi")
	driveOnPark(t, f, id, f.parked, script())

	var seen []int64
	job, err := c.Wait(testCtx(t), id, func(j *Job) { seen = append(seen, j.Seq) })
	wantCompleted(t, job, err)
	wantSlice(t, "versions seen", seen, seqRange(1, 7))
	wantSlice(t, "sleeps", rec.all(), nil)

	polls := f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id)
	var tags []string
	for _, p := range polls {
		wantEqual(t, "query", p.Query, "wait=5")
		tags = append(tags, p.Header.Get("If-None-Match"))
	}
	wantSlice(t, "If-None-Match of each poll", tags, []string{"", `"1"`, `"2"`, `"3"`, `"4"`, `"5"`, `"6"`})
}

// TestWaitRetriesWithBackoff answers the first polls with 503, 429 and a
// proxy's 502: Wait pauses at least Retry-After, backs off without one, and
// ends with the job.
func TestWaitRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := newFake(t, func(f *fakeServer) {
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodGet {
				return false
			}
			switch n.Add(1) {
			case 1:
				writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the job store is unavailable", 2)
			case 2:
				writeError(w, http.StatusTooManyRequests, "rate_limited", "slow down", 1)
			case 3:
				w.WriteHeader(http.StatusBadGateway)
			default:
				return false
			}
			return true
		}
	})
	c, rec := testClient(t, f)
	c.minBackoff, c.maxBackoff = 100*time.Millisecond, time.Second
	id := f.add("hi")
	emitAll(f, id, script())

	job, err := c.Wait(testCtx(t), id, nil)
	wantCompleted(t, job, err)
	sleeps := rec.all()
	if len(sleeps) != 3 {
		t.Fatalf("sleeps = %v, want 3 (one per refused poll)", sleeps)
	}
	if sleeps[0] < 2*time.Second || sleeps[1] < time.Second {
		t.Errorf("sleeps = %v, want at least the Retry-After of 2s and 1s", sleeps)
	}
	// Third failure in a row without Retry-After: backoff 100ms<<2, jittered
	// to at least half of it.
	if sleeps[2] < 200*time.Millisecond || sleeps[2] > time.Second {
		t.Errorf("third sleep = %v, want an exponential backoff within [200ms, 1s]", sleeps[2])
	}
}

// TestWaitNeverBusyLoops answers polls at once without a change, both ways a
// broken server or proxy might: 304 without waiting, and the same 200 again.
func TestWaitNeverBusyLoops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		answer      func(w http.ResponseWriter, snap Job)
		wantAtLeast time.Duration
	}{
		{"instant 304 with X-Poll-Interval", func(w http.ResponseWriter, snap Job) {
			w.Header().Set("X-Poll-Interval", "3")
			w.WriteHeader(http.StatusNotModified)
		}, 2900 * time.Millisecond},
		{"same snapshot again, no interval", func(w http.ResponseWriter, snap Job) {
			writeJSON(w, http.StatusOK, snap)
		}, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f *fakeServer
			var polls atomic.Int32
			var id string
			f = newFake(t, func(f0 *fakeServer) {
				f0.hook = func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodGet || r.Header.Get("If-None-Match") == "" {
						return false
					}
					if polls.Add(1) == 5 {
						emitAll(f, id, script()) // the fifth poll sees the end
						return false
					}
					tt.answer(w, f.snapshot(id))
					return true
				}
			})
			c, rec := testClient(t, f)
			c.minPoll = time.Second
			id = f.add("hi")
			job, err := c.Wait(testCtx(t), id, nil)
			wantCompleted(t, job, err)
			sleeps := rec.all()
			if len(sleeps) != 4 {
				t.Fatalf("sleeps = %v, want one after each of the 4 polls without change", sleeps)
			}
			for i, d := range sleeps {
				if d < tt.wantAtLeast {
					t.Errorf("sleep %d = %v, want at least %v", i, d, tt.wantAtLeast)
				}
			}
		})
	}
}

func TestWaitStopsOnFinalErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, rec := testClient(t, f)
	_, err := c.Wait(testCtx(t), "job_unknown", nil)
	wantErrIs(t, err, ErrNotFound)
	wantSlice(t, "sleeps", rec.all(), nil)

	c.token = "wrong"
	_, err = c.Wait(testCtx(t), "job_unknown", nil)
	wantErrIs(t, err, ErrUnauthorized)
}

func TestWaitGivesUpOnNetworkFailures(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	c := New("http://"+addr, "t", nil)
	rec := &sleepRecorder{}
	c.sleep = rec.sleep
	_, err = c.Wait(testCtx(t), "job_x", nil)
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("error = %v, want the network error", err)
	}
	if got := len(rec.all()); got != c.maxNetRetries {
		t.Errorf("retried %d times, want %d", got, c.maxNetRetries)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	id := f.add("hi")
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-f.parked // Wait is in a long-poll
		cancel()
	}()
	start := time.Now()
	_, err := c.Wait(ctx, id, nil)
	wantErrIs(t, err, context.Canceled)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Wait took %v to notice the cancellation", d)
	}
}

func TestWaitOnFinishedJobReturnsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	id := f.add("hi")
	emitAll(f, id, []jobtype.Event{{Type: jobtype.EventFailed, Error: &jobtype.Error{Code: "invalid_key", Message: "the key was refused"}}})
	var calls int
	job, err := c.Wait(testCtx(t), id, func(*Job) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "status", job.Status, jobtype.StatusFailed)
	wantEqual(t, "error code", job.Error.Code, "invalid_key")
	wantEqual(t, "onChange calls", calls, 1)
	wantEqual(t, "polls", len(f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id)), 1)
}

func TestParsePollInterval(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"": 0, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "-1": 0, "NaN": 0, "x": 0,
		"1e9": time.Minute, "+Inf": time.Minute, " 3 ": 3 * time.Second,
	} {
		wantEqual(t, "parsePollInterval("+strconv.Quote(in)+")", parsePollInterval(in), want)
	}
}

func TestSleepCtx(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	wantEqual(t, "sleep 0", sleepCtx(ctx, 0), error(nil))
	wantEqual(t, "sleep 1ms", sleepCtx(ctx, time.Millisecond), error(nil))
	cancel()
	start := time.Now()
	wantErrIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
	if time.Since(start) > time.Second {
		t.Error("sleepCtx ignored the cancelled context")
	}
}
