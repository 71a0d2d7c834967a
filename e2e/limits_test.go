package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// floodConn is a /cable connection with many all-jobs subscriptions whose
// frames are counted and dropped, as fast as they come.
type floodConn struct {
	ws     *websocket.Conn
	frames atomic.Int64 // snapshot frames read
	done   chan struct{}
}

// dialFlood opens /cable as the user of tok, subscribes subs times to all of
// the user's jobs (identifiers that differ only by a key the server ignores)
// and waits for every confirmation.
func dialFlood(t *testing.T, s *server, tok string, subs int) *floodConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/cable", &websocket.DialOptions{
		Subprotocols: []string{"actioncable-v1-json"}, HTTPHeader: cableBearer(tok)})
	if err != nil {
		t.Fatalf("dial /cable: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	for i := range subs {
		id := fmt.Sprintf(`{"channel":"AiJobChannel","n":%d}`, i)
		b, _ := json.Marshal(map[string]string{"command": "subscribe", "identifier": id})
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
	}
	for confirmed := 0; confirmed < subs; {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("%d of %d subscriptions confirmed: %v", confirmed, subs, err)
		}
		var m cableMsg
		json.Unmarshal(b, &m)
		switch m.Type {
		case "confirm_subscription":
			confirmed++
		case "reject_subscription", "disconnect":
			t.Fatalf("subscription %d: %s", confirmed, b)
		}
	}
	c := &floodConn{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, r, err := ws.Reader(context.Background())
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
			c.frames.Add(1)
		}
	}()
	return c
}

// pollTimes GETs the job as fast as one client can for d and returns each
// request's latency, sorted.
func pollTimes(t *testing.T, client *http.Client, url, tok string, d time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, time.Since(start))
		if resp.StatusCode != 200 {
			t.Fatalf("poll: status %d", resp.StatusCode)
		}
	}
	slices.Sort(out)
	return out
}

func p99(sorted []time.Duration) time.Duration { return sorted[len(sorted)*99/100] }

// TestLimitAmplification re-runs the amplification of issue 10: user A
// opens 20 /cable connections × 100 subscriptions to all of A's jobs (within
// A's cap, raised for the test) and runs jobs at A's submit rate, while user
// B polls one of B's jobs. B's poll p99 under that load is compared with
// B's idle p99 measured in the same run. The run alternates idle and loaded
// rounds, so that a burst of noise on a shared machine does not land on one
// side only, and the two databases measure one after the other.
//
// The bound asserted is 3×, looser than the 2× aimed at, because on a
// shared 2-core machine other tenants' load moves a p99 of a few hundred
// microseconds by that much: the runs measured (BENCHMARKS.md, "Per-user
// limits") are 0.9–1.7× on SQLite and 1.1–1.9× on PostgreSQL, where A's
// jobs alone, with no subscription (AIJOBS_AMPLIFY_NOSUBS=1), already take
// B's p99 to 1.3–1.5×. Before the fix the ratio was 345× and 1,466×.
func TestLimitAmplification(t *testing.T) {
	if testing.Short() {
		t.Skip("measures latency for about a minute")
	}
	conns, subs := 20, 100
	if os.Getenv("AIJOBS_AMPLIFY_NOSUBS") != "" {
		conns = 0 // A's jobs alone: the control
	}
	const rounds = 3
	window := 3 * time.Second
	if v, err := strconv.Atoi(os.Getenv("AIJOBS_AMPLIFY_SECONDS")); err == nil && v > 0 {
		window = time.Duration(v) * time.Second
	}
	var serial sync.Mutex
	forEachDB(t, func(t *testing.T, db database) {
		// B's job fails retryably over and over, so it stays unfinished
		// and every poll reads the store.
		s := startServer(t, db, "--max-streams", strconv.Itoa(conns*(subs+1)+10), "--max-attempts", "10000")
		a, b := s.client(s.token("amp-a")), s.client(s.token("amp-b"))
		bj := b.submit("[[offline:rate_limited]] keep me unfinished")
		url := s.URL + "/api/v1/jobs/" + bj.ID
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()

		serial.Lock()
		defer serial.Unlock()
		pollTimes(t, client, url, b.token, time.Second) // warm up
		var idle, loaded []time.Duration
		var submitted, frames int64
		for range rounds {
			idle = append(idle, pollTimes(t, client, url, b.token, window)...)
			n, f, times := amplify(t, s, a, conns, subs, func() []time.Duration { return pollTimes(t, client, url, b.token, window) })
			submitted, frames, loaded = submitted+n, frames+f, append(loaded, times...)
		}
		slices.Sort(idle)
		slices.Sort(loaded)
		if j := b.get(bj.ID); j.Terminal {
			t.Fatalf("B's job is %s: its polls did not all read the store", j.Status)
		}
		t.Logf("%s: B's poll p99 idle %v (p50 %v, n=%d); under A's %d×%d subscriptions %v (p50 %v, n=%d); A submitted %d jobs; its subscriptions were sent %d snapshots (%.0f/s)",
			db, p99(idle), idle[len(idle)/2], len(idle), conns, subs, p99(loaded), loaded[len(loaded)/2], len(loaded),
			submitted, frames, float64(frames)/(rounds*window).Seconds())
		const bound = 3.0
		ratio := float64(p99(loaded)) / float64(p99(idle))
		t.Logf("%s: p99 ratio %.2f (bound %.0f×)", db, ratio, bound)
		if ratio > bound {
			t.Errorf("B's poll p99 %v under amplification, %.1f× the idle %v (bound %.0f×)", p99(loaded), ratio, p99(idle), bound)
		}
	})
}

// amplify opens conns /cable connections × subs subscriptions to all of A's
// jobs, runs A's jobs at A's submit rate (10/s), runs measure once they are
// under way, then stops A and waits until A's jobs and connections are
// gone. It returns how many jobs A submitted and how many snapshots A's
// subscriptions were sent while measure ran.
func amplify(t *testing.T, s *server, a *api, conns, subs int, measure func() []time.Duration) (submitted, frames int64, times []time.Duration) {
	t.Helper()
	flood := make([]*floodConn, conns)
	for i := range flood {
		flood[i] = dialFlood(t, s, a.token, subs)
	}
	framesNow := func() (n int64) {
		for _, c := range flood {
			n += c.frames.Load()
		}
		return n
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var n atomic.Int64
	var last atomic.Value
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			r := a.do("POST", "/api/v1/ai/proxy", map[string]string{"input": "plan my week " + randText(6)})
			if r.Status == http.StatusAccepted {
				var j job
				r.json(t, &j)
				last.Store(j.ID)
				n.Add(1)
			}
		}
	})
	time.Sleep(500 * time.Millisecond) // A's jobs under way
	before := framesNow()
	times = measure()
	frames = framesNow() - before
	stop()
	wg.Wait()
	if id, ok := last.Load().(string); ok {
		a.waitTerminal(id)
	}
	for _, c := range flood {
		c.ws.CloseNow()
		<-c.done
	}
	time.Sleep(200 * time.Millisecond)
	return n.Load(), frames, times
}

// holdLongPoll starts a long-poll of the job (version seq) that holds until
// ctx ends or it is answered; refused (429), it tries again. The status of
// the held one comes on the channel (0: the client gave up).
func holdLongPoll(a *api, id string, seq int64, ctx context.Context) <-chan int {
	done := make(chan int, 1)
	go func() {
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%s?wait=30&since=%d", a.base, id, seq), nil)
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				done <- resp.StatusCode
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return done
}

// eventually retries f until it returns true, for up to 10 s.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !f(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// TestLimitStreams: long-polls, SSE streams, /cable connections and /cable
// subscriptions count against one per-user cap (--max-streams), refused with
// 429 too_many_streams and Retry-After (a subscription: reject_subscription
// with the reason), and every way they end gives the slot back — the count
// returns to zero, clients that just go away included.
func TestLimitStreams(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		// No workers: the job stays queued and long-polls on it hold.
		s := startServer(t, db, "--role", "api", "--max-streams", "3")
		a := s.client(s.token("lim"))
		j := a.submit("nobody runs this")
		auth := []string{"Authorization", "Bearer " + a.token}

		ctx, leave := context.WithCancel(context.Background())
		var held []<-chan int
		for range 3 {
			held = append(held, holdLongPoll(a, j.ID, j.Seq, ctx))
		}
		// Once the three hold their slots a fourth long-poll is refused.
		eventually(t, "the fourth long-poll refused", func() bool {
			r := a.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=0.05&since=%d", j.ID, j.Seq), nil)
			return r.Status == http.StatusTooManyRequests
		})
		r := a.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=1&since=%d", j.ID, j.Seq), nil)
		wantError(t, r, http.StatusTooManyRequests, "too_many_streams")
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
			t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		// Polls without wait hold nothing; SSE and /cable share the cap.
		if r := a.do("GET", "/api/v1/jobs/"+j.ID, nil); r.Status != 200 {
			t.Errorf("plain poll at the cap: %d", r.Status)
		}
		_, r = openSSE(t, s.URL+"/api/v1/events", auth...)
		wantError(t, r, http.StatusTooManyRequests, "too_many_streams")
		c := mustDialCable(t, s, "", cableBearer(a.token))
		if m := c.must(10 * time.Second); m.Type != "disconnect" || m.Reason != "too_many_streams" {
			t.Fatalf("/cable at the cap: %s", m.raw)
		}
		// Another user is not affected.
		b := s.client(s.token("lim-other"))
		if r := b.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=0.1&since=0", b.submit("mine").ID), nil); r.Status != 200 && r.Status != 304 {
			t.Errorf("another user's long-poll: %d %s", r.Status, r.Body)
		}

		// The long-poll clients go away: their slots come back.
		leave()
		for _, h := range held {
			if st := <-h; st != 0 {
				t.Errorf("a held long-poll was answered %d", st)
			}
		}
		var cc *cableConn
		eventually(t, "a /cable connection after the long-polls left", func() bool {
			cc = mustDialCable(t, s, "", cableBearer(a.token))
			if m := cc.must(10 * time.Second); m.Type == "welcome" {
				return true
			}
			cc.ws.CloseNow()
			return false
		})
		// The connection holds one slot, each subscription one more.
		all, other := `{"channel":"AiJobChannel"}`, `{"channel":"AiJobChannel","tab":2}`
		cc.subscribe(all)
		cc.command("subscribe", cableJobChannel(j.ID))
		if m := nextControl(cc); m.Type != "confirm_subscription" {
			t.Fatalf("subscribe to the job: %s", m.raw)
		}
		cc.command("subscribe", other)
		if m := nextControl(cc); m.Type != "reject_subscription" || m.Identifier != other || m.Reason != "too_many_streams" {
			t.Fatalf("a subscription over the cap: %s", m.raw)
		}
		// An unsubscribe frees its slot at once.
		cc.command("unsubscribe", cableJobChannel(j.ID))
		eventually(t, "a subscription after an unsubscribe", func() bool {
			cc.command("subscribe", other)
			m := nextControl(cc)
			return m.Type == "confirm_subscription" && m.Identifier == other
		})
		// The client vanishes without a close frame: everything it held is
		// given back — three SSE streams open, a fourth does not.
		cc.ws.CloseNow()
		var streams []*sseStream
		eventually(t, "three streams after the connection went", func() bool {
			st, _ := openSSE(t, s.URL+"/api/v1/events", auth...)
			if st != nil {
				streams = append(streams, st)
			}
			return len(streams) == 3
		})
		_, r = openSSE(t, s.URL+"/api/v1/events", auth...)
		wantError(t, r, http.StatusTooManyRequests, "too_many_streams")
		for _, st := range streams {
			st.close()
		}
		eventually(t, "three long-polls after the streams closed", func() bool {
			r := a.do("GET", fmt.Sprintf("/api/v1/jobs/%s?wait=0.1&since=%d", j.ID, j.Seq), nil)
			return r.Status == http.StatusNotModified || r.Status == 200
		})
	})
}

// nextControl returns the next frame that is not a snapshot (or a ping).
func nextControl(c *cableConn) cableMsg {
	c.t.Helper()
	for {
		if m := c.must(10 * time.Second); m.Type != "" {
			return m
		}
	}
}

// TestLimitStreamsDefault is TestLimitStreams with the default cap: a user
// holds 100 streams, the 101st is refused, and a closed one frees its slot.
func TestLimitStreamsDefault(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db) // --max-streams at its default, 100
		a := s.client(s.token("cap"))
		auth := []string{"Authorization", "Bearer " + a.token}
		var open []*sseStream
		for i := 0; i < 100; i++ {
			st, r := openSSE(t, s.URL+"/api/v1/events", auth...)
			if st == nil {
				t.Fatalf("stream %d of the default 100 refused: %d %s", i+1, r.Status, r.Body)
			}
			open = append(open, st)
		}
		_, r := openSSE(t, s.URL+"/api/v1/events", auth...)
		wantError(t, r, http.StatusTooManyRequests, "too_many_streams")
		open[0].close()
		eventually(t, "a closed stream's slot to come back", func() bool {
			st, _ := openSSE(t, s.URL+"/api/v1/events", auth...)
			if st != nil {
				st.close()
			}
			return st != nil
		})
	})
}
