package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseMsg is one Server-Sent Event as these tests read it.
type sseMsg struct {
	ID      int64 // the id: line (-1 when absent)
	Type    string
	JobID   string
	Seq     int64
	UserSeq int64
	Status  string
	// Terminal is the server's flag: the event ends its job.
	Terminal bool
	Job      *job // snapshot and resync events
	data     string
}

// terminal reports whether the event ends its job, as a client that does
// what the README says decides it: by the event's own flag.
func (m sseMsg) terminal() bool { return m.Terminal }

// sseStream is one open SSE response, read event by event.
type sseStream struct {
	t      *testing.T
	Header http.Header
	cancel context.CancelFunc
	msgs   chan sseMsg
	// bad is a malformed line, if the stream had one; read it after msgs
	// is closed. A stream that is cut (a server going away) just ends.
	bad error
}

// openSSE GETs an SSE URL (path on s, or a full URL) with headers (name,
// value pairs). On 200 it returns the stream; otherwise the response.
func openSSE(t *testing.T, url string, headers ...string) (*sseStream, response) {
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
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	st := &sseStream{t: t, Header: resp.Header, cancel: cancel, msgs: make(chan sseMsg, 4096)}
	t.Cleanup(st.close)
	go st.read(resp.Body)
	return st, response{Status: resp.StatusCode, Header: resp.Header}
}

func (st *sseStream) read(body io.ReadCloser) {
	defer close(st.msgs)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	cur := sseMsg{ID: -1}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			n, err := strconv.ParseInt(line[4:], 10, 64)
			if err != nil {
				st.bad = fmt.Errorf("bad id line %q", line)
				return
			}
			cur.ID = n
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
			var ev struct {
				JobID    string `json:"job_id"`
				Seq      int64  `json:"seq"`
				UserSeq  int64  `json:"user_seq"`
				Type     string `json:"type"`
				Status   string `json:"status"`
				Terminal *bool  `json:"terminal"`
				Job      *job   `json:"job"`
			}
			if err := json.Unmarshal([]byte(cur.data), &ev); err != nil {
				st.bad = fmt.Errorf("bad data line %q: %v", line, err)
				return
			}
			if ev.Terminal == nil {
				st.bad = fmt.Errorf("event without terminal: %q", line)
				return
			}
			cur.JobID, cur.Seq, cur.UserSeq, cur.Type, cur.Status, cur.Job = ev.JobID, ev.Seq, ev.UserSeq, ev.Type, ev.Status, ev.Job
			cur.Terminal = *ev.Terminal
		case line == "":
			if cur.data != "" {
				st.msgs <- cur
			}
			cur = sseMsg{ID: -1}
		}
	}
}

func (st *sseStream) close() { st.cancel() }

// next returns the next event, or false once the stream has ended.
func (st *sseStream) next(timeout time.Duration) (sseMsg, bool) {
	st.t.Helper()
	select {
	case m, ok := <-st.msgs:
		if !ok && st.bad != nil {
			st.t.Fatalf("SSE stream: %v", st.bad)
		}
		return m, ok
	case <-time.After(timeout):
		st.t.Fatalf("no SSE event within %v", timeout)
		return sseMsg{}, false
	}
}

// rest reads every event until the stream ends.
func (st *sseStream) rest(timeout time.Duration) []sseMsg {
	st.t.Helper()
	var out []sseMsg
	deadline := time.Now().Add(timeout)
	for {
		m, ok := st.next(time.Until(deadline))
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// checkJobStream checks one job's events: ids are the events' seqs, each
// one more than the one before, and the last (only the last) is terminal.
func checkJobStream(t *testing.T, evs []sseMsg) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if ev.ID != ev.Seq {
			t.Fatalf("event %d: id %d but seq %d", i, ev.ID, ev.Seq)
		}
		if i > 0 && ev.ID != evs[i-1].ID+1 {
			t.Fatalf("ids not contiguous at %d: %s", i, sseIDs(evs))
		}
		if ev.terminal() != (i == len(evs)-1) {
			t.Fatalf("event %d (%s) terminal=%v in a stream of %d: %s", i, ev.Type, ev.terminal(), len(evs), sseIDs(evs))
		}
	}
}

func sseIDs(evs []sseMsg) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%d:%s ", ev.ID, ev.Type)
	}
	return b.String()
}

func TestSSEJobStream(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("sam"))
		j := a.submit("[[offline:slow]] plan a week of training for a 10 km run")
		url := s.URL + "/api/v1/jobs/" + j.ID + "/events"
		auth := []string{"Authorization", "Bearer " + a.token}

		// Without a position: a snapshot first, with the headers a stream
		// needs behind a proxy.
		st, r := openSSE(t, url, auth...)
		if st == nil {
			t.Fatalf("stream: %d %s", r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
			t.Errorf("Cache-Control %q", cc)
		}
		if xa := r.Header.Get("X-Accel-Buffering"); xa != "no" {
			t.Errorf("X-Accel-Buffering %q", xa)
		}
		var seen []sseMsg
		for len(seen) < 4 {
			ev, ok := st.next(30 * time.Second)
			if !ok {
				t.Fatalf("stream ended early: %s", sseIDs(seen))
			}
			seen = append(seen, ev)
		}
		if seen[0].Type != "snapshot" || seen[0].Job == nil || seen[0].Job.ID != j.ID {
			t.Fatalf("first event %s, want a snapshot of the job", seen[0].data)
		}
		// Drop the connection mid-stream and resume from the last id.
		st.close()
		last := seen[len(seen)-1].ID
		st2, r := openSSE(t, url, append(auth, "Last-Event-ID", strconv.FormatInt(last, 10))...)
		if st2 == nil {
			t.Fatalf("resume: %d %s", r.Status, r.Body)
		}
		rest := st2.rest(60 * time.Second) // ends by itself after the terminal event
		if len(rest) == 0 || rest[0].Type == "snapshot" {
			t.Fatalf("resume sent %s", sseIDs(rest))
		}
		all := append(seen, rest...)
		checkJobStream(t, all)
		final := a.get(j.ID)
		if !final.Terminal || all[len(all)-1].ID != final.Seq {
			t.Fatalf("stream ended at %d; job %s at seq %d", all[len(all)-1].ID, final.Status, final.Seq)
		}

		// The whole log from the start, then ?after= gives exactly the rest.
		full, r := openSSE(t, url+"?after=0", auth...)
		if full == nil {
			t.Fatalf("after=0: %d %s", r.Status, r.Body)
		}
		log := full.rest(30 * time.Second)
		checkJobStream(t, log)
		if log[0].ID != 1 || log[len(log)-1].ID != final.Seq {
			t.Fatalf("log from 0: %s", sseIDs(log))
		}
		mid := final.Seq / 2
		part, _ := openSSE(t, fmt.Sprintf("%s?after=%d", url, mid), auth...)
		got := part.rest(30 * time.Second)
		checkJobStream(t, got)
		if got[0].ID != mid+1 || len(got) != int(final.Seq-mid) {
			t.Fatalf("after=%d: %s", mid, sseIDs(got))
		}
		// Last-Event-ID wins over ?after= (EventSource keeps the URL).
		part, _ = openSSE(t, url+"?after=1", append(auth, "Last-Event-ID", strconv.FormatInt(final.Seq-1, 10))...)
		if got := part.rest(30 * time.Second); len(got) != 1 || got[0].ID != final.Seq {
			t.Fatalf("Last-Event-ID with after: %s", sseIDs(got))
		}
		// A terminal job without a position: its snapshot, then the end.
		snap, _ := openSSE(t, url, auth...)
		if got := snap.rest(30 * time.Second); len(got) != 1 || got[0].Type != "snapshot" || !got[0].Job.Terminal || got[0].ID != final.Seq {
			t.Fatalf("terminal job without position: %s", sseIDs(got))
		}
		// At the end already: 204, so EventSource stops reconnecting.
		for _, h := range [][]string{{"Last-Event-ID", strconv.FormatInt(final.Seq, 10)}, {"Last-Event-ID", strconv.FormatInt(final.Seq+5, 10)}} {
			if st, r := openSSE(t, url, append(auth, h...)...); st != nil || r.Status != http.StatusNoContent {
				t.Fatalf("%v at the end: %d %s", h, r.Status, r.Body)
			}
		}
		if st, r := openSSE(t, fmt.Sprintf("%s?after=%d", url, final.Seq), auth...); st != nil || r.Status != http.StatusNoContent {
			t.Fatalf("after= at the end: %d", r.Status)
		}
		// Bad positions.
		for _, bad := range []string{"abc", "-1", "1.5", "1e3", "0x10", "99999999999999999999"} {
			_, r := openSSE(t, url, append(auth, "Last-Event-ID", bad)...)
			wantError(t, r, 400, "invalid_last_event_id")
		}
		_, r = openSSE(t, url+"?after=-3", auth...)
		wantError(t, r, 400, "invalid_last_event_id")
		_, r = openSSE(t, s.URL+"/api/v1/events", append(auth, "Last-Event-ID", "x")...)
		wantError(t, r, 400, "invalid_last_event_id")
	})
}

func TestSSEAuth(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		alice := s.client(s.token("alice"))
		bob := s.client(s.token("bob"))
		j := alice.submit("[[offline:slow]] write a haiku about rivers")
		k := alice.submit("another one")
		b := bob.submit("bob's job")
		url := s.URL + "/api/v1/jobs/" + j.ID + "/events"

		// The job's stream token in the URL works: a browser's EventSource
		// cannot send headers.
		st, r := openSSE(t, url+"?token="+j.StreamToken)
		if st == nil {
			t.Fatalf("stream token: %d %s", r.Status, r.Body)
		}
		if ev, _ := st.next(30 * time.Second); ev.Type != "snapshot" {
			t.Fatalf("first event %s", ev.data)
		}
		st.close()
		// A user stream token works for any of the user's jobs and the
		// user stream.
		var ut struct {
			StreamToken string `json:"stream_token"`
		}
		alice.do("POST", "/api/v1/stream_tokens", nil).json(t, &ut)
		if st, r := openSSE(t, s.URL+"/api/v1/jobs/"+k.ID+"/events?token="+ut.StreamToken); st == nil && r.Status != http.StatusNoContent {
			t.Fatalf("user stream token on a job: %d %s", r.Status, r.Body)
		}
		if st, r := openSSE(t, s.URL+"/api/v1/events?token="+ut.StreamToken); st == nil {
			t.Fatalf("user stream token on the user stream: %d %s", r.Status, r.Body)
		}

		// The API token never goes in a URL.
		_, r = openSSE(t, url+"?token="+alice.token)
		wantError(t, r, 401, "unauthorized")
		_, r = openSSE(t, s.URL+"/api/v1/events?token="+alice.token)
		wantError(t, r, 401, "unauthorized")
		// A job's stream token is for that job only.
		_, r = openSSE(t, s.URL+"/api/v1/jobs/"+k.ID+"/events?token="+j.StreamToken)
		wantError(t, r, 401, "unauthorized")
		_, r = openSSE(t, s.URL+"/api/v1/events?token="+j.StreamToken)
		wantError(t, r, 401, "unauthorized")
		// No token, a forged one, a tampered one.
		_, r = openSSE(t, url)
		wantError(t, r, 401, "unauthorized")
		_, r = openSSE(t, url+"?token=st_forged.token")
		wantError(t, r, 401, "unauthorized")
		_, r = openSSE(t, url+"?token="+j.StreamToken[:len(j.StreamToken)-3]+"AAA")
		wantError(t, r, 401, "unauthorized")
		_, r = openSSE(t, url, "Authorization", "Bearer aj_nope")
		wantError(t, r, 401, "unauthorized")
		// Another user's job: 404 with their API token and with their
		// stream tokens, never a hint that it exists.
		_, r = openSSE(t, url, "Authorization", "Bearer "+bob.token)
		wantError(t, r, 404, "not_found")
		_, r = openSSE(t, s.URL+"/api/v1/jobs/"+j.ID+"/events?token="+b.StreamToken)
		wantError(t, r, 401, "unauthorized")
		var bt struct {
			StreamToken string `json:"stream_token"`
		}
		bob.do("POST", "/api/v1/stream_tokens", nil).json(t, &bt)
		_, r = openSSE(t, url+"?token="+bt.StreamToken)
		wantError(t, r, 404, "not_found")
		_, r = openSSE(t, s.URL+"/api/v1/jobs/job_doesnotexist/events", "Authorization", "Bearer "+alice.token)
		wantError(t, r, 404, "not_found")
	})
}

func TestSSEUserStream(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		alice := s.client(s.token("ann"))
		bob := s.client(s.token("ben"))
		running := alice.submit("[[offline:slow]] plan my garden")
		var ut struct {
			StreamToken string `json:"stream_token"`
		}
		alice.do("POST", "/api/v1/stream_tokens", nil).json(t, &ut)
		st, r := openSSE(t, s.URL+"/api/v1/events?token="+ut.StreamToken)
		if st == nil {
			t.Fatalf("user stream: %d %s", r.Status, r.Body)
		}
		first, _ := st.next(30 * time.Second)
		if first.Type != "snapshot" || first.JobID != running.ID {
			t.Fatalf("first event %s, want the snapshot of the unfinished job", first.data)
		}
		theirs := bob.submit("bob's secret plan")
		second := alice.submit("I want to read 20 books this year")
		open := map[string]bool{running.ID: true, second.ID: true}
		lastSeq := map[string]int64{running.ID: first.Seq}
		lastID := first.ID
		for len(open) > 0 {
			ev, ok := st.next(60 * time.Second)
			if !ok {
				t.Fatal("the user stream ended by itself")
			}
			if ev.JobID == theirs.ID {
				t.Fatalf("another user's event: %s", ev.data)
			}
			if !open[ev.JobID] {
				t.Fatalf("event of job %s after its end, or of an unknown job: %s", ev.JobID, ev.data)
			}
			if ev.ID <= lastID || ev.ID != ev.UserSeq {
				t.Fatalf("user stream id %d (user_seq %d) after %d: want the user seq, increasing", ev.ID, ev.UserSeq, lastID)
			}
			if prev, ok := lastSeq[ev.JobID]; ok && ev.Seq != prev+1 {
				t.Fatalf("job %s: seq %d after %d", ev.JobID, ev.Seq, prev)
			}
			lastID, lastSeq[ev.JobID] = ev.ID, ev.Seq
			if ev.terminal() {
				delete(open, ev.JobID)
			}
		}
		st.close()
		// Resuming the user stream from an id sends exactly what followed.
		third := alice.waitTerminal(alice.submit("one more").ID)
		st, _ = openSSE(t, s.URL+"/api/v1/events?token="+ut.StreamToken, "Last-Event-ID", strconv.FormatInt(lastID, 10))
		for seq := int64(1); seq <= third.Seq; seq++ {
			ev, _ := st.next(30 * time.Second)
			if ev.JobID != third.ID || ev.Seq != seq || ev.ID <= lastID {
				t.Fatalf("resumed user stream: %s (want seq %d, an id past %d)", ev.data, seq, lastID)
			}
			lastID = ev.ID
		}
	})
}

func TestSSEServerRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		// A short drain: the slow job is interrupted and resumes after the
		// restart, so the stream must follow it across.
		s := startServer(t, db, "--shutdown-timeout", "300ms")
		a := s.client(s.token("ray"))
		j := a.submit("[[offline:slow]] write a long story about a lighthouse keeper")
		url := s.URL + "/api/v1/jobs/" + j.ID + "/events"
		st, r := openSSE(t, url+"?token="+j.StreamToken)
		if st == nil {
			t.Fatalf("stream: %d %s", r.Status, r.Body)
		}
		var all []sseMsg
		for len(all) < 3 {
			ev, ok := st.next(30 * time.Second)
			if !ok {
				t.Fatal("stream ended early")
			}
			all = append(all, ev)
		}
		s.restart()
		// The old stream ended with the server; keep what it sent.
		all = append(all, st.rest(30*time.Second)...)
		if all[len(all)-1].terminal() {
			t.Logf("the job finished during shutdown; the reconnect must still answer correctly")
		}
		last := all[len(all)-1].ID
		st2, r := openSSE(t, url+"?token="+j.StreamToken, "Last-Event-ID", strconv.FormatInt(last, 10))
		switch {
		case st2 != nil:
			all = append(all, st2.rest(90*time.Second)...)
		case r.Status == http.StatusNoContent && all[len(all)-1].terminal():
		default:
			t.Fatalf("reconnect after restart: %d %s", r.Status, r.Body)
		}
		checkJobStream(t, all)
		if final := a.get(j.ID); all[len(all)-1].ID != final.Seq {
			t.Fatalf("stream ended at %d, job at seq %d", all[len(all)-1].ID, final.Seq)
		}
	})
}

func TestSSETooManyStreams(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--max-streams", "2")
		a := s.client(s.token("max"))
		auth := []string{"Authorization", "Bearer " + a.token}
		one, _ := openSSE(t, s.URL+"/api/v1/events", auth...)
		two, _ := openSSE(t, s.URL+"/api/v1/events", auth...)
		if one == nil || two == nil {
			t.Fatal("the first two streams were refused")
		}
		_, r := openSSE(t, s.URL+"/api/v1/events", auth...)
		wantError(t, r, 429, "too_many_streams")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		j := a.submit("quick one")
		_, r = openSSE(t, s.URL+"/api/v1/jobs/"+j.ID+"/events", auth...)
		wantError(t, r, 429, "too_many_streams")
		// Another user is not affected.
		b := s.client(s.token("nat"))
		if st, r := openSSE(t, s.URL+"/api/v1/events", "Authorization", "Bearer "+b.token); st == nil {
			t.Fatalf("another user: %d %s", r.Status, r.Body)
		}
		// Closing one frees its slot.
		one.close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, r := openSSE(t, s.URL+"/api/v1/events", auth...)
			if st != nil {
				break
			}
			if r.Status != 429 || time.Now().After(deadline) {
				t.Fatalf("after closing a stream: %d %s", r.Status, r.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
