package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// TestWatchReplaysAndFollows watches from position 0 a job that is half
// way: the stream replays the log, then follows it live to the end.
func TestWatchReplaysAndFollows(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, rec := testClient(t, f)
	id := f.add("hi")
	evs := script()
	emitAll(f, id, evs[:3]) // seq 2..4 before Watch
	// The rest comes while the stream follows.
	emitOnSubscribe(f, id, evs[3:])

	got, job, err := watchAll(t, c, id, 0)
	wantCompleted(t, job, err)
	wantSlice(t, "event seqs", seqsOf(got), seqRange(1, 7))
	wantSlice(t, "event types", typesOf(got), []jobtype.EventType{"status", "status", "progress", "output", "progress", "output", "completed"})
	var text strings.Builder
	for _, ev := range got {
		text.WriteString(ev.Text)
	}
	wantEqual(t, "streamed text", text.String(), "Hello, world.")
	if job.StreamToken == "" || job.CreatedAt.IsZero() {
		t.Errorf("final job %s: want the full snapshot (stream token, created_at)", describe(job))
	}
	streams := f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id+"/events")
	wantEqual(t, "stream connections", len(streams), 1)
	wantEqual(t, "Last-Event-ID", streams[0].Header.Get("Last-Event-ID"), "0")
	wantEqual(t, "Accept", streams[0].Header.Get("Accept"), "text/event-stream")
	wantSlice(t, "sleeps", rec.all(), nil)
}

func TestWatchStartsWithSnapshotWithoutPosition(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	id := f.add("hi")
	evs := script()
	emitAll(f, id, evs[:3])
	emitOnSubscribe(f, id, evs[3:])
	got, job, err := watchAll(t, c, id, -1)
	wantCompleted(t, job, err)
	wantSlice(t, "event seqs", seqsOf(got), []int64{4, 5, 6, 7})
	wantSlice(t, "event types", typesOf(got), []jobtype.EventType{"snapshot", "progress", "output", "completed"})
	if len(got) > 0 && (got[0].Job == nil || got[0].Job.Status != jobtype.StatusWorking) {
		t.Errorf("first event %s: want a snapshot of the working job", describe(got[0]))
	}
	streams := f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id+"/events")
	if _, sent := streams[0].Header["Last-Event-Id"]; sent {
		t.Errorf("Last-Event-ID sent for after = -1: %q", streams[0].Header.Get("Last-Event-ID"))
	}
}

// TestWatchResumesDroppedStreams cuts the stream after two events, then after
// one: Watch reconnects with Last-Event-ID after the server's retry delay,
// and every event arrives once, in order.
func TestWatchResumesDroppedStreams(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(f *fakeServer) {
		f.dropAfter = func(conn int) int { return []int{0, 2, 1, 0}[min(conn, 3)] }
	})
	c, rec := testClient(t, f)
	id := f.add("hi")
	evs := script()
	emitAll(f, id, evs[:3]) // seq 1..4 in the log
	// The third connection follows live.
	emitOnSubscribe(f, id, evs[3:])
	got, job, err := watchAll(t, c, id, 0)
	wantCompleted(t, job, err)
	wantSlice(t, "event seqs", seqsOf(got), seqRange(1, 7))

	var ids []string
	for _, r := range f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id+"/events") {
		ids = append(ids, r.Header.Get("Last-Event-ID"))
	}
	wantSlice(t, "Last-Event-ID of each connection", ids, []string{"0", "2", "3"})
	wantSlice(t, "pauses before reconnecting (the server's retry:)", rec.all(), []time.Duration{2 * time.Second, 2 * time.Second})
}

// TestWatchReconnectsSilentStream: a stream that goes quiet (no event, no
// heartbeat) past the idle timeout is dropped and resumed.
func TestWatchReconnectsSilentStream(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	f := newFake(t, func(f *fakeServer) {
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/events") || conns.Add(1) > 1 {
				return false
			}
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "retry: 10\n\nid: 1\ndata: {\"seq\":1,\"type\":\"status\",\"status\":\"queued\"}\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done() // then silence
			return true
		}
	})
	c, rec := testClient(t, f)
	c.idleTimeout = 200 * time.Millisecond
	id := f.add("hi")
	emitAll(f, id, script())
	got, job, err := watchAll(t, c, id, 0)
	wantCompleted(t, job, err)
	wantSlice(t, "event seqs", seqsOf(got), seqRange(1, 7))
	var ids []string
	for _, r := range f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id+"/events") {
		ids = append(ids, r.Header.Get("Last-Event-ID"))
	}
	wantSlice(t, "Last-Event-ID of each connection", ids, []string{"0", "1"})
	wantSlice(t, "pauses", rec.all(), []time.Duration{10 * time.Millisecond})
}

// TestWatchSkipsRepeatedEvents: a server (or proxy) that sends an event
// twice does not make the caller see it twice.
func TestWatchSkipsRepeatedEvents(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(f *fakeServer) {
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/events") {
				return false
			}
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			for _, seq := range []int{1, 2, 2, 1, 3} {
				typ, status := "progress", "working"
				if seq == 3 {
					typ, status = "completed", "completed"
				}
				fmt.Fprintf(w, "id: %d\ndata: {\"seq\":%d,\"type\":%q,\"status\":%q,\"terminal\":%v}\n\n", seq, seq, typ, status, seq == 3)
			}
			return true
		}
	})
	c, _ := testClient(t, f)
	id := f.add("hi")
	emitAll(f, id, script())
	got, _, err := watchAll(t, c, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantSlice(t, "event seqs", seqsOf(got), []int64{1, 2, 3})
}

// TestWatchStopsOnTerminal: Watch stops on the first event whose terminal
// flag is set — the job's last event, or a snapshot of a finished job —
// without waiting for the server to end the stream.
func TestWatchStopsOnTerminal(t *testing.T) {
	t.Parallel()
	done := `{"job_id":"%s","status":"completed","terminal":true,"progress":100,"seq":7}`
	tests := []struct {
		name   string
		events []string // data lines; %s is the job id
		seqs   []int64
	}{
		{"the last event", []string{
			`{"seq":1,"type":"status","status":"queued","terminal":false}`,
			`{"seq":2,"type":"progress","status":"working","progress":50,"terminal":false}`,
			`{"seq":7,"type":"completed","status":"completed","progress":100,"terminal":true}`,
		}, []int64{1, 2, 7}},
		{"a snapshot of a finished job", []string{
			`{"seq":7,"type":"snapshot","status":"completed","progress":100,"terminal":true,"job":` + done + `}`,
		}, []int64{7}},
		{"a resync to a finished job", []string{
			`{"seq":1,"type":"status","status":"queued","terminal":false}`,
			`{"seq":7,"type":"resync","status":"completed","progress":100,"terminal":true,"job":` + done + `}`,
		}, []int64{1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int32
			f := newFake(t, func(f *fakeServer) {
				f.hook = func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/events") {
						return false
					}
					conns.Add(1)
					id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/jobs/"), "/events")
					w.Header().Set("Content-Type", "text/event-stream")
					for _, data := range tt.events {
						data = strings.ReplaceAll(data, "%s", id)
						var seq struct{ Seq int64 }
						_ = json.Unmarshal([]byte(data), &seq)
						fmt.Fprintf(w, "id: %d\ndata: %s\n\n", seq.Seq, data)
					}
					http.NewResponseController(w).Flush()
					<-r.Context().Done() // the stream stays open: only the flag ends the watch
					return true
				}
			})
			c, _ := testClient(t, f)
			c.idleTimeout = time.Minute
			id := f.add("hi")
			emitAll(f, id, script())
			ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
			defer cancel()
			var got []jobtype.Event
			job, err := c.Watch(ctx, id, 0, func(ev jobtype.Event) { got = append(got, ev) })
			wantCompleted(t, job, err)
			wantSlice(t, "event seqs", seqsOf(got), tt.seqs)
			wantEqual(t, "stream connections", int(conns.Load()), 1)
			if n := len(got); n > 0 && !got[n-1].Terminal {
				t.Errorf("last event %s: want terminal", describe(got[n-1]))
			}
		})
	}
}

func TestWatchResyncsFromTrimmedLog(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	id := f.add("hi")
	evs := script()
	emitAll(f, id, evs[:4])
	f.mu.Lock()
	f.jobs[id].trimmed = 3 // seq 1..3 are gone from the log
	f.mu.Unlock()
	emitOnSubscribe(f, id, evs[4:])
	got, job, err := watchAll(t, c, id, 1)
	wantCompleted(t, job, err)
	wantSlice(t, "event types", typesOf(got), []jobtype.EventType{"resync", "output", "completed"})
	wantSlice(t, "event seqs", seqsOf(got), []int64{5, 6, 7})
}

func TestWatchFinishedJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	id := f.add("hi")
	emitAll(f, id, script())

	t.Run("position at the end: 204", func(t *testing.T) {
		got, job, err := watchAll(t, c, id, 7)
		wantCompleted(t, job, err)
		wantEqual(t, "events", len(got), 0)
	})
	t.Run("no position: a terminal snapshot", func(t *testing.T) {
		got, job, err := watchAll(t, c, id, -1)
		wantCompleted(t, job, err)
		wantSlice(t, "event types", typesOf(got), []jobtype.EventType{"snapshot"})
	})
	t.Run("position behind: the rest of the log", func(t *testing.T) {
		got, job, err := watchAll(t, c, id, 5)
		wantCompleted(t, job, err)
		wantSlice(t, "event seqs", seqsOf(got), []int64{6, 7})
	})
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, _ := testClient(t, f)
	_, err := c.Watch(testCtx(t), "job_unknown", 0, nil)
	wantErrIs(t, err, ErrNotFound)
	wantEqual(t, "long-polls after a 404 stream", len(f.requestsTo(http.MethodGet, "/api/v1/jobs/job_unknown")), 0)

	bad := New(f.srv.URL, "wrong", nil)
	_, err = bad.Watch(testCtx(t), "job_unknown", 0, nil)
	wantErrIs(t, err, ErrUnauthorized)

	id := f.add("hi")
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-f.subscribed
		cancel()
	}()
	start := time.Now()
	_, err = c.Watch(ctx, id, 0, nil)
	wantErrIs(t, err, context.Canceled)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Watch took %v to notice the cancellation", d)
	}
}

// TestWatchFallsBackToLongPolling refuses or blocks streaming in each way a
// server or a proxy might; Watch must long-poll instead and still follow the
// job to its end.
func TestWatchFallsBackToLongPolling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream func(w http.ResponseWriter, r *http.Request)
	}{
		{"429 too_many_streams", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusTooManyRequests, "too_many_streams", "too many open streams", 5)
		}},
		{"503", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "store_unavailable", "down", 1)
		}},
		{"proxy page with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>please log in</html>")
		}},
		{"no answer at all", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		{"headers but no bytes (a buffering proxy)", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}},
		{"events that are not JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "id: 1\ndata: <html>\n\n")
		}},
		{"streams that end without an event", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "retry: 1\n\n: hb\n\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(f *fakeServer) {
				f.hook = func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/events") {
						return false
					}
					tt.stream(w, r)
					return true
				}
			})
			c, _ := testClient(t, f)
			c.firstByteTimeout = 300 * time.Millisecond
			id := f.add("hi")
			evs := script()
			emitAll(f, id, evs[:2])
			driveOnPark(t, f, id, f.parked, evs[2:])

			got, job, err := watchAll(t, c, id, 0)
			wantCompleted(t, job, err)
			for _, ev := range got {
				if ev.Type != jobtype.EventSnapshot || ev.Job == nil || ev.Seq != ev.Job.Seq || ev.Status != ev.Job.Status {
					t.Errorf("fallback event %s: want a snapshot event that agrees with its job", describe(ev))
				}
			}
			wantSlice(t, "event seqs", seqsOf(got), seqRange(3, 7))
			for _, ev := range got {
				if ev.Terminal != (ev.Seq == 7) {
					t.Errorf("fallback event %s: terminal must be true exactly on the last", describe(ev))
				}
			}
			if polls := f.requestsTo(http.MethodGet, "/api/v1/jobs/"+id); len(polls) < 5 {
				t.Errorf("%d long-polls, want one per version", len(polls))
			}
		})
	}
}

// TestWatchEndsWithEventsWhenSnapshotFails: once the terminal event has
// arrived, a failing fetch of the final snapshot does not lose the result;
// the state built from the events stands in for it.
func TestWatchEndsWithEventsWhenSnapshotFails(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(f *fakeServer) {
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasSuffix(r.URL.Path, "/events") {
				return false
			}
			writeError(w, http.StatusInternalServerError, "internal", "internal error", 0)
			return true
		}
	})
	c, _ := testClient(t, f)
	id := f.add("hi")
	emitAll(f, id, script())
	job, err := c.Watch(testCtx(t), id, 0, nil)
	wantCompleted(t, job, err)
	if job != nil {
		wantEqual(t, "seq", job.Seq, 7)
		wantEqual(t, "id", job.ID, id)
		wantEqual(t, "intent", job.Intent, jobtype.IntentGeneral)
		if job.FinishedAt == nil {
			t.Error("finished_at missing from the job built from events")
		}
	}
}
