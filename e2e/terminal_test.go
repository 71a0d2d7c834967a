package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func (m sseMsg) String() string { return fmt.Sprintf("%.8s…#%d:%s", m.JobID, m.Seq, m.Type) }

// mustSSE opens an SSE stream that must answer 200. Its events must carry
// terminal (sseStream fails the test otherwise).
func mustSSE(t *testing.T, url string, headers ...string) *sseStream {
	t.Helper()
	st, r := openSSE(t, url, headers...)
	if st == nil {
		t.Fatalf("GET %s: status %d: %s", url, r.Status, r.Body)
	}
	return st
}

// until reads events as a client that stops on terminal does: until each
// of the jobs has sent an event with terminal true, then it closes the
// stream; without jobs, until the stream ends.
func (st *sseStream) until(jobs ...string) []sseMsg {
	st.t.Helper()
	open := map[string]bool{}
	for _, id := range jobs {
		open[id] = true
	}
	var out []sseMsg
	for {
		ev, ok := st.next(60 * time.Second)
		if !ok {
			return out
		}
		out = append(out, ev)
		if ev.Terminal && open[ev.JobID] {
			if delete(open, ev.JobID); len(open) == 0 {
				st.cancel()
				return out
			}
		}
	}
}

// byJob splits a user stream's events by job.
func byJob(evs []sseMsg) map[string][]sseMsg {
	out := map[string][]sseMsg{}
	for _, ev := range evs {
		out[ev.JobID] = append(out[ev.JobID], ev)
	}
	return out
}

// wantTerminalOnLast checks one job's events: terminal is false on all but
// the last, true on the last, and the last is the job's end (an event of the
// job's final status, or a snapshot of the finished job).
func wantTerminalOnLast(t *testing.T, what string, evs []sseMsg, final job) {
	t.Helper()
	if len(evs) == 0 {
		t.Errorf("%s: no events", what)
		return
	}
	for i, ev := range evs {
		if ev.Terminal != (i == len(evs)-1) {
			t.Errorf("%s: event %d of %d (%v) has terminal %v, want true exactly on the last: %v", what, i+1, len(evs), ev, ev.Terminal, evs)
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
		userLive := mustSSE(t, s.URL+"/api/v1/events", append(auth, "Last-Event-ID", "0")...)

		completed := a.submit("I want to run a 10 km race in the spring")
		failed := a.submit("[[offline:fatal]] this one fails")
		slow := a.submit("[[offline:slow]] write me a long essay about rivers")
		a.waitFor(slow.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 0 })
		wantLongPoll(t, a, slow.ID, "false")

		// While the slow job works: its stream and the user stream without
		// a position start with a snapshot that is not terminal, then follow
		// live; cancel it.
		jobStream := mustSSE(t, s.URL+"/api/v1/jobs/"+slow.ID+"/events", auth...)
		userStream := mustSSE(t, s.URL+"/api/v1/events", auth...)
		first, _ := jobStream.next(30 * time.Second)
		var userFirst []sseMsg
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

		live := append([]sseMsg{first}, jobStream.until()...)
		if first.Type != "snapshot" {
			t.Errorf("job stream without a position starts with %s, want a snapshot", first.data)
		}
		wantTerminalOnLast(t, "the cancelled job's live stream", live, finals[slow.ID])

		// The user stream without a position: snapshots of the unfinished
		// jobs (not terminal), then live events; the client stops following
		// the job on its terminal event.
		for _, ev := range userFirst {
			if ev.Type != "snapshot" || ev.Terminal {
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
			evs := mustSSE(t, url+"?after=0", auth...).until()
			wantTerminalOnLast(t, f.Status+" job stream from 0", evs, f)
			if n := int64(len(evs)); n != f.Seq {
				t.Errorf("%s job stream from 0: %d events, want %d", f.Status, n, f.Seq)
			}
			// No position: one snapshot of the finished job, terminal.
			evs = mustSSE(t, url, auth...).until()
			if len(evs) != 1 || evs[0].Type != "snapshot" {
				t.Errorf("%s job stream without a position: %v, want one snapshot", f.Status, evs)
			}
			wantTerminalOnLast(t, f.Status+" job stream without a position", evs, f)

			wantLongPoll(t, a, f.ID, "true")
		}

		// The user stream replayed from 0 once every job has finished.
		replay := byJob(mustSSE(t, s.URL+"/api/v1/events", append(auth, "Last-Event-ID", "0")...).until(completed.ID, failed.ID, slow.ID))
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
