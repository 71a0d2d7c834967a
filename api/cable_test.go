package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
)

func TestParseCableFrame(t *testing.T) {
	sub := `{"command":"subscribe","identifier":"{\"channel\":\"AiJobChannel\",\"job_id\":\"job_1\"}"}`
	f, err := parseCableFrame([]byte(sub))
	if err != nil || f.Command != "subscribe" || f.Identifier != `{"channel":"AiJobChannel","job_id":"job_1"}` ||
		string(f.RawIdentifier) != `"{\"channel\":\"AiJobChannel\",\"job_id\":\"job_1\"}"` {
		t.Fatalf("subscribe: %+v %v", f, err)
	}
	msg := `{"command":"message","identifier":"{\"channel\":\"AiJobChannel\"}","data":"{\"action\":\"x\"}"}`
	if f, err := parseCableFrame([]byte(msg)); err != nil || f.Data != `{"action":"x"}` {
		t.Fatalf("message: %+v %v", f, err)
	}
	// The identifier literal is kept exactly, escapes included.
	esc := `{"identifier" : "{\"channel\":\"AiJobChannel\",\"n\":\"\u00e9\/\"}" ,"command":"unsubscribe"}`
	if f, err := parseCableFrame([]byte(esc)); err != nil || string(f.RawIdentifier) != `"{\"channel\":\"AiJobChannel\",\"n\":\"\u00e9\/\"}"` || f.Identifier != `{"channel":"AiJobChannel","n":"é/"}` {
		t.Fatalf("escaped identifier: %+v %v", f, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `"x"`, `{`, `{}`, `{"command":"subscribe"}`,
		`{"command":"subscribe","identifier":{"channel":"AiJobChannel"}}`,
		`{"command":"subscribe","identifier":42}`,
		`{"command":1,"identifier":"x"}`,
		`{"command":"message","identifier":"x","data":{"action":"x"}}`,
		"{\"command\":\"subscribe\",\"identifier\":\"\xff\"}", // not UTF-8
	} {
		if f, err := parseCableFrame([]byte(bad)); err == nil {
			t.Errorf("%q parsed: %+v", bad, f)
		}
	}
}

func TestParseCableIdentifier(t *testing.T) {
	for _, c := range []struct {
		id, job string
		ok      bool
	}{
		{`{"channel":"AiJobChannel"}`, "", true},
		{`{"channel":"AiJobChannel","job_id":null}`, "", true},
		{`{"channel":"AiJobChannel","job_id":"job_x","extra":[1]}`, "job_x", true},
		{`{"job_id":"job_x","channel":"AiJobChannel"}`, "job_x", true},
		{`{"channel":"ChatChannel"}`, "", false},
		{`{"channel":"aijobchannel"}`, "", false},
		{`{"job_id":"job_x"}`, "", false},
		{`{"channel":"AiJobChannel","job_id":7}`, "", false},
		{`{"channel":"AiJobChannel","job_id":""}`, "", false},
		{`AiJobChannel`, "", false},
		{`null`, "", false},
		{`["AiJobChannel"]`, "", false},
		{``, "", false},
	} {
		job, err := parseCableIdentifier(c.id)
		if (err == nil) != c.ok || job != c.job {
			t.Errorf("%s: job %q err %v; want job %q ok %v", c.id, job, err, c.job, c.ok)
		}
	}
}

func TestCableOriginAllowed(t *testing.T) {
	s := &Server{cfg: Config{AllowedOrigins: []string{"https://app.example.com", "other.example.com:8443"}}}
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://api.example.com", true}, // the request's own host
		{"https://api.example.com", true},
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"http://app.example.com", false}, // full origin: scheme counts
		{"https://other.example.com:8443", true},
		{"https://other.example.com", false},
		{"https://evil.example.com", false},
		{"null", false},
		{"::bad", false},
	} {
		r := httptest.NewRequest("GET", "http://api.example.com/cable", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := s.cableOriginAllowed(r); got != c.ok {
			t.Errorf("Origin %q: allowed %v, want %v", c.origin, got, c.ok)
		}
	}
	any := &Server{cfg: Config{AllowedOrigins: []string{" * "}}}
	r := httptest.NewRequest("GET", "http://api.example.com/cable", nil)
	r.Header.Set("Origin", "null")
	if !any.cableOriginAllowed(r) {
		t.Error(`"*" does not allow any Origin`)
	}
}

// cableEnv is an API server on a real SQLite store whose jobs the test
// drives itself through the worker's side of jobs.Service (no queue).
type cableEnv struct {
	t    *testing.T
	st   *store.Store
	svc  *jobs.Service
	auth *auth.Service
	srv  *Server
	hs   *httptest.Server
}

func newCableEnv(t *testing.T, cfg Config) *cableEnv {
	t.Helper()
	return newCableEnvOn(t, cfg, nil)
}

// newCableEnvOn is newCableEnv with the service's store seen through wrap
// (nil: as it is).
func newCableEnvOn(t *testing.T, cfg Config, wrap func(jobs.Store) jobs.Store) *cableEnv {
	t.Helper()
	st := jobstest.Store(t, "sqlite", nil)
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := jobstest.Service(t, st, jobs.Config{})
	if wrap != nil {
		svc = jobs.NewService(wrap(st), hub.New(0), keys, jobs.Config{})
	}
	cfg.Auth = auth.New(st, auth.Config{Keys: keys, Recheck: 100 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); cfg.Auth.Run(ctx) }()
	srv := New(svc, cfg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Shutdown()
		hs.Close()
		stop()
		<-ran
	})
	return &cableEnv{t: t, st: st, svc: svc, auth: cfg.Auth, srv: srv, hs: hs}
}

func (e *cableEnv) user(name string) (jobs.User, string) {
	e.t.Helper()
	ctx := context.Background()
	u, _, err := e.st.EnsureUser(ctx, name, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.auth.CreateToken(ctx, u.ID, auth.NewToken{})
	if err != nil {
		e.t.Fatal(err)
	}
	return u, tok
}

// principal is who tok says it is.
func (e *cableEnv) principal(tok string) auth.Principal {
	e.t.Helper()
	p, err := e.auth.Authenticate(context.Background(), tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *cableEnv) submit(u jobs.User) jobs.Job {
	e.t.Helper()
	j, _, err := e.svc.Submit(context.Background(), u, jobs.SubmitRequest{Input: "plan my week"})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// run takes the job through start, n reports and completion.
func (e *cableEnv) run(id string, n int) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.svc.Start(ctx, id, 1, "node-a"); err != nil {
		e.t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := e.svc.Report(ctx, id, 1, jobs.IntentGeneral, "chunk ", i*90/n); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.svc.Complete(ctx, id, 1, jobs.Result{Intent: jobs.IntentGeneral, Output: json.RawMessage(`{}`), Text: "done"}, jobs.Tokens{}); err != nil {
		e.t.Fatal(err)
	}
}

// cableFrameIn is a server frame as the tests read it.
type cableFrameIn struct {
	Type       string          `json:"type"`
	Identifier string          `json:"identifier"`
	Message    json.RawMessage `json:"message"`
	Reason     string          `json:"reason"`
	Reconnect  *bool           `json:"reconnect"`
	raw        string
}

type cableClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan cableFrameIn
	done   chan error
}

func (e *cableEnv) dial(query string, header http.Header) (*cableClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/cable" + query
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"actioncable-v1-json", "actioncable-unsupported"}, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	c := &cableClient{t: e.t, ws: ws, frames: make(chan cableFrameIn, 1000), done: make(chan error, 1)}
	e.t.Cleanup(func() { ws.CloseNow() })
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.done <- err
				close(c.frames)
				return
			}
			var f cableFrameIn
			if err := json.Unmarshal(b, &f); err != nil {
				f.Type = "invalid json"
			}
			f.raw = string(b)
			c.frames <- f
		}
	}()
	return c, resp, nil
}

func (e *cableEnv) mustDial(query string, header http.Header) *cableClient {
	e.t.Helper()
	c, _, err := e.dial(query, header)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return c
}

// next returns the next frame that is not a ping.
func (c *cableClient) next() cableFrameIn {
	c.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed: %v", <-c.done)
			}
			if f.Type != "ping" {
				return f
			}
		case <-timeout:
			c.t.Fatal("no frame within 5 s")
		}
	}
}

// quiet checks that no frame other than pings arrives for d.
func (c *cableClient) quiet(d time.Duration) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if ok && f.Type != "ping" {
				c.t.Fatalf("unexpected frame: %s", f.raw)
			}
			if !ok {
				return
			}
		case <-timeout:
			return
		}
	}
}

func (c *cableClient) send(s string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func subscribeFrame(identifier string) string {
	b, _ := json.Marshal(map[string]string{"command": "subscribe", "identifier": identifier})
	return string(b)
}

func jobIdentifier(id string) string {
	return `{"channel":"AiJobChannel","job_id":"` + id + `"}`
}

func bearerHeader(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func (c *cableClient) welcome() {
	c.t.Helper()
	if f := c.next(); f.Type != "welcome" {
		c.t.Fatalf("first frame %s, want welcome", f.raw)
	}
}

// snapshots reads the snapshots of identifier until a terminal one.
func (c *cableClient) snapshots(identifier string) []jobs.Job {
	c.t.Helper()
	var got []jobs.Job
	for {
		f := c.next()
		if f.Identifier != identifier || f.Type != "" {
			c.t.Fatalf("unexpected frame %s", f.raw)
		}
		var j jobs.Job
		if err := json.Unmarshal(f.Message, &j); err != nil {
			c.t.Fatalf("message %s: %v", f.Message, err)
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

func TestCableFollowJob(t *testing.T) {
	e := newCableEnv(t, Config{CablePing: 50 * time.Millisecond})
	u, tok := e.user("ann")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := jobIdentifier(j.ID)
	c.send(subscribeFrame(id))
	if f := c.next(); f.Type != "confirm_subscription" || f.Identifier != id {
		t.Fatalf("want confirm, got %s", f.raw)
	}
	first := c.next()
	var snap jobs.Job
	json.Unmarshal(first.Message, &snap)
	if first.Identifier != id || snap.ID != j.ID || snap.Status != jobs.StatusQueued || snap.Seq != j.Seq {
		t.Fatalf("first snapshot %s, want the queued job at seq %d", first.raw, j.Seq)
	}
	// A second subscribe to the same identifier is ignored.
	c.send(subscribeFrame(id))
	go e.run(j.ID, 20)
	got := c.snapshots(id)
	last := got[len(got)-1]
	if last.Status != jobs.StatusCompleted || last.Progress != 100 || last.Result == nil {
		t.Fatalf("last snapshot %+v", last)
	}
	final, _ := e.svc.Get(context.Background(), u.ID, j.ID)
	if last.Seq != final.Seq {
		t.Fatalf("last snapshot seq %d, job seq %d", last.Seq, final.Seq)
	}
	// Pings keep coming; nothing else does.
	pings := 0
	timeout := time.After(time.Second)
	for pings < 3 {
		select {
		case f := <-c.frames:
			if f.Type != "ping" {
				t.Fatalf("after the end: %s", f.raw)
			}
			var p struct{ Message int64 }
			json.Unmarshal([]byte(f.raw), &p)
			if d := time.Since(time.Unix(p.Message, 0)); d < -2*time.Second || d > 2*time.Second {
				t.Fatalf("ping message %d is not the current unix time", p.Message)
			}
			pings++
		case <-timeout:
			t.Fatalf("%d pings in 1 s at a 50 ms interval", pings)
		}
	}
}

func TestCableIdentifierEchoedExactly(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("bob")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	// An identifier with escapes and key order of its own: the frames carry
	// the very same JSON string literal.
	raw := `"{\"job_id\":\"` + j.ID + `\",\"channel\":\"AiJobChannel\",\"note\":\"\u00e9\\u00e9\/\"}"`
	c.send(`{"command":"subscribe","identifier":` + raw + `}`)
	f := c.next()
	if want := `{"identifier":` + raw + `,"type":"confirm_subscription"}`; f.raw != want {
		t.Fatalf("confirm\n got %s\nwant %s", f.raw, want)
	}
	if f := c.next(); !strings.HasPrefix(f.raw, `{"identifier":`+raw+`,"message":{`) {
		t.Fatalf("snapshot frame %s", f.raw)
	}
}

func TestCableRejects(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("cat")
	other, _ := e.user("dan")
	mine, theirs := e.submit(u), e.submit(other)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	for _, id := range []string{
		jobIdentifier(theirs.ID),
		jobIdentifier("job_doesnotexist"),
		`{"channel":"ChatChannel"}`,
		`{"channel":"AiJobChannel","job_id":42}`,
		`not json`,
	} {
		c.send(subscribeFrame(id))
		if f := c.next(); f.Type != "reject_subscription" || f.Identifier != id {
			t.Fatalf("subscribe %s: got %s, want reject", id, f.raw)
		}
	}
	// Malformed frames are ignored; the connection and its subscriptions
	// live on.
	ok := jobIdentifier(mine.ID)
	c.send(subscribeFrame(ok))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("got %s", f.raw)
	}
	c.next() // snapshot
	for _, bad := range []string{`{`, `[]`, `{"command":"subscribe"}`, `{"command":"subscribe","identifier":{}}`, `{"command":"dance","identifier":"x"}`,
		`{"command":"message","identifier":"` + strings.ReplaceAll(ok, `"`, `\"`) + `","data":"{\"action\":\"nope\"}"}`, `{"command":"unsubscribe","identifier":"unknown"}`} {
		c.send(bad)
	}
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	c.quiet(100 * time.Millisecond)
	go e.run(mine.ID, 3)
	if got := c.snapshots(ok); got[len(got)-1].Status != jobs.StatusCompleted {
		t.Fatalf("did not follow to completion: %+v", got)
	}
}

func TestCableUnsubscribe(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("eve")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := jobIdentifier(j.ID)
	c.send(subscribeFrame(id))
	c.next()
	c.next()
	b, _ := json.Marshal(map[string]string{"command": "unsubscribe", "identifier": id})
	c.send(string(b))
	time.Sleep(50 * time.Millisecond)
	e.run(j.ID, 3)
	c.quiet(200 * time.Millisecond)
	// Subscribing again works and gives the current (final) snapshot.
	c.send(subscribeFrame(id))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("got %s", f.raw)
	}
	if got := c.snapshots(id); len(got) != 1 || got[0].Status != jobs.StatusCompleted {
		t.Fatalf("resubscribe: %+v", got)
	}
}

func TestCableUserChannel(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("fay")
	other, _ := e.user("gil")
	done := e.submit(u)
	e.run(done.ID, 1)
	open := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := `{"channel":"AiJobChannel"}`
	c.send(subscribeFrame(id))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("got %s", f.raw)
	}
	// One snapshot per unfinished job.
	f := c.next()
	var j jobs.Job
	json.Unmarshal(f.Message, &j)
	if j.ID != open.ID {
		t.Fatalf("snapshot of %s, want only the unfinished %s", j.ID, open.ID)
	}
	// Another user's job is not seen; a new job of ours is, to the end.
	e.run(e.submit(other).ID, 2)
	fresh := e.submit(u)
	go e.run(fresh.ID, 5)
	last := map[string]int64{}
	for {
		f := c.next()
		json.Unmarshal(f.Message, &j)
		if j.ID != fresh.ID {
			t.Fatalf("snapshot of job %s", j.ID)
		}
		if j.Seq <= last[j.ID] {
			t.Fatalf("seq %d after %d", j.Seq, last[j.ID])
		}
		last[j.ID] = j.Seq
		if j.Terminal {
			break
		}
	}
}

func TestCableAuth(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("hal")
	j, k := e.submit(u), e.submit(u)
	jobTok, _ := e.auth.StreamToken(e.principal(tok), j.ID)
	userTok, _ := e.auth.StreamToken(e.principal(tok), "")

	for name, c := range map[string]struct {
		query  string
		header http.Header
	}{
		"no token":         {"", nil},
		"bad bearer":       {"", bearerHeader("aj_nope")},
		"api token in url": {"?token=" + tok, nil},
		"forged st token":  {"?token=st_abc.def", nil},
		"stream as bearer": {"", bearerHeader(userTok)},
		"bearer overrides": {"?token=" + userTok, bearerHeader("aj_nope")},
		"garbage in url":   {"?token=%00%01", nil},
		// A character inside the signature: the last one's low bits may be
		// unused by base64, so changing it can leave the token valid.
		"tampered job token": {"?token=" + tamper(jobTok, len(jobTok)-8), nil},
	} {
		cl := e.mustDial(c.query, c.header)
		f := cl.next()
		if f.raw != `{"type":"disconnect","reason":"unauthorized","reconnect":false}` {
			t.Errorf("%s: got %s, want disconnect unauthorized", name, f.raw)
		}
		select {
		case _, ok := <-cl.frames:
			if ok {
				t.Errorf("%s: a frame after the disconnect", name)
			}
		case <-time.After(6 * time.Second):
			t.Errorf("%s: not closed after the disconnect", name)
		}
	}

	// A job-scoped stream token follows its job only.
	c := e.mustDial("?token="+jobTok, nil)
	c.welcome()
	c.send(subscribeFrame(jobIdentifier(k.ID)))
	if f := c.next(); f.Type != "reject_subscription" {
		t.Fatalf("other job with a job token: %s", f.raw)
	}
	c.send(subscribeFrame(`{"channel":"AiJobChannel"}`))
	if f := c.next(); f.Type != "reject_subscription" {
		t.Fatalf("all jobs with a job token: %s", f.raw)
	}
	c.send(subscribeFrame(jobIdentifier(j.ID)))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("own job with a job token: %s", f.raw)
	}
	// A user stream token follows all of them.
	c2 := e.mustDial("?token="+userTok, nil)
	c2.welcome()
	c2.send(subscribeFrame(jobIdentifier(k.ID)))
	if f := c2.next(); f.Type != "confirm_subscription" {
		t.Fatalf("user token: %s", f.raw)
	}
}

func TestCableHandshake(t *testing.T) {
	e := newCableEnv(t, Config{AllowedOrigins: []string{"https://app.example.com"}})
	_, tok := e.user("ivy")
	// Origins: own host and the allowed one pass, others get 403.
	if _, resp, err := e.dial("", http.Header{"Authorization": {"Bearer " + tok}, "Origin": {"https://evil.example.com"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Origin: err %v resp %v", err, resp)
	}
	for _, o := range []string{"https://app.example.com", e.hs.URL} {
		c := e.mustDial("", http.Header{"Authorization": {"Bearer " + tok}, "Origin": {o}})
		c.welcome()
	}
	// Without the ActionCable subprotocol: 400.
	ctx := context.Background()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.hs.URL, "http")+"/cable", &websocket.DialOptions{HTTPHeader: bearerHeader(tok)})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no subprotocol: err %v resp %v", err, resp)
	}
	// A plain GET is not a WebSocket.
	r, _ := http.NewRequest("GET", e.hs.URL+"/cable", nil)
	r.Header.Set("Sec-WebSocket-Protocol", "actioncable-v1-json")
	plain, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode < 400 || plain.StatusCode >= 500 {
		t.Fatalf("plain GET: %d", plain.StatusCode)
	}
}

func TestCableTooManyStreams(t *testing.T) {
	e := newCableEnv(t, Config{MaxStreams: 1})
	_, tok := e.user("jon")
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	c2 := e.mustDial("", bearerHeader(tok))
	if f := c2.next(); f.raw != `{"type":"disconnect","reason":"too_many_streams","reconnect":true}` {
		t.Fatalf("second connection: %s", f.raw)
	}
	// Once the first closes, its slot is free again.
	c.ws.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c3 := e.mustDial("", bearerHeader(tok))
		if f := c3.next(); f.Type == "welcome" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream slot was not released")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCableShutdown(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("kim")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	c.send(subscribeFrame(jobIdentifier(j.ID)))
	c.next()
	c.next()
	e.srv.Shutdown()
	if f := c.next(); f.raw != `{"type":"disconnect","reason":"server_restart","reconnect":true}` {
		t.Fatalf("on shutdown: %s", f.raw)
	}
	select {
	case err := <-c.done:
		if s := websocket.CloseStatus(err); s != websocket.StatusServiceRestart {
			t.Errorf("close status %v (%v), want %v", s, err, websocket.StatusServiceRestart)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("not closed after server_restart")
	}
	// The handler ends and frees the stream slot.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.srv.limits.mu.Lock()
		n := len(e.srv.limits.streams)
		e.srv.limits.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d users still hold streams", n)
		}
	}
}

// A client that does not read lets the queue fill: after a grace period it
// is disconnected rather than slowing anything down or growing memory.
func TestCableSlowClient(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &cableConn{ctx: ctx, cancel: cancel, out: make(chan []byte, 2), subs: map[string]*cableSub{}, writeTimeout: 50 * time.Millisecond}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	sub := &cableSub{ctx: sctx, cancel: scancel}
	for range 2 {
		if err := c.send(sub, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A full queue that drains within the grace period is fine.
	go func() {
		time.Sleep(10 * time.Millisecond)
		<-c.out
	}()
	if err := c.send(sub, []byte("x")); err != nil {
		t.Fatalf("send while the queue drains: %v", err)
	}
	start := time.Now()
	if err := c.send(sub, []byte("x")); !errors.Is(err, errCableSlow) {
		t.Fatalf("send on a full queue: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the grace period", d)
	}
	if !errors.Is(context.Cause(ctx), errCableSlow) {
		t.Fatalf("connection not ended: %v", context.Cause(ctx))
	}
	// Nothing is queued for a subscription that ended.
	c2 := &cableConn{ctx: context.Background(), out: make(chan []byte, 2), writeTimeout: time.Second}
	scancel()
	if err := c2.send(sub, []byte("x")); err == nil || len(c2.out) != 0 {
		t.Fatalf("send after unsubscribe: %v, %d queued", err, len(c2.out))
	}
}

// A user with more unfinished jobs than the queue holds gets all their
// snapshots on subscribe: a burst is not a slow client.
func TestCableSnapshotBurst(t *testing.T) {
	e := newCableEnv(t, Config{})
	u, tok := e.user("lou")
	want := map[string]bool{}
	for range cableQueue * 3 {
		want[e.submit(u).ID] = true
	}
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := `{"channel":"AiJobChannel"}`
	c.send(subscribeFrame(id))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("got %s", f.raw)
	}
	for len(want) > 0 {
		var j jobs.Job
		json.Unmarshal(c.next().Message, &j)
		if !want[j.ID] {
			t.Fatalf("unexpected or repeated snapshot of %s", j.ID)
		}
		delete(want, j.ID)
	}
}

// TestCableCredentialRevoked: a connection opened with a token, and one
// opened with a stream token minted from it, are told "unauthorized" and
// closed soon after the token is revoked; a new one is refused.
func TestCableCredentialRevoked(t *testing.T) {
	e := newCableEnv(t, Config{})
	_, tok := e.user("max")
	userTok, _ := e.auth.StreamToken(e.principal(tok), "")
	direct := e.mustDial("", bearerHeader(tok))
	direct.welcome()
	viaStream := e.mustDial("?token="+userTok, nil)
	viaStream.welcome()
	p := e.principal(tok)
	if _, err := e.auth.Revoke(context.Background(), p.Credential); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*cableClient{"bearer": direct, "stream token": viaStream} {
		if f := c.next(); f.raw != `{"type":"disconnect","reason":"unauthorized","reconnect":false}` {
			t.Errorf("%s: got %s after the revocation, want disconnect unauthorized", name, f.raw)
		}
	}
	again := e.mustDial("?token="+userTok, nil)
	if f := again.next(); f.Reason != "unauthorized" {
		t.Errorf("a stream token of a revoked token: got %s", f.raw)
	}
}

// tamper returns tok with its i-th character changed.
func tamper(tok string, i int) string {
	c := byte('A')
	if tok[i] == c {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// readCounter counts the reads of a job's row, by id or by user and id.
type readCounter struct {
	jobs.Store
	reads atomic.Int64
}

func (r *readCounter) Job(ctx context.Context, id string) (jobs.Job, error) {
	r.reads.Add(1)
	return r.Store.Job(ctx, id)
}

func (r *readCounter) UserJob(ctx context.Context, userID, id string) (jobs.Job, error) {
	r.reads.Add(1)
	return r.Store.UserJob(ctx, userID, id)
}

// TestCableReadsNoJobPerEvent: a subscription follows a whole run (its
// start, output, progress and end) without reading the job once: every
// event this node writes carries the snapshot after it.
func TestCableReadsNoJobPerEvent(t *testing.T) {
	var counter *readCounter
	e := newCableEnvOn(t, Config{}, func(st jobs.Store) jobs.Store {
		counter = &readCounter{Store: st}
		return counter
	})
	u, tok := e.user("ann")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := jobIdentifier(j.ID)
	c.send(subscribeFrame(id))
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("want confirm, got %s", f.raw)
	}
	if f := c.next(); f.Identifier != id {
		t.Fatalf("want the first snapshot, got %s", f.raw)
	}
	before := counter.reads.Load()
	e.run(j.ID, 20)
	got := c.snapshots(id)
	if last := got[len(got)-1]; last.Status != jobs.StatusCompleted || last.Seq != j.Seq+22 {
		t.Fatalf("last snapshot %+v, want completed at seq %d", last, j.Seq+22)
	}
	if n := counter.reads.Load() - before; n != 0 {
		t.Errorf("following 22 events read the job %d times, want 0", n)
	}
}

// outage is a store whose reads of one user's job fail as unavailable
// until heal is closed.
type outage struct {
	jobs.Store
	heal chan struct{}
}

func (o *outage) UserJob(ctx context.Context, userID, id string) (jobs.Job, error) {
	select {
	case <-o.heal:
		return o.Store.UserJob(ctx, userID, id)
	default:
		return jobs.Job{}, jobs.ErrUnavailable
	}
}

// TestCableSubscribeDuringOutage: a subscription made while the store
// cannot answer is not rejected as not_found (the job exists): it is
// confirmed once the store answers again.
func TestCableSubscribeDuringOutage(t *testing.T) {
	o := &outage{heal: make(chan struct{})}
	e := newCableEnvOn(t, Config{}, func(st jobs.Store) jobs.Store { o.Store = st; return o })
	u, tok := e.user("otto")
	j := e.submit(u)
	c := e.mustDial("", bearerHeader(tok))
	c.welcome()
	id := jobIdentifier(j.ID)
	c.send(subscribeFrame(id))
	time.Sleep(300 * time.Millisecond)
	close(o.heal)
	if f := c.next(); f.Type != "confirm_subscription" {
		t.Fatalf("after the outage: %s, want confirm_subscription", f.raw)
	}
}
