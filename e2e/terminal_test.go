package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// termEvent is one event as a client that stops on the terminal flag reads
// it: the flag as sent (nil when the field is missing), and enough to name
// the event in a failure.
type termEvent struct {
	JobID    string `json:"job_id"`
	Seq      int64  `json:"seq"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Terminal *bool  `json:"terminal"`
	Job      *job   `json:"job"`
	data     string
}

func (e termEvent) String() string { return fmt.Sprintf("%.8s…#%d:%s", e.JobID, e.Seq, e.Type) }

// termStream is one open SSE response, read event by event.
type termStream struct {
	t      *testing.T
	cancel context.CancelFunc
	evs    chan termEvent
	err    error // why the stream ended, if not at its end; read after evs is closed
}

// openTermSSE GETs an SSE URL with headers (name, value pairs) and expects
// 200.
func openTermSSE(t *testing.T, url string, headers ...string) *termStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	st := &termStream{t: t, cancel: cancel, evs: make(chan termEvent, 4096)}
	t.Cleanup(cancel)
	go st.read(resp.Body)
	return st
}

func (st *termStream) read(body io.ReadCloser) {
	defer close(st.evs)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		ev := termEvent{data: data}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			st.err = fmt.Errorf("bad event %q: %v", data, err)
			return
		}
		st.evs <- ev
	}
}

// next returns the next event, or false once the stream has ended. An event
// without a terminal field fails the test.
func (st *termStream) next(timeout time.Duration) (termEvent, bool) {
	st.t.Helper()
	select {
	case ev, ok := <-st.evs:
		if !ok && st.err != nil {
			st.t.Fatal(st.err)
		}
		if ok && ev.Terminal == nil {
			st.t.Fatalf("event without terminal: %s", ev.data)
		}
		return ev, ok
	case <-time.After(timeout):
		st.t.Fatalf("no event within %v", timeout)
		return termEvent{}, false
	}
}

// until reads events as a client that stops on terminal does: until each
// of the jobs has sent an event with terminal true, then it closes the
// stream; without jobs, until the stream ends.
func (st *termStream) until(jobs ...string) []termEvent {
	st.t.Helper()
	open := map[string]bool{}
	for _, id := range jobs {
		open[id] = true
	}
	var out []termEvent
	for {
		ev, ok := st.next(60 * time.Second)
		if !ok {
			return out
		}
		out = append(out, ev)
		if *ev.Terminal && open[ev.JobID] {
			if delete(open, ev.JobID); len(open) == 0 {
				st.cancel()
				return out
			}
		}
	}
}

// byJob splits a user stream's events by job.
func byJob(evs []termEvent) map[string][]termEvent {
	out := map[string][]termEvent{}
	for _, ev := range evs {
		out[ev.JobID] = append(out[ev.JobID], ev)
	}
	return out
}

// wantTerminalOnLast checks one job's events: terminal is false on all but
// the last, true on the last, and the last is the job's end (an event of the
// job's final status, or a snapshot of the finished job).
func wantTerminalOnLast(t *testing.T, what string, evs []termEvent, final job) {
	t.Helper()
	if len(evs) == 0 {
		t.Errorf("%s: no events", what)
		return
	}
	for i, ev := range evs {
		if *ev.Terminal != (i == len(evs)-1) {
			t.Errorf("%s: event %d of %d (%v) has terminal %v, want true exactly on the last: %v", what, i+1, len(evs), ev, *ev.Terminal, evs)
		}
	}
	last := evs[len(evs)-1]
	if ok := last.Type == final.Status || (last.Type == "snapshot" && last.Job != nil && last.Job.Terminal); !ok ||
		last.Seq != final.Seq || last.Status != final.Status {
		t.Errorf("%s: the terminal event %s is not the job's end (%s, seq %d)", what, last.data, final.Status, final.Seq)
	}
}

// TestTerminalOnEveryEvent follows jobs that end each way — completed,
// failed, cancelled — over every view of the log, as a client that stops on
// terminal and on nothing else: the flag is on every event, and true exactly
// on each job's last.
func TestTerminalOnEveryEvent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("terry"))
		auth := []string{"Authorization", "Bearer " + a.token}

		// The user stream from position 0, before any job: every event of
		// every job, live.
		userLive := openTermSSE(t, s.URL+"/api/v1/events", append(auth, "Last-Event-ID", "0")...)

		completed := a.submit("I want to run a 10 km race in the spring")
		failed := a.submit("[[offline:fatal]] this one fails")
		slow := a.submit("[[offline:slow]] write me a long essay about rivers")
		a.waitFor(slow.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 0 })
		wantLongPoll(t, a, slow.ID, "false")

		// While the slow job works: its stream and the user stream without
		// a position start with a snapshot that is not terminal, then follow
		// live; cancel it.
		jobStream := openTermSSE(t, s.URL+"/api/v1/jobs/"+slow.ID+"/events", auth...)
		userStream := openTermSSE(t, s.URL+"/api/v1/events", auth...)
		first, _ := jobStream.next(30 * time.Second)
		var userFirst []termEvent
		for len(userFirst) == 0 || userFirst[len(userFirst)-1].JobID != slow.ID {
			ev, _ := userStream.next(30 * time.Second)
			userFirst = append(userFirst, ev)
		}
		if r := a.do("POST", "/api/v1/jobs/"+slow.ID+"/cancel", nil); r.Status != http.StatusOK {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}

		finals := map[string]job{}
		for id, want := range map[string]string{completed.ID: "completed", failed.ID: "failed", slow.ID: "cancelled"} {
			finals[id] = a.waitTerminal(id)
			if finals[id].Status != want {
				t.Fatalf("job %s ended %s, want %s", id, finals[id].Status, want)
			}
		}

		live := append([]termEvent{first}, jobStream.until()...)
		if first.Type != "snapshot" {
			t.Errorf("job stream without a position starts with %s, want a snapshot", first.data)
		}
		wantTerminalOnLast(t, "the cancelled job's live stream", live, finals[slow.ID])

		// The user stream without a position: snapshots of the unfinished
		// jobs (not terminal), then live events; the client stops following
		// the job on its terminal event.
		for _, ev := range userFirst {
			if ev.Type != "snapshot" || *ev.Terminal {
				t.Errorf("user stream without a position starts with %s, want snapshots of unfinished jobs", ev.data)
			}
		}
		slowOnUser := byJob(append(userFirst, userStream.until(slow.ID)...))[slow.ID]
		wantTerminalOnLast(t, "the cancelled job on the live user stream", slowOnUser, finals[slow.ID])

		// The user stream from 0, opened before the jobs: every event of
		// each job, terminal exactly on its last.
		fromZero := byJob(userLive.until(completed.ID, failed.ID, slow.ID))
		for id, f := range finals {
			wantTerminalOnLast(t, f.Status+" job on the user stream from 0", fromZero[id], f)
			if n := int64(len(fromZero[id])); n != f.Seq {
				t.Errorf("%s job on the user stream from 0: %d events, want %d", f.Status, n, f.Seq)
			}
		}

		for _, f := range finals {
			url := s.URL + "/api/v1/jobs/" + f.ID + "/events"
			// From 0: the whole log, ending after the terminal event.
			evs := openTermSSE(t, url+"?after=0", auth...).until()
			wantTerminalOnLast(t, f.Status+" job stream from 0", evs, f)
			if n := int64(len(evs)); n != f.Seq {
				t.Errorf("%s job stream from 0: %d events, want %d", f.Status, n, f.Seq)
			}
			// No position: one snapshot of the finished job, terminal.
			evs = openTermSSE(t, url, auth...).until()
			if len(evs) != 1 || evs[0].Type != "snapshot" {
				t.Errorf("%s job stream without a position: %v, want one snapshot", f.Status, evs)
			}
			wantTerminalOnLast(t, f.Status+" job stream without a position", evs, f)

			wantLongPoll(t, a, f.ID, "true")
		}

		// The user stream replayed from 0 once every job has finished.
		replay := byJob(openTermSSE(t, s.URL+"/api/v1/events", append(auth, "Last-Event-ID", "0")...).until(completed.ID, failed.ID, slow.ID))
		for id, f := range finals {
			wantTerminalOnLast(t, f.Status+" job on the user stream replayed from 0", replay[id], f)
		}
	})
}

// wantLongPoll long-polls the job from its first version: the answer is the
// snapshot, with terminal as want.
func wantLongPoll(t *testing.T, a *api, id, want string) {
	t.Helper()
	r := a.do("GET", "/api/v1/jobs/"+id+"?wait=5", nil, "If-None-Match", `"1"`)
	var snap map[string]json.RawMessage
	r.json(t, &snap)
	if r.Status != http.StatusOK || string(snap["terminal"]) != want {
		t.Errorf("long-poll of job %s (%s): %d terminal=%s, want 200 and %s", id, snap["status"], r.Status, snap["terminal"], want)
	}
}
