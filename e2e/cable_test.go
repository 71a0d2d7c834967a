package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// cableMsg is one server frame of /cable.
type cableMsg struct {
	Type       string          `json:"type"`
	Identifier string          `json:"identifier"`
	Message    json.RawMessage `json:"message"`
	Reason     string          `json:"reason"`
	Reconnect  *bool           `json:"reconnect"`
	raw        string
}

// cableConn is an ActionCable client connection, as @rails/actioncable
// opens it: subprotocols actioncable-v1-json and actioncable-unsupported.
type cableConn struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan cableMsg
	closed chan error // the read error, once the connection is gone
}

// dialCable opens /cable on s with the query (e.g. "?token=…") and headers.
func dialCable(t *testing.T, s *server, query string, header http.Header) (*cableConn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/cable"+query, &websocket.DialOptions{
		Subprotocols: []string{"actioncable-v1-json", "actioncable-unsupported"}, HTTPHeader: header,
	})
	if err != nil {
		return nil, resp, err
	}
	if p := ws.Subprotocol(); p != "actioncable-v1-json" {
		t.Fatalf("subprotocol %q, want actioncable-v1-json", p)
	}
	c := &cableConn{t: t, ws: ws, frames: make(chan cableMsg, 4096), closed: make(chan error, 1)}
	t.Cleanup(func() { ws.CloseNow() })
	go func() {
		defer close(c.frames)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.closed <- err
				return
			}
			m := cableMsg{raw: string(b)}
			if err := json.Unmarshal(b, &m); err != nil {
				m.Type = "invalid JSON"
			}
			c.frames <- m
		}
	}()
	return c, resp, nil
}

func mustDialCable(t *testing.T, s *server, query string, header http.Header) *cableConn {
	t.Helper()
	c, resp, err := dialCable(t, s, query, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /cable: %v (status %d)", err, status)
	}
	return c
}

func cableBearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// next returns the next frame that is not a ping (ok false once closed).
func (c *cableConn) next(timeout time.Duration) (cableMsg, bool) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.frames:
			if !ok {
				return cableMsg{}, false
			}
			if m.Type == "invalid JSON" {
				c.t.Fatalf("frame is not JSON: %s", m.raw)
			}
			if m.Type != "ping" {
				return m, true
			}
		case <-deadline:
			c.t.Fatalf("no frame within %v", timeout)
		}
	}
}

func (c *cableConn) must(timeout time.Duration) cableMsg {
	c.t.Helper()
	m, ok := c.next(timeout)
	if !ok {
		c.t.Fatalf("connection closed: %v", <-c.closed)
	}
	return m
}

func (c *cableConn) send(frame string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *cableConn) command(cmd, identifier string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"command": cmd, "identifier": identifier})
	c.send(string(b))
}

func (c *cableConn) welcome() {
	c.t.Helper()
	if m := c.must(10 * time.Second); m.Type != "welcome" {
		c.t.Fatalf("first frame %s, want welcome", m.raw)
	}
}

// subscribe subscribes and expects the confirmation.
func (c *cableConn) subscribe(identifier string) {
	c.t.Helper()
	c.command("subscribe", identifier)
	if m := c.must(10 * time.Second); m.Type != "confirm_subscription" || m.Identifier != identifier {
		c.t.Fatalf("subscribe %s: got %s, want confirm_subscription", identifier, m.raw)
	}
}

// follow reads the snapshots of identifier until a terminal one, checking
// that seqs only rise.
func (c *cableConn) follow(identifier string, timeout time.Duration) []job {
	c.t.Helper()
	var got []job
	deadline := time.Now().Add(timeout)
	for {
		m := c.must(time.Until(deadline))
		if m.Identifier != identifier || m.Type != "" {
			c.t.Fatalf("unexpected frame while following %s: %s", identifier, m.raw)
		}
		var j job
		if err := json.Unmarshal(m.Message, &j); err != nil || j.ID == "" {
			c.t.Fatalf("message is not a job snapshot: %s", m.Message)
		}
		if n := len(got); n > 0 && j.Seq <= got[n-1].Seq {
			c.t.Fatalf("snapshot seq %d after %d", j.Seq, got[n-1].Seq)
		}
		got = append(got, j)
		if j.Terminal {
			return got
		}
	}
}

func cableJobChannel(id string) string { return `{"channel":"AiJobChannel","job_id":"` + id + `"}` }

func TestCableFollowsJob(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("cy"))
		j := a.submit("[[offline:slow]] I want to run a marathon next spring")
		c := mustDialCable(t, s, "", cableBearer(a.token))
		c.welcome()
		id := cableJobChannel(j.ID)
		c.subscribe(id)
		// The client repeats a subscribe until confirmed: a second one is
		// ignored (no second confirm_subscription).
		c.command("subscribe", id)
		snaps := c.follow(id, 60*time.Second)
		if snaps[0].ID != j.ID || snaps[0].Seq < j.Seq {
			t.Fatalf("first snapshot %+v", snaps[0])
		}
		last := snaps[len(snaps)-1]
		final := a.get(j.ID)
		if last.Status != "completed" || last.Progress != 100 || last.Seq != final.Seq || string(last.Result) != string(final.Result) {
			t.Fatalf("last snapshot %+v, job %+v", last, final)
		}
		if len(snaps) < 3 {
			t.Errorf("only %d snapshots for a job of %d events", len(snaps), final.Seq)
		}
		for _, sn := range snaps {
			if sn.StreamToken != "" {
				t.Errorf("a cable snapshot carries a stream token")
			}
		}
		// Subscribing to the finished job gives its final snapshot.
		c.command("unsubscribe", id)
		c.subscribe(id)
		if again := c.follow(id, 10*time.Second); len(again) != 1 || again[0].Seq != final.Seq {
			t.Fatalf("resubscribe to a finished job: %+v", again)
		}
	})
}

func TestCableUserChannelAndRejects(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("di"))
		b := s.client(s.token("ed"))
		theirs := b.submit("[[offline:slow]] bob's plan")
		var ut struct {
			StreamToken string `json:"stream_token"`
		}
		a.do("POST", "/api/v1/stream_tokens", nil).json(t, &ut)
		c := mustDialCable(t, s, "?token="+ut.StreamToken, nil)
		c.welcome()
		// Rejected: another user's job, an unknown job, an unknown channel,
		// malformed identifiers.
		for _, id := range []string{cableJobChannel(theirs.ID), cableJobChannel("job_doesnotexist"), `{"channel":"ChatChannel"}`, `{"channel":"AiJobChannel","job_id":1}`, `{"channel":`, `"AiJobChannel"`} {
			c.command("subscribe", id)
			if m := c.must(10 * time.Second); m.Type != "reject_subscription" || m.Identifier != id {
				t.Fatalf("subscribe %s: got %s, want reject_subscription", id, m.raw)
			}
		}
		// Malformed frames change nothing.
		for _, f := range []string{`{`, `null`, `[1,2]`, `{"command":"subscribe"}`, `{"command":"subscribe","identifier":{"channel":"AiJobChannel"}}`,
			`{"command":"explode","identifier":"{}"}`, `{"command":"message","identifier":"{\"channel\":\"AiJobChannel\"}","data":"{\"action\":\"x\"}"}`,
			strings.Repeat("x", 1000)} {
			c.send(f)
		}
		all := `{"channel":"AiJobChannel"}`
		c.subscribe(all)
		// The user channel: every job of this user, none of another's.
		j1 := a.submit("[[offline:slow]] plan my month")
		j2 := a.submit("I want to learn to juggle")
		b.submit("another of bob's")
		open := map[string]bool{j1.ID: true, j2.ID: true}
		last := map[string]int64{}
		deadline := time.Now().Add(90 * time.Second)
		for len(open) > 0 {
			m := c.must(time.Until(deadline))
			var j job
			if m.Identifier != all || json.Unmarshal(m.Message, &j) != nil {
				t.Fatalf("unexpected frame %s", m.raw)
			}
			if !open[j.ID] {
				t.Fatalf("snapshot of job %s (another user's, or after its end): %s", j.ID, m.raw)
			}
			if j.Seq <= last[j.ID] {
				t.Fatalf("job %s: seq %d after %d", j.ID, j.Seq, last[j.ID])
			}
			last[j.ID] = j.Seq
			if j.Terminal {
				delete(open, j.ID)
			}
		}
		// The connection is alive and the subscriptions still work.
		c.subscribe(cableJobChannel(j1.ID))
		if got := c.follow(cableJobChannel(j1.ID), 10*time.Second); len(got) != 1 {
			t.Fatalf("after malformed frames: %+v", got)
		}
	})
}

func TestCableAuthAndOrigin(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--allowed-origins", "https://app.example.com")
		a := s.client(s.token("flo"))
		j := a.submit("hello")
		k := a.submit("another")
		for name, c := range map[string]struct {
			query  string
			header http.Header
		}{
			"no token":         {"", nil},
			"bad API token":    {"", cableBearer("aj_nope")},
			"API token in URL": {"?token=" + a.token, nil},
			"forged token":     {"?token=st_forged.token", nil},
		} {
			cl := mustDialCable(t, s, c.query, c.header)
			m := cl.must(10 * time.Second)
			if m.Type != "disconnect" || m.Reason != "unauthorized" || m.Reconnect == nil || *m.Reconnect {
				t.Errorf("%s: got %s, want disconnect unauthorized without reconnect", name, m.raw)
			}
			if m, ok := cl.next(10 * time.Second); ok {
				t.Errorf("%s: frame after the disconnect: %s", name, m.raw)
			}
		}
		// A job's stream token in the URL follows that job only.
		c := mustDialCable(t, s, "?token="+j.StreamToken, nil)
		c.welcome()
		c.command("subscribe", cableJobChannel(k.ID))
		if m := c.must(10 * time.Second); m.Type != "reject_subscription" {
			t.Fatalf("other job with a job token: %s", m.raw)
		}
		c.subscribe(cableJobChannel(j.ID))
		c.follow(cableJobChannel(j.ID), 60*time.Second)

		// Origins: a foreign one is refused before the upgrade; the server's
		// own and the allowed ones connect; no Origin (not a browser) too.
		if _, resp, err := dialCable(t, s, "", http.Header{"Authorization": {"Bearer " + a.token}, "Origin": {"https://evil.example.com"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign Origin: %v %v", err, resp)
		}
		for _, o := range []string{"https://app.example.com", "http://" + s.addr} {
			c := mustDialCable(t, s, "", http.Header{"Authorization": {"Bearer " + a.token}, "Origin": {o}})
			c.welcome()
		}
		// Without the ActionCable subprotocol: refused.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ws, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/cable", &websocket.DialOptions{HTTPHeader: cableBearer(a.token)}); err == nil {
			ws.CloseNow()
			t.Fatal("a client without actioncable-v1-json was accepted")
		} else if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("without the subprotocol: %v %v", err, resp)
		}
	})
}

func TestCableServerRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("gus"))
		j := a.submit("[[offline:slow]] write a long story about a lighthouse keeper")
		c := mustDialCable(t, s, "?token="+j.StreamToken, nil)
		c.welcome()
		id := cableJobChannel(j.ID)
		c.subscribe(id)
		var seen []job
		for len(seen) < 2 {
			m := c.must(30 * time.Second)
			var sn job
			json.Unmarshal(m.Message, &sn)
			seen = append(seen, sn)
		}
		// A graceful shutdown tells the client to reconnect.
		stopped := make(chan struct{})
		go func() { s.stop(); close(stopped) }()
		for {
			m, ok := c.next(30 * time.Second)
			if !ok {
				t.Fatal("closed without a disconnect frame")
			}
			if m.Type == "" {
				continue // a snapshot sent before the shutdown
			}
			if m.Type != "disconnect" || m.Reason != "server_restart" || m.Reconnect == nil || !*m.Reconnect {
				t.Fatalf("on shutdown: %s, want disconnect server_restart with reconnect", m.raw)
			}
			break
		}
		if _, ok := c.next(10 * time.Second); ok {
			t.Fatal("frames after the disconnect")
		}
		<-stopped
		// The reconnecting client resubscribes and catches up from the
		// current snapshot to the end.
		s.start()
		c2 := mustDialCable(t, s, "?token="+j.StreamToken, nil)
		c2.welcome()
		c2.subscribe(id)
		rest := c2.follow(id, 90*time.Second)
		if rest[0].Seq < seen[len(seen)-1].Seq {
			t.Fatalf("after the restart the snapshot went back: %d < %d", rest[0].Seq, seen[len(seen)-1].Seq)
		}
		if final := a.get(j.ID); rest[len(rest)-1].Seq != final.Seq {
			t.Fatalf("ended at seq %d, job at %d", rest[len(rest)-1].Seq, final.Seq)
		}
	})
}

func TestCableTooManyStreams(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--max-streams", "2")
		a := s.client(s.token("hu"))
		one := mustDialCable(t, s, "", cableBearer(a.token))
		one.welcome()
		st, r := openSSE(t, s.URL+"/api/v1/events", "Authorization", "Bearer "+a.token)
		if st == nil {
			t.Fatalf("SSE stream: %d %s", r.Status, r.Body)
		}
		// WebSocket and SSE streams count together.
		three := mustDialCable(t, s, "", cableBearer(a.token))
		if m := three.must(10 * time.Second); m.Type != "disconnect" || m.Reason != "too_many_streams" || m.Reconnect == nil || !*m.Reconnect {
			t.Fatalf("third stream: %s", m.raw)
		}
		one.ws.Close(websocket.StatusNormalClosure, "")
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := mustDialCable(t, s, "", cableBearer(a.token))
			if m := c.must(10 * time.Second); m.Type == "welcome" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the closed connection's slot was not freed")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
