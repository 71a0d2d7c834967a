package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/jobs"
)

// fakeClock is a settable clock for the rate limits.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestAllowSubmit(t *testing.T) {
	type step struct {
		after time.Duration // clock advance before the submit
		user  string
		wait  time.Duration // 0: allowed
	}
	for _, tc := range []struct {
		name        string
		rate        float64
		burst       int
		steps       []step
		allowedLeft int
	}{
		{name: "burst then the rate", rate: 1, burst: 2, steps: []step{
			{0, "a", 0}, {0, "a", 0}, {0, "a", time.Second},
			{500 * time.Millisecond, "a", 500 * time.Millisecond},
			{500 * time.Millisecond, "a", 0}, {0, "a", time.Second},
		}},
		{name: "a refused submit takes no token", rate: 2, burst: 1, steps: []step{
			{0, "a", 0}, {0, "a", 500 * time.Millisecond}, {0, "a", 500 * time.Millisecond},
			{500 * time.Millisecond, "a", 0},
		}},
		{name: "users are apart", rate: 1, burst: 1, steps: []step{
			{0, "a", 0}, {0, "a", time.Second}, {0, "b", 0}, {0, "b", time.Second},
		}},
		{name: "an idle bucket is full again, no more", rate: 10, burst: 3, steps: []step{
			{0, "a", 0}, {0, "a", 0}, {0, "a", 0},
			{time.Hour, "a", 0}, {0, "a", 0}, {0, "a", 0}, {0, "a", 100 * time.Millisecond},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			l := newLimits(tc.rate, tc.burst, 1)
			l.now = clock.now
			for i, s := range tc.steps {
				clock.advance(s.after)
				if got := l.allowSubmit(s.user); got != s.wait {
					t.Fatalf("step %d (%s): wait %v, want %v", i, s.user, got, s.wait)
				}
			}
		})
	}
}

// Dropping idle buckets (to bound memory) never refills one in use: a user
// who spent their burst stays limited however many other users come, and
// only buckets full again anyway are dropped.
func TestSubmitBucketsEvictedWithoutRefill(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newLimits(1, 5, 1)
	l.now = clock.now
	buckets := func() int {
		l.submits.mu.Lock()
		defer l.submits.mu.Unlock()
		return len(l.submits.m)
	}
	for range 5 {
		l.allowSubmit("busy")
	}
	for i := range 4 * minSweep { // several sweeps, none may drop busy
		l.allowSubmit(fmt.Sprint("passer-", i))
	}
	if w := l.allowSubmit("busy"); w == 0 {
		t.Fatal("a sweep refilled a bucket in use")
	}
	if n := buckets(); n != 4*minSweep+1 {
		t.Fatalf("%d buckets, want %d: none was full, none may go", n, 4*minSweep+1)
	}
	clock.advance(10 * time.Second) // every bucket is full again
	before, later := buckets(), 0
	for ; buckets() >= before; later++ {
		if later > 10*minSweep {
			t.Fatal("no sweep")
		}
		l.allowSubmit(fmt.Sprint("later-", later))
	}
	if n := buckets(); n != later {
		t.Errorf("%d buckets after the sweep, want the %d new ones: the full ones should have gone", n, later)
	}
	for i := range 5 {
		if w := l.allowSubmit("busy"); w != 0 {
			t.Fatalf("submit %d after 10 s idle: wait %v", i, w)
		}
	}
}

func TestReserveFrames(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newLimits(1, 1, 1)
	l.now = clock.now
	if d := l.reserveFrames("a", cableFrameBurst); d != 0 {
		t.Fatalf("the burst waits %v", d)
	}
	for i, want := range []time.Duration{time.Second / cableFrameRate * 100, 2 * time.Second / cableFrameRate * 100} {
		if d := l.reserveFrames("a", 100); d != want {
			t.Errorf("reservation %d: wait %v, want %v", i, d, want)
		}
	}
	if d := l.reserveFrames("b", 100); d != 0 {
		t.Errorf("another user waits %v", d)
	}
}

func TestOpenStream(t *testing.T) {
	l := newLimits(1, 1, 2)
	r1, err1 := l.openStream("a")
	r2, err2 := l.openStream("a")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err := l.openStream("a")
	var p *jobs.Problem
	if !errors.As(err, &p) || p.Kind != jobs.KindLimited || p.Code != "too_many_streams" || p.RetryAfter <= 0 {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := l.openStream("b"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	r1()
	r1() // a second release gives back nothing more
	if n := l.openStreams("a"); n != 1 {
		t.Fatalf("after a double release: %d open, want 1", n)
	}
	r3, err := l.openStream("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.openStream("a"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	r2()
	r3()
	if n := l.openStreams("a"); n != 0 || len(l.streams) != 1 {
		t.Fatalf("%d open for a, %d users listed; want 0 and only b", n, len(l.streams))
	}
}

// control returns the next frame that is neither a ping nor a snapshot.
func (c *cableClient) control() cableFrameIn {
	c.t.Helper()
	for {
		if f := c.next(); f.Type != "" {
			return f
		}
	}
}

// waitOpen waits until user holds want stream slots.
func waitOpen(t *testing.T, e *cableEnv, user string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := e.srv.limits.openStreams(user)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d stream slots, want %d", user, n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// get sends a GET with the token and returns the response, read.
func (e *cableEnv) get(ctx context.Context, path, tok string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// wantTooMany checks a 429 too_many_streams with Retry-After.
func wantTooMany(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	var e struct{ Code, Error string }
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_streams" || e.Error == "" {
		t.Fatalf("over the cap: %d %s", resp.StatusCode, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
}

// Long-polls, SSE streams, /cable connections and /cable subscriptions all
// count against the one cap, and each gives its slot back however it ends:
// a client that goes away, an answer, an unsubscribe, a closed connection.
func TestStreamSlots(t *testing.T) {
	e := newCableEnv(t, Config{MaxStreams: 3})
	u, tok := e.user("sam")
	j := e.submit(u) // nobody runs it: it stays queued
	longPoll := fmt.Sprintf("/api/v1/jobs/%s?wait=30&since=%d", j.ID, j.Seq)

	// Three long-polls fill the cap; the fourth is refused.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for range 3 {
		go func() { _, _, err := e.get(ctx, longPoll, tok); done <- err }()
	}
	waitOpen(t, e, u.ID, 3)
	resp, body, err := e.get(context.Background(), longPoll, tok)
	if err != nil {
		t.Fatal(err)
	}
	wantTooMany(t, resp, body)
	// A poll without wait holds nothing and still works.
	if resp, body, _ := e.get(context.Background(), "/api/v1/jobs/"+j.ID, tok); resp.StatusCode != 200 {
		t.Fatalf("plain poll at the cap: %d %s", resp.StatusCode, body)
	}
	cancel() // the clients go away
	for range 3 {
		<-done
	}
	waitOpen(t, e, u.ID, 0)

	// A long-poll that is answered gives its slot back.
	j2 := e.submit(u)
	go func() {
		time.Sleep(50 * time.Millisecond)
		e.svc.Start(context.Background(), j2.ID, 1, "node-a")
	}()
	if resp, body, _ := e.get(context.Background(), fmt.Sprintf("/api/v1/jobs/%s?wait=30&since=%d", j2.ID, j2.Seq), tok); resp.StatusCode != 200 {
		t.Fatalf("answered long-poll: %d %s", resp.StatusCode, body)
	}
	waitOpen(t, e, u.ID, 0)

	// SSE: two streams, then the cap is shared with /cable.
	sctx, scancel := context.WithCancel(context.Background())
	for range 2 {
		go e.get(sctx, "/api/v1/events", tok)
	}
	waitOpen(t, e, u.ID, 2)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	waitOpen(t, e, u.ID, 3)
	over := e.mustDial("", bearerHeader(tok))
	if f := over.next(); f.raw != `{"type":"disconnect","reason":"too_many_streams","reconnect":true}` {
		t.Fatalf("connection over the cap: %s", f.raw)
	}
	all := `{"channel":"AiJobChannel"}`
	c.send(subscribeFrame(all))
	if f := c.next(); f.Type != "reject_subscription" || f.Reason != "too_many_streams" || f.Identifier != all {
		t.Fatalf("subscription over the cap: %s", f.raw)
	}
	scancel() // the SSE clients go
	waitOpen(t, e, u.ID, 1)

	// Each subscription holds a slot, whatever it follows.
	c.send(subscribeFrame(all))
	if f := c.control(); f.Type != "confirm_subscription" {
		t.Fatalf("subscribe: %s", f.raw)
	}
	other := `{"channel":"AiJobChannel","x":1}`
	c.send(subscribeFrame(other))
	if f := c.control(); f.Type != "confirm_subscription" || f.Identifier != other {
		t.Fatalf("second subscription: %s", f.raw)
	}
	waitOpen(t, e, u.ID, 3)
	if _, body, _ := e.get(context.Background(), longPoll, tok); !json.Valid(body) {
		t.Fatalf("long-poll at the cap: %s", body)
	}
	c.send(`{"command":"unsubscribe","identifier":` + strconv.Quote(other) + `}`)
	waitOpen(t, e, u.ID, 2)
	// A rejected subscription (not found) holds nothing.
	missing := jobIdentifier("job_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	c.send(subscribeFrame(missing))
	if f := c.control(); f.Type != "reject_subscription" || f.Reason != "not_found" {
		t.Fatalf("subscription to an unknown job: %s", f.raw)
	}
	waitOpen(t, e, u.ID, 2)
	// A job subscription gives its slot back once its job has ended.
	c.send(subscribeFrame(jobIdentifier(j.ID)))
	waitOpen(t, e, u.ID, 3)
	e.run(j.ID, 2)
	waitOpen(t, e, u.ID, 2)
	// Closing the connection gives back its slot and its subscriptions'.
	c.ws.Close(websocket.StatusNormalClosure, "")
	waitOpen(t, e, u.ID, 0)
}

// A subscription that a client never unsubscribes holds its slot until
// the connection goes, even when the client just vanishes.
func TestStreamSlotsClientVanishes(t *testing.T) {
	e := newCableEnv(t, Config{MaxStreams: 10})
	u, tok := e.user("van")
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	for i := range 5 {
		c.send(subscribeFrame(fmt.Sprintf(`{"channel":"AiJobChannel","n":%d}`, i)))
		c.next()
	}
	waitOpen(t, e, u.ID, 6)
	c.ws.CloseNow() // no close frame: the TCP connection just ends
	waitOpen(t, e, u.ID, 0)
}
