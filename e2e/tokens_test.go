package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/cli"
)

// endWithin is how soon after a revocation (or an expiry) every stream and
// request of the credential must have stopped: the contract is "within 1 s";
// the rest is slack for a loaded test machine. The tests log what they saw.
const endWithin = 1500 * time.Millisecond

// aijobs runs a CLI command against s's database, with the database flags
// after the command's words (e.g. "token", "list"), and returns its output.
func (s *server) aijobs(terminal bool, words int, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, IsTerminal: terminal}
	full := append(append(append([]string{}, args[:words]...), s.dbArgs()...), args[words:]...)
	code = cli.Main(context.Background(), env, full)
	return out.String(), errOut.String(), code
}

// listedToken is one line of `aijobs token list` off a terminal.
type listedToken struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	User       string     `json:"user"`
	Name       string     `json:"name"`
	Admin      bool       `json:"admin"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Status     string     `json:"status"`
}

// tokens lists the tokens of user ("" for all) through the CLI.
func (s *server) tokens(user string) []listedToken {
	s.t.Helper()
	args := []string{"token", "list"}
	if user != "" {
		args = append(args, "--user", user)
	}
	out, errOut, code := s.aijobs(false, 2, args...)
	if code != 0 {
		s.t.Fatalf("token list exited %d: %s", code, errOut)
	}
	var ts []listedToken
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		if strings.Contains(line, "aj_") || strings.Contains(line, "hash") {
			s.t.Fatalf("token list shows a secret or a hash: %s", line)
		}
		var t listedToken
		if err := json.Unmarshal([]byte(line), &t); err != nil {
			s.t.Fatalf("token list line %q: %v", line, err)
		}
		ts = append(ts, t)
	}
	return ts
}

// tokenID is the id of user's newest token.
func (s *server) tokenID(user string) string {
	s.t.Helper()
	ts := s.tokens(user)
	if len(ts) == 0 {
		s.t.Fatalf("user %s has no token", user)
	}
	return ts[len(ts)-1].ID
}

func TestTokenCLI(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--role", "api")
		before := time.Now()
		out, errOut, code := s.aijobs(false, 2, "token", "create", "--user", "tess", "--name", "laptop", "--expires", "90d", "--admin")
		tok := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(tok, "aj_") || strings.Contains(tok, "\n") {
			t.Fatalf("token create: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if strings.Contains(errOut, tok) {
			t.Errorf("the token is printed twice: %s", errOut)
		}
		plain := s.token("tess") // no name, never expires, not admin
		s.token("uma", "--expires", "12h")
		s.token("uma", "--expires", "30m")

		all := s.tokens("")
		tess := s.tokens("tess")
		if len(all) < 4 || len(tess) != 2 {
			t.Fatalf("token list: %d tokens, %d of tess", len(all), len(tess))
		}
		first := tess[0]
		if !strings.HasPrefix(first.ID, "tok_") || first.User != "tess" || first.Name != "laptop" || !first.Admin || first.Status != "active" ||
			first.ExpiresAt == nil || first.ExpiresAt.Sub(before) < 89*24*time.Hour || first.ExpiresAt.Sub(before) > 91*24*time.Hour || first.LastUsedAt != nil || first.RevokedAt != nil {
			t.Fatalf("first token: %+v", first)
		}
		if second := tess[1]; second.Admin || second.ExpiresAt != nil || second.Name != "" {
			t.Fatalf("plain token: %+v", second)
		}
		uma := s.tokens("uma")
		if d := uma[0].ExpiresAt.Sub(uma[0].CreatedAt); d != 12*time.Hour {
			t.Errorf("--expires 12h: lifetime %v", d)
		}
		if d := uma[1].ExpiresAt.Sub(uma[1].CreatedAt); d != 30*time.Minute {
			t.Errorf("--expires 30m: lifetime %v", d)
		}

		// Last used: written once the token is used (at most once a minute).
		s.client(plain).do("GET", "/api/v1/ai/usage", nil)
		deadline := time.Now().Add(5 * time.Second)
		for s.tokens("tess")[1].LastUsedAt == nil {
			if time.Now().After(deadline) {
				t.Fatal("last used not recorded within 5 s")
			}
			time.Sleep(100 * time.Millisecond)
		}

		// On a terminal: a table, still without the token.
		table, _, code := s.aijobs(true, 2, "token", "list", "--user", "tess")
		if code != 0 || !strings.HasPrefix(table, "ID") || !strings.Contains(table, "LAST USED") || !strings.Contains(table, first.ID) ||
			!strings.Contains(table, "laptop") || strings.Contains(table, "aj_") {
			t.Fatalf("token list on a terminal:\n%s", table)
		}

		// Revoke, with the flags before or after the id; twice is fine.
		if out, errOut, code := s.aijobs(false, 2, "token", "revoke", first.ID); code != 0 || !strings.Contains(out, first.ID) {
			t.Fatalf("token revoke: %d %s %s", code, out, errOut)
		}
		var again bytes.Buffer
		env := &cli.Env{Stdout: &again, Stderr: &again, Getenv: func(string) string { return "" }}
		if code := cli.Main(context.Background(), env, append([]string{"token", "revoke", first.ID}, s.dbArgs()...)); code != 0 {
			t.Fatalf("token revoke ID --flags: %d %s", code, again.String())
		}
		if got := s.tokens("tess")[0]; got.Status != "revoked" || got.RevokedAt == nil {
			t.Fatalf("after revoke: %+v", got)
		}
		wantError(t, s.client(tok).do("GET", "/api/v1/ai/usage", nil), 401, "unauthorized")

		// Bad command lines.
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"token", "create", "--user", "x", "--expires", "soon"}, 2},
			{[]string{"token", "create", "--user", "x", "--expires", "-1d"}, 2},
			{[]string{"token", "create"}, 2},
			{[]string{"token", "revoke"}, 2},
			{[]string{"token", "revoke", "tok_doesnotexist"}, 1},
			{[]string{"token", "revoke", "not-an-id"}, 1},
			{[]string{"token", "list", "--user", "nobody"}, 1},
		} {
			if _, errOut, code := s.aijobs(false, 2, c.args...); code != c.code || errOut == "" {
				t.Errorf("%v: exit %d (want %d), stderr %q", c.args, code, c.code, errOut)
			}
		}
	})
}

// openHolds are the streams a credential holds open: SSE with the token
// and with a stream token minted from it, a long-poll, /cable with the
// token and with a stream token.
type openHolds struct {
	t     *testing.T
	ended map[string]chan string // name → what it ended with
}

// holdStreams opens every kind of stream on s with tok, on job j (queued
// on an API-only server: nothing changes it, so nothing ends by itself).
func holdStreams(t *testing.T, s *server, tok string, j job) *openHolds {
	t.Helper()
	h := &openHolds{t: t, ended: map[string]chan string{}}
	a := s.client(tok)
	userST := streamToken(t, a)
	add := func(name string, f func() string) {
		ch := make(chan string, 1)
		h.ended[name] = ch
		go func() { ch <- f() }()
	}
	sse := func(url string, headers ...string) func() string {
		st, r := openSSE(t, url, headers...)
		if st == nil {
			t.Fatalf("open %s: %d %s", url, r.Status, r.Body)
		}
		return func() string {
			n := 0
			for range st.msgs {
				n++
			}
			return fmt.Sprintf("closed after %d events", n)
		}
	}
	add("SSE with the token", sse(s.URL+"/api/v1/jobs/"+j.ID+"/events", "Authorization", "Bearer "+tok))
	add("SSE with a job stream token", sse(s.URL+"/api/v1/jobs/"+j.ID+"/events?token="+j.StreamToken))
	add("user SSE with a stream token", sse(s.URL+"/api/v1/events?token="+userST))
	poll := make(chan struct{})
	add("long-poll", func() string {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%s?wait=60&since=%d", s.URL, j.ID, j.Seq), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		close(poll)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "error " + err.Error()
		}
		resp.Body.Close()
		return fmt.Sprintf("status %d", resp.StatusCode)
	})
	<-poll
	cable := func(query string, header http.Header) func() string {
		c := mustDialCable(t, s, query, header)
		c.welcome()
		id := cableJobChannel(j.ID)
		c.subscribe(id)
		if m := c.must(10 * time.Second); m.Identifier != id {
			t.Fatalf("cable: first frame %s", m.raw)
		}
		return func() string {
			for m := range c.frames {
				if m.Type == "disconnect" {
					return "disconnect " + m.Reason
				}
			}
			return "closed without a disconnect"
		}
	}
	add("cable with the token", cable("", cableBearer(tok)))
	add("cable with a stream token", cable("?token="+userST, nil))
	time.Sleep(200 * time.Millisecond) // the long-poll is waiting by now
	for name, ch := range h.ended {
		select {
		case how := <-ch:
			t.Fatalf("%s ended before the credential did: %s", name, how)
		default:
		}
	}
	return h
}

// wantEnded checks that every stream ended by at (plus endWithin) and how.
func (h *openHolds) wantEnded(at time.Time) {
	h.t.Helper()
	want := map[string]string{"long-poll": "status 401", "cable with the token": "disconnect unauthorized", "cable with a stream token": "disconnect unauthorized"}
	var slowest time.Duration
	for name, ch := range h.ended {
		select {
		case how := <-ch:
			took := time.Since(at)
			slowest = max(slowest, took)
			if w, ok := want[name]; ok && how != w {
				h.t.Errorf("%s ended with %q, want %q", name, how, w)
			}
			if took > endWithin {
				h.t.Errorf("%s ended %v after the credential, want within about 1 s", name, took.Round(time.Millisecond))
			}
		case <-time.After(time.Until(at.Add(5 * time.Second))):
			h.t.Errorf("%s still open 5 s after the credential ended", name)
		}
	}
	h.t.Logf("every stream ended within %v of the credential", slowest.Round(time.Millisecond))
}

// wantRefused checks that tok and the stream tokens minted from it are
// refused for new requests and streams.
func wantRefused(t *testing.T, s *server, tok string, j job) {
	t.Helper()
	a := s.client(tok)
	wantError(t, a.do("GET", "/api/v1/jobs/"+j.ID, nil), 401, "unauthorized")
	wantError(t, a.do("POST", "/api/v1/stream_tokens", nil), 401, "unauthorized")
	_, r := openSSE(t, s.URL+"/api/v1/jobs/"+j.ID+"/events?token="+j.StreamToken)
	wantError(t, r, 401, "unauthorized")
	c := mustDialCable(t, s, "?token="+j.StreamToken, nil)
	if m := c.must(10 * time.Second); m.Type != "disconnect" || m.Reason != "unauthorized" {
		t.Errorf("/cable with a stream token of an ended credential: %s", m.raw)
	}
}

// TestTokenEnds: a token revoked through the CLI, revoked through the admin
// API, or expired, stops working within about a second — new requests,
// stream tokens minted from it, and the SSE streams, long-polls and /cable
// connections it holds open — while another user's streams go on.
func TestTokenEnds(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--role", "api")
		root := s.client(s.token("root", "--admin"))
		bystander := s.client(s.token("bea"))
		bj := bystander.submit("bea's plan")
		bst, r := openSSE(t, s.URL+"/api/v1/jobs/"+bj.ID+"/events?token="+bj.StreamToken)
		if bst == nil {
			t.Fatalf("bystander's stream: %d %s", r.Status, r.Body)
		}
		for _, c := range []struct {
			name   string
			create []string
			end    func(id string) time.Time
		}{
			{"revoked by the CLI", nil, func(id string) time.Time {
				if out, errOut, code := s.aijobs(false, 2, "token", "revoke", id); code != 0 {
					t.Fatalf("token revoke: %d %s %s", code, out, errOut)
				}
				return time.Now()
			}},
			{"revoked over the admin API", nil, func(id string) time.Time {
				if r := root.do("DELETE", "/api/v1/admin/tokens/"+id, nil); r.Status != 200 {
					t.Fatalf("admin revoke: %d %s", r.Status, r.Body)
				}
				return time.Now()
			}},
			{"expired", []string{"--expires", "2s"}, func(id string) time.Time {
				for _, tk := range s.tokens("") {
					if tk.ID == id {
						return *tk.ExpiresAt
					}
				}
				t.Fatalf("token %s not listed", id)
				return time.Time{}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				name := "u" + strings.ToLower(randText(6))
				tok := s.token(name, c.create...)
				id := s.tokenID(name)
				a := s.client(tok)
				j := a.submit("[[offline:slow]] plan my week")
				holds := holdStreams(t, s, tok, j)
				at := c.end(id)
				holds.wantEnded(at)
				wantRefused(t, s, tok, j)
			})
		}
	drain:
		for {
			select {
			case _, ok := <-bst.msgs:
				if !ok {
					t.Error("another user's stream ended with the revocations")
					break drain
				}
			default:
				break drain
			}
		}
	})
}

// TestTokenRevokedAcrossNodes: two API nodes on one PostgreSQL; a token
// revoked on node A stops working on node B within about a second, with
// B's streams.
func TestTokenRevokedAcrossNodes(t *testing.T) {
	t.Parallel()
	c := &cluster{t: t, dbURL: newDatabaseURL(t, postgres), dir: t.TempDir()}
	apiA, _ := c.node("api")
	apiB, _ := c.node("api")
	root := apiA.client(apiA.token("root", "--admin"))
	tok := apiA.token("nia")
	id := apiA.tokenID("nia")
	j := apiB.client(tok).submit("plan my week on node B")
	holds := holdStreams(t, apiB, tok, j)
	if r := root.do("DELETE", "/api/v1/admin/tokens/"+id, nil); r.Status != 200 {
		t.Fatalf("revoke on node A: %d %s", r.Status, r.Body)
	}
	holds.wantEnded(time.Now())
	wantRefused(t, apiB, tok, j)
}
