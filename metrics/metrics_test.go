package metrics

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

func TestRequestsByRoute(t *testing.T) {
	t.Parallel()
	r := New()
	for _, route := range []string{"GET /api/v1/jobs/{id}", "GET /api/v1/jobs/{id}", ""} {
		r.RequestStarted()
		r.RequestDone(route, http.StatusNotModified, time.Millisecond)
	}
	got := counters(t, r, "aijobs_http_requests_total")
	want := map[string]float64{"code=304,route=GET /api/v1/jobs/{id}": 2, "code=304,route=unmatched": 1}
	if len(got) != len(want) || got["code=304,route=GET /api/v1/jobs/{id}"] != 2 || got["code=304,route=unmatched"] != 1 {
		t.Errorf("aijobs_http_requests_total = %v, want %v", got, want)
	}
}

// counters reads the series of a counter family: labels (k=v,… sorted by
// name) to value.
func counters(t *testing.T, r *Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(ls, ",")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestStatsBuckets(t *testing.T) {
	t.Parallel()
	r := New()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r.stats.now = func() time.Time { return now }
	r.stats.start = now
	ev := func(typ jobs.EventType, st jobs.Status) jobs.Event {
		return jobs.Event{Event: jobtype.Event{Type: typ, Status: st}}
	}
	for range 3 {
		r.event(ev(jobs.EventStatus, jobs.StatusQueued))
	}
	r.event(ev(jobs.EventCompleted, jobs.StatusCompleted))
	for i := 1; i <= 100; i++ {
		r.AttemptStarted(1, time.Duration(i)*time.Millisecond)
	}
	now = now.Add(10 * time.Second) // the next bucket, half filled
	r.event(ev(jobs.EventFailed, jobs.StatusFailed))
	r.StreamOpened("sse")
	now = now.Add(5 * time.Second)

	v, _ := r.stats.Snapshot(context.Background())
	s := v.(*snapshot)
	if len(s.Time) != 2 {
		t.Fatalf("%d buckets, want 2 (from the start): %v", len(s.Time), s.Time)
	}
	if got := *s.JobsPerMinute["submitted"][0]; got != 18 {
		t.Errorf("submitted per minute in the first bucket: %v, want 3 in 10 s = 18", got)
	}
	if got := *s.JobsPerMinute["failed"][1]; got != 12 {
		t.Errorf("failed per minute in the filling bucket: %v, want 1 in 5 s = 12", got)
	}
	if p50, p95 := *s.WaitSeconds["p50"][0], *s.WaitSeconds["p95"][0]; p50 != 0.05 || p95 != 0.095 {
		t.Errorf("wait p50 %v p95 %v, want 0.05 and 0.095", p50, p95)
	}
	if s.WaitSeconds["p50"][1] != nil {
		t.Errorf("a bucket without attempts has a wait p50: %v", *s.WaitSeconds["p50"][1])
	}
	if got := s.OpenStreams["sse"][1]; got == nil || *got != 1 {
		t.Errorf("open SSE streams now: %v, want 1", got)
	}
	if s.QueueDepth["queued"][0] != nil {
		t.Errorf("queue depth without a store: %v, want null", *s.QueueDepth["queued"][0])
	}

	// An hour on, the old buckets are gone: the window is the last 30
	// minutes, all zero.
	now = now.Add(time.Hour)
	v, _ = r.stats.Snapshot(context.Background())
	s = v.(*snapshot)
	if len(s.Time) != statsBuckets {
		t.Fatalf("%d buckets, want %d", len(s.Time), statsBuckets)
	}
	for i, v := range s.JobsPerMinute["submitted"] {
		if *v != 0 {
			t.Fatalf("bucket %d of an idle hour: %v submitted per minute", i, *v)
		}
	}
}
