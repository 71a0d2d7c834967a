package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The soak: a bounded run (AIJOBS_SOAK, default 3m) of many users against one
// API process and two worker processes on PostgreSQL, mixing every way of
// submitting and following jobs, with one worker killed -9 midway. It checks
// what must hold under load and through a crash: no 5xx but 503 (and 503
// only around the kill), every accepted job terminal, every event log
// gapless, every stream that followed a job to its end ended on terminal,
// and the API process back near its starting goroutines and memory.
//
// The mix, per user: a submit every 1–2 s (under --submit-rate 10; user 1
// bursts 40 at once a quarter in, user 0 runs out of a daily quota of 10: the
// 429s are expected), a submit replayed with its request_id now and then, a
// cancel after every eighth submit, polls (half with If-None-Match) every
// ~250 ms, long-polls (?wait=5&since=N), an SSE job stream following the
// newest job to its end (alternately replayed from 0 with the bearer token
// and from a snapshot with the job's stream token), an SSE user stream open
// for the whole run; half the users follow jobs one at a time on /cable and
// a quarter hold a /cable subscription to all their jobs.

const (
	soakUsers = 20
	// soakLease is the worker lease (the default): the kill window is one
	// lease plus the time for a sweep and the next attempt to start.
	soakLease = 10 * time.Second
	// Slack for the API process after the load, against its start:
	// goroutines within +50 (idle keep-alive connections of other clients,
	// timers and the like; every stream's goroutines must be gone). RSS
	// within 2× plus 8 KiB per job the run finished: the Go runtime returns
	// freed heap to the OS lazily, so RSS lags the heap, and jobs.Service
	// keeps the snapshots of finished jobs on purpose (up to 10,000; about
	// 3.5 KiB of heap each here, doubled for the GC's headroom). A leak of
	// streams or subscriptions under this load grows far past both.
	soakGoroutineSlack = 50
	soakRSSFactor      = 2.0
	soakRSSPerJob      = 8 << 10
)

// soakDuration reads AIJOBS_SOAK (a Go duration; default 3m).
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("AIJOBS_SOAK")
	if v == "" {
		return 3 * time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 20*time.Second {
		t.Fatalf("AIJOBS_SOAK=%q: want a duration of at least 20s, such as 45s or 3m", v)
	}
	return d
}

// soak is the shared state of one run.
type soak struct {
	base string // the API node's URL
	addr string
	hc   *http.Client
	tr   *http.Transport

	killFrom, killTo atomic.Int64 // unix nanos of the kill window (0: no kill yet)

	mu        sync.Mutex
	statuses  map[string]map[int]int // kind → status → count
	limited   map[string]int         // 429 by error code
	pollLat   []time.Duration
	problems  []string
	nproblems int
	jobs      map[string]*soakJob // every accepted job
	followed  map[string]int      // transport → jobs followed to their end
	resumed   map[string]int      // transport → reconnects
}

// soakJob is what the load knows of one accepted job.
type soakJob struct {
	user      int
	cancelled bool // a cancel was answered 200: it must end cancelled
}

// soakUser is one user and the jobs it has submitted.
type soakUser struct {
	n         int
	token     string
	streamTok string // for all of the user's streams

	mu    sync.Mutex
	ids   []string          // all accepted jobs, oldest first
	live  map[string]int64  // jobs not yet seen terminal → last seen seq
	jtoks map[string]string // job → its own stream token
	// seen on the user's SSE stream, per job: last seq, and whether the
	// last event was terminal.
	streamSeq  map[string]int64
	streamTerm map[string]bool
	// cableUser is the user's /cable subscription to all its jobs: the last
	// snapshot per job; cableUserOK is false once that connection dropped
	// (a reconnect gives current snapshots only, so an end in the gap is
	// not seen there).
	cableSeq    map[string]int64
	cableTerm   map[string]bool
	cableUserOK bool
}

func (s *soak) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nproblems++
	if len(s.problems) < 40 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *soak) inKillWindow(at time.Time) bool {
	from, to := s.killFrom.Load(), s.killTo.Load()
	return from != 0 && at.UnixNano() >= from && at.UnixNano() <= to
}

// record counts one answer of kind and checks its status is no server
// fault: any 5xx but 503 is one, and a 503 outside the kill window too.
func (s *soak) record(kind string, status int, at time.Time, what string, body []byte) {
	s.mu.Lock()
	m := s.statuses[kind]
	if m == nil {
		m = map[int]int{}
		s.statuses[kind] = m
	}
	m[status]++
	s.mu.Unlock()
	switch {
	case status >= 500 && status != 503:
		s.problem("%s %s: status %d: %.300s", kind, what, status, body)
	case status == 503 && !s.inKillWindow(at):
		s.problem("%s %s: 503 outside the kill window: %.300s", kind, what, body)
	}
}

// do sends one request for the user and records its status. err is set
// only when no answer came (the load's end cancelling it is not recorded).
func (s *soak) do(ctx context.Context, kind string, u *soakUser, method, path string, body any, hdr ...string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.problem("%s %s %s: %v", kind, method, path, err)
		}
		return 0, nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if ctx.Err() == nil {
			s.problem("%s %s %s: reading the body: %v", kind, method, path, err)
		}
		return 0, nil, nil, err
	}
	if kind == "poll" {
		s.mu.Lock()
		s.pollLat = append(s.pollLat, time.Since(start))
		s.mu.Unlock()
	}
	s.record(kind, resp.StatusCode, time.Now(), method+" "+path, b)
	return resp.StatusCode, resp.Header, b, nil
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func jitter(min, max time.Duration) time.Duration {
	return min + rand.N(max-min)
}

// pick returns a random job of the user's latest 20 ("" if none).
func (u *soakUser) pick() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.ids) == 0 {
		return ""
	}
	recent := u.ids[max(0, len(u.ids)-20):]
	return recent[rand.N(len(recent))]
}

// newestLive returns the user's newest job not yet seen terminal.
func (u *soakUser) newestLive() (string, int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.ids) - 1; i >= max(0, len(u.ids)-50); i-- {
		id := u.ids[i]
		if seq, ok := u.live[id]; ok {
			return id, seq
		}
	}
	return "", 0
}

// randomLive returns a random job of the user not yet seen terminal.
func (u *soakUser) randomLive() (string, int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := rand.N(len(u.live) + 1)
	for id, seq := range u.live {
		if n == 0 {
			return id, seq
		}
		n--
	}
	return "", 0
}

// saw notes a snapshot of a job seen by a poll.
func (u *soakUser) saw(j job) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.live[j.ID]; !ok {
		return
	}
	if j.Terminal {
		delete(u.live, j.ID)
	} else if j.Seq > u.live[j.ID] {
		u.live[j.ID] = j.Seq
	}
}

// submitter submits every 1–2 s (under the rate limit), replays a submit
// with its request_id now and then, and cancels a job now and then. User 1
// bursts past the rate limit once; user 0 has a small daily quota.
func (s *soak) submitter(ctx context.Context, u *soakUser, burstAt time.Time) {
	for i := 0; ; i++ {
		if u.n == 1 && !burstAt.IsZero() && time.Now().After(burstAt) {
			burstAt = time.Time{}
			for k := 0; k < 40; k++ {
				s.submit(ctx, u, fmt.Sprintf("burst %d: what is a good habit?", k), "")
			}
		}
		if !sleep(ctx, jitter(time.Second, 2*time.Second)) {
			return
		}
		input := fmt.Sprintf("I want to save %d euros a month, user %d try %d", 50+i, u.n, i)
		if i%6 == 0 {
			input = "[[offline:slow]] " + input // long: a target for cancels and the kill
		}
		rid := ""
		if i%15 == 7 {
			rid = fmt.Sprintf("u%d-r%d-%s", u.n, i, randText(6))
		}
		s.submit(ctx, u, input, rid)
		if i%8 == 3 {
			s.cancel(ctx, u)
		}
	}
}

func (s *soak) submit(ctx context.Context, u *soakUser, input, rid string) {
	body := map[string]any{"input": input}
	if rid != "" {
		body["request_id"] = rid
	}
	st, h, b, err := s.do(ctx, "submit", u, "POST", "/api/v1/ai/proxy", body)
	if err != nil {
		return
	}
	switch st {
	case 202:
		var j job
		if err := json.Unmarshal(b, &j); err != nil || j.ID == "" {
			s.problem("submit: 202 without a job: %.200s", b)
			return
		}
		s.mu.Lock()
		s.jobs[j.ID] = &soakJob{user: u.n}
		s.mu.Unlock()
		u.mu.Lock()
		u.ids = append(u.ids, j.ID)
		u.live[j.ID] = j.Seq
		u.jtoks[j.ID] = j.StreamToken
		u.mu.Unlock()
		if rid != "" { // the client retries: the same job, 200
			st2, _, b2, err := s.do(ctx, "submit", u, "POST", "/api/v1/ai/proxy", body)
			var again job
			if err == nil && (st2 != 200 || json.Unmarshal(b2, &again) != nil || again.ID != j.ID) {
				s.problem("submit replayed with request_id %s: %d %.200s, want 200 and job %s", rid, st2, b2, j.ID)
			}
		}
	case 429:
		var e struct{ Code string }
		json.Unmarshal(b, &e)
		s.mu.Lock()
		s.limited[e.Code]++
		s.mu.Unlock()
		if (e.Code != "rate_limited" && e.Code != "quota_exceeded") || h.Get("Retry-After") == "" {
			s.problem("submit: 429 with code %q and Retry-After %q", e.Code, h.Get("Retry-After"))
		}
		if e.Code == "quota_exceeded" && u.n != 0 {
			s.problem("submit: quota_exceeded for user %d, whose quota is large", u.n)
		}
	case 503:
	default:
		s.problem("submit: status %d: %.200s", st, b)
	}
}

// cancel cancels a random unfinished job of the user: 200 and cancelled, or
// 409 when it ended meanwhile.
func (s *soak) cancel(ctx context.Context, u *soakUser) {
	id, _ := u.randomLive()
	if id == "" {
		return
	}
	method, path := "POST", "/api/v1/jobs/"+id+"/cancel"
	if rand.N(2) == 0 {
		method, path = "DELETE", "/api/v1/jobs/"+id
	}
	st, _, b, err := s.do(ctx, "cancel", u, method, path, nil)
	if err != nil {
		return
	}
	switch st {
	case 200:
		var j job
		json.Unmarshal(b, &j)
		if j.Status != "cancelled" || !j.Terminal {
			s.problem("cancel %s: 200 with status %s terminal %v", id, j.Status, j.Terminal)
		}
		s.mu.Lock()
		s.jobs[id].cancelled = true
		s.mu.Unlock()
		u.saw(j)
	case 409, 503:
	default:
		s.problem("cancel %s: status %d: %.200s", id, st, b)
	}
}

// poller polls a recent job every ~250 ms, half the time with If-None-Match.
func (s *soak) poller(ctx context.Context, u *soakUser) {
	etags := map[string]string{}
	for sleep(ctx, jitter(150*time.Millisecond, 350*time.Millisecond)) {
		id := u.pick()
		if id == "" {
			continue
		}
		var hdr []string
		if e := etags[id]; e != "" && rand.N(2) == 0 {
			hdr = []string{"If-None-Match", e}
		}
		st, h, b, err := s.do(ctx, "poll", u, "GET", "/api/v1/jobs/"+id, nil, hdr...)
		if err != nil {
			continue
		}
		switch st {
		case 200:
			var j job
			if json.Unmarshal(b, &j) != nil || j.ID != id {
				s.problem("poll %s: %.200s", id, b)
				continue
			}
			etags[id] = h.Get("ETag")
			u.saw(j)
		case 304:
			if len(hdr) == 0 {
				s.problem("poll %s: 304 without If-None-Match", id)
			}
		case 503:
		default:
			s.problem("poll %s: status %d: %.200s", id, st, b)
		}
	}
}

// longPoller long-polls unfinished jobs with ?wait=5&since=N.
func (s *soak) longPoller(ctx context.Context, u *soakUser) {
	for ctx.Err() == nil {
		id, seq := u.randomLive()
		if id == "" {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		st, _, b, err := s.do(ctx, "long_poll", u, "GET", fmt.Sprintf("/api/v1/jobs/%s?wait=5&since=%d", id, seq), nil)
		if err != nil {
			continue
		}
		switch st {
		case 200:
			var j job
			if json.Unmarshal(b, &j) != nil || j.ID != id {
				s.problem("long-poll %s: %.200s", id, b)
				continue
			}
			if j.Seq < seq {
				s.problem("long-poll %s since %d: answered seq %d", id, seq, j.Seq)
			}
			u.saw(j)
		case 503:
			sleep(ctx, time.Second)
		default:
			s.problem("long-poll %s: status %d: %.200s", id, st, b)
		}
	}
}

// soakEvent is one SSE event as the soak checks it.
type soakEvent struct {
	JobID    string `json:"job_id"`
	Seq      int64  `json:"seq"`
	UserSeq  int64  `json:"user_seq"`
	Type     string `json:"type"`
	Terminal bool   `json:"terminal"`
	Job      *job   `json:"job"`
}

// readSSE reads an SSE body, calling on for each event and its id, until
// the body ends or on fails.
func readSSE(body io.Reader, on func(id string, ev soakEvent) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	id := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev soakEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				return fmt.Errorf("event data %q: %v", data, err)
			}
			if err := on(id, ev); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// openStream opens an SSE stream, with the user's bearer token when tok is
// empty, and records its status.
func (s *soak) openStream(ctx context.Context, kind string, u *soakUser, path, tok, lastID string) (*http.Response, error) {
	url := s.base + path
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if tok == "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	} else {
		q := req.URL.Query()
		q.Set("token", tok)
		req.URL.RawQuery = q.Encode()
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.problem("%s %s: %v", kind, path, err)
		}
		return nil, err
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.record(kind, resp.StatusCode, time.Now(), "GET "+path, b)
		if resp.StatusCode != 503 {
			s.problem("%s %s: status %d: %.200s", kind, path, resp.StatusCode, b)
		}
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	s.record(kind, 200, time.Now(), "GET "+path, nil)
	return resp, nil
}

var errAfterTerminal = errors.New("an event after the terminal one")

// jobStreamer follows the user's newest unfinished job on its SSE stream to
// its end, reconnecting with Last-Event-ID if the stream drops, and checks
// the seqs rise by one and the stream ends right after a terminal event.
// It alternates a replay from the start (bearer, ?after=0) and a start from
// a snapshot (the job's stream token, no position), as a browser does.
func (s *soak) jobStreamer(ctx context.Context, u *soakUser) {
	for k := 0; ctx.Err() == nil; k++ {
		id, _ := u.newestLive()
		if id == "" {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		u.mu.Lock()
		tok := u.jtoks[id]
		u.mu.Unlock()
		path := "/api/v1/jobs/" + id + "/events?after=0"
		if k%2 == 1 {
			path = "/api/v1/jobs/" + id + "/events"
		} else {
			tok = ""
		}
		var last int64 = -1
		lastID, terminal := "", false
		for tries := 0; !terminal && ctx.Err() == nil; tries++ {
			if tries > 0 {
				s.mu.Lock()
				s.resumed["sse_job"]++
				s.mu.Unlock()
				if !sleep(ctx, 200*time.Millisecond) {
					break
				}
			}
			if tries == 20 {
				s.problem("sse job stream %s: 20 reconnects without reaching the end", id)
				break
			}
			resp, err := s.openStream(ctx, "sse_job", u, path, tok, lastID)
			if err != nil {
				continue
			}
			err = readSSE(resp.Body, func(evID string, ev soakEvent) error {
				if terminal {
					return errAfterTerminal
				}
				if ev.JobID != id {
					return fmt.Errorf("event of job %s", ev.JobID)
				}
				switch {
				case ev.Type == "snapshot" || ev.Type == "resync":
					if last >= 0 {
						return fmt.Errorf("%s after seq %d", ev.Type, last)
					}
				case last >= 0 && ev.Seq != last+1:
					return fmt.Errorf("seq %d after %d", ev.Seq, last)
				case last < 0 && ev.Seq != 1:
					return fmt.Errorf("a replay from 0 starts at seq %d", ev.Seq)
				}
				if evID != strconv.FormatInt(ev.Seq, 10) {
					return fmt.Errorf("id %q for seq %d", evID, ev.Seq)
				}
				last, lastID, terminal = ev.Seq, evID, ev.Terminal
				return nil
			})
			resp.Body.Close()
			if err != nil && ctx.Err() == nil {
				s.problem("sse job stream %s: %v", id, err)
				break
			}
		}
		if terminal {
			s.mu.Lock()
			s.followed["sse_job"]++
			s.mu.Unlock()
			u.mu.Lock()
			delete(u.live, id)
			u.mu.Unlock()
		}
	}
}

// userStreamer follows all of the user's jobs on /api/v1/events for the
// whole run, resuming with Last-Event-ID: user seqs rise across reconnects
// (not by one: on PostgreSQL they are transaction ids), and each job's
// events rise by one from seq 1, so nothing is lost or repeated.
func (s *soak) userStreamer(ctx context.Context, u *soakUser) {
	tok := ""
	if u.n%2 == 1 {
		tok = u.streamTok
	}
	lastID := ""
	var lastUser int64 = -1
	for tries := 0; ctx.Err() == nil; tries++ {
		if tries > 0 {
			s.mu.Lock()
			s.resumed["sse_user"]++
			s.mu.Unlock()
			if !sleep(ctx, 200*time.Millisecond) {
				return
			}
		}
		resp, err := s.openStream(ctx, "sse_user", u, "/api/v1/events", tok, lastID)
		if err != nil {
			continue
		}
		err = readSSE(resp.Body, func(evID string, ev soakEvent) error {
			if ev.Type == "snapshot" || ev.Type == "resync" {
				if lastID != "" || ev.Job == nil {
					return fmt.Errorf("%s of %s after position %s", ev.Type, ev.JobID, lastID)
				}
				return nil // the stream opens before any job
			}
			if lastUser >= 0 && ev.UserSeq <= lastUser {
				return fmt.Errorf("user seq %d after %d", ev.UserSeq, lastUser)
			}
			if evID != strconv.FormatInt(ev.UserSeq, 10) {
				return fmt.Errorf("id %q for user seq %d", evID, ev.UserSeq)
			}
			lastUser, lastID = ev.UserSeq, evID
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.streamTerm[ev.JobID] {
				return fmt.Errorf("job %s: event %d after its terminal one", ev.JobID, ev.Seq)
			}
			if prev := u.streamSeq[ev.JobID]; ev.Seq != prev+1 {
				return fmt.Errorf("job %s: seq %d after %d", ev.JobID, ev.Seq, prev)
			}
			u.streamSeq[ev.JobID], u.streamTerm[ev.JobID] = ev.Seq, ev.Terminal
			return nil
		})
		resp.Body.Close()
		if err != nil && ctx.Err() == nil {
			s.problem("sse user stream of user %d: %v", u.n, err)
			return
		}
	}
}

// dialCable opens /cable for the user (bearer, or the user's stream token
// in the URL) and reads the welcome.
func (s *soak) dialCable(ctx context.Context, u *soakUser, byToken bool) (*websocket.Conn, error) {
	url, hdr := "ws://"+s.addr+"/cable", http.Header{}
	if byToken {
		url += "?token=" + u.streamTok
	} else {
		hdr.Set("Authorization", "Bearer "+u.token)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		Subprotocols: []string{"actioncable-v1-json", "actioncable-unsupported"}, HTTPHeader: hdr, HTTPClient: s.hc,
	})
	if resp != nil {
		s.record("cable", resp.StatusCode, time.Now(), "GET /cable", nil)
	}
	if err != nil {
		if ctx.Err() == nil && (resp == nil || resp.StatusCode != 503) {
			s.problem("cable dial for user %d: %v", u.n, err)
		}
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	m, err := cableRead(ctx, ws, time.Now().Add(10*time.Second))
	if err == nil && m.Type != "welcome" {
		err = fmt.Errorf("first frame %s, want welcome", m.raw)
	}
	if err != nil {
		ws.CloseNow()
		if ctx.Err() == nil {
			s.problem("cable for user %d: %v", u.n, err)
		}
		return nil, err
	}
	return ws, nil
}

// cableRead reads the next frame that is not a ping, until deadline.
func cableRead(ctx context.Context, ws *websocket.Conn, deadline time.Time) (cableMsg, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return cableMsg{}, err
		}
		m := cableMsg{raw: string(b)}
		if err := json.Unmarshal(b, &m); err != nil {
			return m, fmt.Errorf("frame is not JSON: %.200s", b)
		}
		if m.Type == "disconnect" {
			return m, fmt.Errorf("disconnected: %s", m.raw)
		}
		if m.Type != "ping" {
			return m, nil
		}
	}
}

func cableCommand(ctx context.Context, ws *websocket.Conn, cmd, identifier string) error {
	b, _ := json.Marshal(map[string]string{"command": cmd, "identifier": identifier})
	return ws.Write(ctx, websocket.MessageText, b)
}

// cableJobs follows the user's newest unfinished jobs one at a time on one
// /cable connection: subscribe, snapshots with rising seqs until a terminal
// one, unsubscribe. A connection that fails is reopened.
func (s *soak) cableJobs(ctx context.Context, u *soakUser) {
	byToken := u.n%4 == 2
	for ctx.Err() == nil {
		ws, err := s.dialCable(ctx, u, byToken)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		err = s.cableFollowLoop(ctx, u, ws)
		ws.CloseNow()
		if err != nil && ctx.Err() == nil {
			s.problem("cable of user %d: %v", u.n, err)
			s.mu.Lock()
			s.resumed["cable_job"]++
			s.mu.Unlock()
		}
	}
}

func (s *soak) cableFollowLoop(ctx context.Context, u *soakUser, ws *websocket.Conn) error {
	for ctx.Err() == nil {
		id, _ := u.newestLive()
		if id == "" {
			if !sleep(ctx, 200*time.Millisecond) {
				return nil
			}
			continue
		}
		ident := cableJobChannel(id)
		if err := cableCommand(ctx, ws, "subscribe", ident); err != nil {
			return err
		}
		deadline := time.Now().Add(90 * time.Second) // a kill delays a job by about a lease
		m, err := cableRead(ctx, ws, deadline)
		if err != nil {
			return err
		}
		if m.Type != "confirm_subscription" || m.Identifier != ident {
			return fmt.Errorf("subscribe to %s: %s", id, m.raw)
		}
		var last int64
		for {
			m, err := cableRead(ctx, ws, deadline)
			if err != nil {
				return fmt.Errorf("following %s: %w", id, err)
			}
			var j job
			if m.Type != "" || m.Identifier != ident || json.Unmarshal(m.Message, &j) != nil || j.ID != id {
				return fmt.Errorf("following %s: unexpected frame %.300s", id, m.raw)
			}
			if j.Seq <= last {
				return fmt.Errorf("job %s: snapshot seq %d after %d", id, j.Seq, last)
			}
			last = j.Seq
			if j.Terminal {
				break
			}
		}
		s.mu.Lock()
		s.followed["cable_job"]++
		s.mu.Unlock()
		u.mu.Lock()
		delete(u.live, id)
		u.mu.Unlock()
		if err := cableCommand(ctx, ws, "unsubscribe", ident); err != nil {
			return err
		}
	}
	return nil
}

// cableUser holds one /cable subscription to all of the user's jobs for the
// whole run and notes each job's last snapshot.
func (s *soak) cableUser(ctx context.Context, u *soakUser) {
	ws, err := s.dialCable(ctx, u, false)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	all := `{"channel":"AiJobChannel"}`
	fail := func(err error) {
		u.mu.Lock()
		u.cableUserOK = false
		u.mu.Unlock()
		if ctx.Err() == nil {
			s.problem("cable user channel of user %d: %v", u.n, err)
		}
	}
	if err := cableCommand(ctx, ws, "subscribe", all); err != nil {
		fail(err)
		return
	}
	m, err := cableRead(ctx, ws, time.Now().Add(10*time.Second))
	if err == nil && (m.Type != "confirm_subscription" || m.Identifier != all) {
		err = fmt.Errorf("subscribe: %s", m.raw)
	}
	if err != nil {
		fail(err)
		return
	}
	u.mu.Lock()
	u.cableUserOK = true
	u.mu.Unlock()
	for {
		m, err := cableRead(ctx, ws, time.Now().Add(time.Hour))
		if err != nil {
			fail(err)
			return
		}
		var j job
		if m.Type != "" || m.Identifier != all || json.Unmarshal(m.Message, &j) != nil || j.ID == "" {
			fail(fmt.Errorf("unexpected frame %.300s", m.raw))
			return
		}
		u.mu.Lock()
		switch {
		case u.cableTerm[j.ID]:
			err = fmt.Errorf("job %s: snapshot seq %d after its terminal one", j.ID, j.Seq)
		case j.Seq <= u.cableSeq[j.ID]:
			err = fmt.Errorf("job %s: snapshot seq %d after %d", j.ID, j.Seq, u.cableSeq[j.ID])
		}
		u.cableSeq[j.ID], u.cableTerm[j.ID] = j.Seq, j.Terminal
		u.mu.Unlock()
		if err != nil {
			fail(err)
			return
		}
	}
}

// procStats are the API process's figures from /metrics.
type procStats struct {
	goroutines int
	rss        float64
	http5xx    map[string]float64 // aijobs_http_requests_total by a 5xx code
	mem        map[string]float64 // go_memstats_*, for the report
}

func (s *soak) stats(t *testing.T) procStats {
	t.Helper()
	resp, err := s.hc.Get(s.base + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	st := procStats{goroutines: -1, rss: -1, http5xx: map[string]float64{}, mem: map[string]float64{}}
	for _, line := range strings.Split(string(b), "\n") {
		// The value follows the last space: label values may hold spaces
		// (route="GET /api/v1/jobs/{id}").
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		name, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "go_goroutines":
			st.goroutines = int(v)
		case name == "process_resident_memory_bytes":
			st.rss = v
		case strings.HasPrefix(name, "go_memstats_"):
			st.mem[strings.TrimPrefix(name, "go_memstats_")] = v
		case strings.HasPrefix(name, "aijobs_http_requests_total{") && strings.Contains(name, `code="5`):
			st.http5xx[name] += v
		}
	}
	if st.goroutines < 0 || st.rss < 0 {
		t.Fatalf("/metrics lacks go_goroutines or process_resident_memory_bytes")
	}
	return st
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// TestSoak: see the top of this file. AIJOBS_SOAK sets the length of the
// load (default 3m); -short skips it.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped under -short (it loads a cluster for AIJOBS_SOAK, default 3m)")
	}
	dur := soakDuration(t)
	// Not parallel: the soak runs alone, so its figures and the other tests'
	// timings do not disturb each other.
	c := &cluster{t: t, dbURL: newDatabaseURL(t, postgres), dir: t.TempDir()}
	args := []string{"--offline-chunk-delay", "20ms", "--submit-rate", "10", "--submit-burst", "20", "--node-lease", soakLease.String()}
	apiNode, _ := c.node("api", args...)
	_, w1 := c.node("worker", args...)
	c.node("worker", args...)

	tr := &http.Transport{MaxIdleConns: 500, MaxIdleConnsPerHost: 500, IdleConnTimeout: 30 * time.Second}
	s := &soak{
		base: apiNode.URL, addr: apiNode.addr, tr: tr, hc: &http.Client{Transport: tr},
		statuses: map[string]map[int]int{}, limited: map[string]int{}, jobs: map[string]*soakJob{},
		followed: map[string]int{}, resumed: map[string]int{},
	}
	users := make([]*soakUser, soakUsers)
	for i := range users {
		quota := "1000000"
		if i == 0 {
			quota = "10" // runs out during the run: 429 quota_exceeded
		}
		u := &soakUser{n: i, token: apiNode.token(fmt.Sprintf("soak%02d", i), "--daily-quota", quota),
			live: map[string]int64{}, jtoks: map[string]string{}, streamSeq: map[string]int64{}, streamTerm: map[string]bool{},
			cableSeq: map[string]int64{}, cableTerm: map[string]bool{}}
		u.streamTok = streamToken(t, apiNode.client(u.token))
		users[i] = u
	}
	// A warm-up job, so the start figures include what the first request
	// sets up once.
	warm := apiNode.client(users[2].token)
	warm.waitTerminal(warm.submit("warm up").ID)
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(time.Second)
	before := s.stats(t)
	t.Logf("soak: %v, %d users, API process at start: %d goroutines, RSS %s", dur, soakUsers, before.goroutines, mib(before.rss))

	// The load.
	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(context.Background())
	streamCtx, stopStreams := context.WithCancel(context.Background())
	defer stopLoad()
	defer stopStreams()
	var load, streams sync.WaitGroup
	goLoad := func(f func()) { load.Add(1); go func() { defer load.Done(); f() }() }
	goStream := func(f func()) { streams.Add(1); go func() { defer streams.Done(); f() }() }
	for _, u := range users {
		goStream(func() { s.userStreamer(streamCtx, u) })
		if u.n%4 == 1 {
			goStream(func() { s.cableUser(streamCtx, u) })
		}
	}
	time.Sleep(500 * time.Millisecond) // the user streams are open before the first job
	for _, u := range users {
		goLoad(func() { s.submitter(loadCtx, u, start.Add(dur/4)) })
		goLoad(func() { s.poller(loadCtx, u) })
		goLoad(func() { s.longPoller(loadCtx, u) })
		goLoad(func() { s.jobStreamer(loadCtx, u) })
		if u.n%2 == 0 {
			goLoad(func() { s.cableJobs(loadCtx, u) })
		}
	}
	// Watch the API process while it runs.
	var peakG int
	var peakRSS float64
	sample := func() {
		st := s.stats(t)
		peakG, peakRSS = max(peakG, st.goroutines), max(peakRSS, st.rss)
	}

	// Midway: kill -9 one worker process, and start a replacement.
	for time.Since(start) < dur/2 {
		time.Sleep(time.Second)
		sample()
	}
	s.killFrom.Store(time.Now().UnixNano())
	s.killTo.Store(time.Now().Add(soakLease + 20*time.Second).UnixNano())
	w1.kill(t)
	killedAt := time.Since(start)
	time.Sleep(3 * time.Second)
	c.node("worker", args...)
	for time.Since(start) < dur {
		time.Sleep(time.Second)
		sample()
	}
	stopLoad()
	load.Wait()
	loadTook := time.Since(start)

	// Every accepted job ends, with a whole event log; the streams open for
	// the whole run saw each of them end.
	ids := s.accepted()
	final, byStatus, later := s.waitTerminal(users, ids)
	s.checkLogs(t, users, ids, final)
	cableUp := s.checkUserStreams(users, ids, final)
	stopStreams()
	streams.Wait()
	checked := time.Since(start) - loadTook

	// The API process comes back near its start.
	rssLimit := soakRSSFactor*before.rss + soakRSSPerJob*float64(len(ids))
	after := s.settle(t, before, rssLimit)

	// Report.
	s.mu.Lock()
	defer s.mu.Unlock()
	requests, hist, overall := s.histogram()
	t.Logf("soak: load %v (worker killed -9 at %v, replaced 3 s later), checks %v", loadTook.Round(time.Second), killedAt.Round(time.Second), checked.Round(time.Second))
	t.Logf("soak: %d requests by kind: %s", requests, hist)
	t.Logf("soak: statuses overall: %v; 429 by code: %v", overall, s.limited)
	t.Logf("soak: %d jobs accepted, at the end: %v; %d ran on a later attempt; followed to the end: %v; stream reconnects: %v; cable user channels up throughout: %d",
		len(ids), byStatus, later, s.followed, s.resumed, cableUp)
	t.Logf("soak: poll latency p50 %v p99 %v max %v over %d polls", s.pollQuantile(0.5), s.pollQuantile(0.99), s.pollQuantile(1), len(s.pollLat))
	t.Logf("soak: API process goroutines %d → peak %d → %d (allowed ≤ %d); RSS %s → peak %s → %s (allowed ≤ %s)",
		before.goroutines, peakG, after.goroutines, before.goroutines+soakGoroutineSlack,
		mib(before.rss), mib(peakRSS), mib(after.rss), mib(rssLimit))
	t.Logf("soak: API process heap in use %s → %s, next GC at %s → %s",
		mib(before.mem["heap_inuse_bytes"]), mib(after.mem["heap_inuse_bytes"]), mib(before.mem["next_gc_bytes"]), mib(after.mem["next_gc_bytes"]))

	for name, v := range after.http5xx {
		if !strings.Contains(name, `code="503"`) && v > 0 {
			t.Errorf("the API process counted server errors: %s %v", name, v)
		}
	}
	if after.goroutines > before.goroutines+soakGoroutineSlack {
		t.Errorf("API process goroutines: %d at start, %d after the load (allowed +%d)", before.goroutines, after.goroutines, soakGoroutineSlack)
	}
	if after.rss > rssLimit {
		t.Errorf("API process RSS: %s at start, %s after the load of %d jobs (allowed %s)", mib(before.rss), mib(after.rss), len(ids), mib(rssLimit))
	}
	if later == 0 {
		t.Errorf("no job ran on a later attempt: the kill hit no running job")
	}
	if s.limited["rate_limited"] == 0 || s.limited["quota_exceeded"] == 0 {
		t.Errorf("429s by code %v: want both rate_limited (the burst) and quota_exceeded (user 0)", s.limited)
	}
	for _, k := range []string{"sse_job", "cable_job"} {
		if s.followed[k] == 0 {
			t.Errorf("no job followed to its end on %s", k)
		}
	}
	for _, m := range s.problems {
		t.Error(m)
	}
	if s.nproblems > len(s.problems) {
		t.Errorf("… and %d more problems", s.nproblems-len(s.problems))
	}
}

// accepted returns the ids of every accepted job, sorted.
func (s *soak) accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// waitTerminal long-polls every job until it is terminal (2 minutes in
// all) and checks how it ended: cancelled if a cancel was answered 200,
// failed only with worker_lost (a kill on its last attempt).
func (s *soak) waitTerminal(users []*soakUser, ids []string) (final map[string]job, byStatus map[string]int, later int) {
	final, byStatus = map[string]job{}, map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		sj := s.jobs[id]
		var j job
		for !j.Terminal && time.Now().Before(deadline) {
			st, _, b, err := s.do(context.Background(), "final_wait", users[sj.user], "GET", fmt.Sprintf("/api/v1/jobs/%s?wait=5&since=%d", id, j.Seq), nil)
			if err != nil || st != 200 || json.Unmarshal(b, &j) != nil {
				time.Sleep(200 * time.Millisecond)
			}
		}
		final[id] = j
		byStatus[j.Status]++
		if j.Attempt > 1 {
			later++
		}
		switch {
		case !j.Terminal:
			s.problem("job %s not terminal after the load: %s attempt %d seq %d", id, j.Status, j.Attempt, j.Seq)
		case sj.cancelled && j.Status != "cancelled":
			s.problem("job %s: cancelled (200), then %s", id, j.Status)
		case j.Status == "failed" && (j.Error == nil || j.Error.Code != "worker_lost"):
			s.problem("job %s failed: %+v", id, j.Error)
		}
	}
	return final, byStatus, later
}

// checkLogs reads every job's event log from the start: seqs 1..n without
// gaps, n the job's seq, terminal exactly on the last.
func (s *soak) checkLogs(t *testing.T, users []*soakUser, ids []string, final map[string]job) {
	t.Helper()
	for _, id := range ids {
		j := final[id]
		evs := eventsOf(t, &api{t: t, base: s.base, token: users[s.jobs[id].user].token}, id)
		for i, ev := range evs {
			if ev.Seq != int64(i+1) || ev.Terminal != (i == len(evs)-1 && j.Terminal) {
				s.problem("event log of %s: event %d is seq %d terminal %v (of %d; job seq %d)", id, i, ev.Seq, ev.Terminal, len(evs), j.Seq)
				break
			}
		}
		if int64(len(evs)) != j.Seq {
			s.problem("event log of %s has %d events, the job's seq is %d", id, len(evs), j.Seq)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// checkUserStreams waits (30 s at most) until each user's SSE stream, and
// each /cable user channel that stayed up, has seen every job of its user
// end on its final seq. It returns how many cable user channels stayed up.
func (s *soak) checkUserStreams(users []*soakUser, ids []string, final map[string]job) (cableUp int) {
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		for _, id := range ids {
			u := users[s.jobs[id].user]
			u.mu.Lock()
			if !u.streamTerm[id] || u.streamSeq[id] != final[id].Seq {
				missing = append(missing, fmt.Sprintf("SSE of user %d: %s at seq %d of %d", u.n, id, u.streamSeq[id], final[id].Seq))
			}
			if u.n%4 == 1 && u.cableUserOK && (!u.cableTerm[id] || u.cableSeq[id] != final[id].Seq) {
				missing = append(missing, fmt.Sprintf("cable user channel of user %d: %s at seq %d of %d", u.n, id, u.cableSeq[id], final[id].Seq))
			}
			u.mu.Unlock()
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, m := range missing {
		if i == 10 {
			s.problem("… and %d more jobs whose end a user stream did not see", len(missing)-10)
			break
		}
		s.problem("a user stream did not see the end: %s", m)
	}
	for _, u := range users {
		u.mu.Lock()
		if u.n%4 == 1 && u.cableUserOK {
			cableUp++
		}
		u.mu.Unlock()
	}
	return cableUp
}

// settle closes the soak's idle connections and waits (30 s at most) for
// the API process to come back within the slack of its start: goroutines
// within soakGoroutineSlack, RSS under rssLimit.
func (s *soak) settle(t *testing.T, before procStats, rssLimit float64) procStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.tr.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
		after := s.stats(t)
		if (after.goroutines <= before.goroutines+soakGoroutineSlack && after.rss <= rssLimit) || time.Now().After(deadline) {
			return after
		}
		time.Sleep(time.Second)
	}
}

// histogram sums the statuses: the total, per kind ("poll 10 (200:8
// 304:2); …") and overall. s.mu is held.
func (s *soak) histogram() (total int, byKind string, overall map[int]int) {
	overall = map[int]int{}
	var kinds []string
	for k := range s.statuses {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []string
	for _, k := range kinds {
		var codes []int
		n := 0
		for c, v := range s.statuses[k] {
			codes = append(codes, c)
			overall[c] += v
			n += v
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d:%d", c, s.statuses[k][c]))
		}
		total += n
		out = append(out, fmt.Sprintf("%s %d (%s)", k, n, strings.Join(parts, " ")))
	}
	return total, strings.Join(out, "; "), overall
}

// pollQuantile is the q-quantile of the poll latencies. s.mu is held.
func (s *soak) pollQuantile(q float64) time.Duration {
	if len(s.pollLat) == 0 {
		return 0
	}
	slices.Sort(s.pollLat)
	return s.pollLat[int(q*float64(len(s.pollLat)-1))].Round(100 * time.Microsecond)
}
