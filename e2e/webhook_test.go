package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aijobs/aijobs/client"
)

// received is one request a test receiver got.
type received struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// receiver is a webhook receiver on loopback: answer decides the status
// of its nth request (from 1) for a job, and may block.
type receiver struct {
	URL string
	mu  sync.Mutex
	got []received
	// arrived gets a value on every request, after it is recorded.
	arrived chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{At: time.Now(), Header: r.Header.Clone(), Body: body})
		n := len(rc.got)
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		w.WriteHeader(answer(n, w, r))
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/hooks/aijobs?k=v"
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitRequests waits until the receiver has n requests.
func (rc *receiver) waitRequests(t *testing.T, n int, timeout time.Duration) []received {
	t.Helper()
	deadline := time.After(timeout)
	for len(rc.requests()) < n {
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("the receiver got %d requests within %v, want %d", len(rc.requests()), timeout, n)
		}
	}
	return rc.requests()
}

// delivery is GET /api/v1/jobs/{id}/deliveries' view of one delivery.
type delivery struct {
	ID         string
	JobID      string `json:"job_id"`
	Seq        int64
	Event      string
	State      string
	StatusCode int `json:"status_code"`
	Error      string
	CreatedAt  time.Time `json:"created_at"`
	Attempts   []struct {
		Attempt    int
		At         time.Time
		DurationMS *int64 `json:"duration_ms"`
		StatusCode int    `json:"status_code"`
		Error      string
	}
}

func deliveriesOf(t *testing.T, a *api, id string) []delivery {
	t.Helper()
	r := a.do("GET", "/api/v1/jobs/"+id+"/deliveries", nil)
	if r.Status != 200 {
		t.Fatalf("deliveries of %s: %d %s", id, r.Status, r.Body)
	}
	var body struct{ Deliveries []delivery }
	r.json(t, &body)
	return body.Deliveries
}

// waitDeliveries polls the deliveries of a job until done holds.
func waitDeliveries(t *testing.T, a *api, id string, timeout time.Duration, done func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := deliveriesOf(t, a, id)
		if done(ds) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s not done within %v: %+v", id, timeout, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webhookSecret rotates the user's secret and returns it.
func webhookSecret(t *testing.T, a *api) string {
	t.Helper()
	r := a.do("POST", "/api/v1/webhooks/secret", nil)
	var body struct{ Secret string }
	r.json(t, &body)
	if r.Status != 201 || !strings.HasPrefix(body.Secret, "whsec_") {
		t.Fatalf("rotate webhook secret: %d %s", r.Status, r.Body)
	}
	return body.Secret
}

// verify checks a request with the Standard Webhooks library itself.
func verify(t *testing.T, secret string, got received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("standardwebhooks.Verify: %v\nheaders %v\nbody %s", err, got.Header, got.Body)
	}
	// And the Go client's helper agrees.
	if err := client.VerifyWebhook(secret, got.Header, got.Body, 0); err != nil {
		t.Fatalf("client.VerifyWebhook: %v", err)
	}
}

func submitHook(t *testing.T, a *api, input, url string, events ...string) job {
	t.Helper()
	body := map[string]any{"input": input, "webhook_url": url}
	if len(events) > 0 {
		body["webhook_events"] = events
	}
	r := a.do("POST", "/api/v1/ai/proxy", body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit with a webhook: %d %s", r.Status, r.Body)
	}
	var j job
	r.json(t, &j)
	return j
}

// TestWebhookTerminalEvents: each terminal event (completed, failed,
// cancelled) reaches a loopback receiver once, signed as Standard Webhooks
// says (checked with its own Go library), its body the job snapshot as
// GET /api/v1/jobs/{id} answers it; the deliveries endpoint shows it, to
// the job's owner only. Progress deliveries come in event order, at most
// one a second.
func TestWebhookTerminalEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--webhook-allow-private")
		a := s.client(s.token("hana"))
		rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 200 })

		// No secret yet: refused, so nothing is ever sent unsigned.
		r := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hi", "webhook_url": rc.URL})
		wantError(t, r, 422, "webhook_secret_required")
		old := webhookSecret(t, a)
		secret := webhookSecret(t, a) // rotated: the old one no longer signs
		if old == secret {
			t.Fatal("rotation returned the same secret")
		}
		for _, bad := range []map[string]any{
			{"input": "hi", "webhook_url": "ftp://example.com/x"},
			{"input": "hi", "webhook_url": "http://user:pw@example.com/x"},
			{"input": "hi", "webhook_url": "not a url"},
			{"input": "hi", "webhook_url": rc.URL, "webhook_events": []string{"output"}},
			{"input": "hi", "webhook_url": 7},
		} {
			r := a.do("POST", "/api/v1/ai/proxy", bad)
			if r.Status != 422 {
				t.Errorf("submit %v: %d %s, want 422", bad, r.Status, r.Body)
			}
		}

		done := submitHook(t, a, "I want to run a half marathon by June", rc.URL)
		failed := submitHook(t, a, "[[offline:fatal]] Help me plan", rc.URL)
		cancelled := submitHook(t, a, "[[offline:slow]] I want to write a novel", rc.URL)
		a.waitFor(cancelled.ID, 30*time.Second, func(j job) bool { return j.Status == "working" })
		if r := a.do("POST", "/api/v1/jobs/"+cancelled.ID+"/cancel", nil); r.Status != 200 {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
		want := map[string]string{done.ID: "completed", failed.ID: "failed", cancelled.ID: "cancelled"}
		for id := range want {
			a.waitTerminal(id)
		}
		got := rc.waitRequests(t, 3, 30*time.Second)
		time.Sleep(300 * time.Millisecond) // nothing more comes
		if n := len(rc.requests()); n != 3 {
			t.Fatalf("the receiver got %d requests, want exactly 3 (one per terminal event)", n)
		}
		for _, g := range got {
			verify(t, secret, g)
			var snap map[string]any
			if err := json.Unmarshal(g.Body, &snap); err != nil {
				t.Fatal(err)
			}
			id, _ := snap["job_id"].(string)
			if snap["status"] != want[id] || snap["terminal"] != true {
				t.Errorf("delivery for %s: status %v terminal %v, want %s", id, snap["status"], snap["terminal"], want[id])
			}
			var api map[string]any
			a.do("GET", "/api/v1/jobs/"+id, nil).json(t, &api)
			delete(api, "stream_token")
			if a, b := mustJSON(t, api), mustJSON(t, snap); a != b {
				t.Errorf("delivered snapshot differs from the API's:\n api %s\nhook %s", a, b)
			}
			if !strings.HasPrefix(g.Header.Get("webhook-id"), "msg_") || g.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", g.Header)
			}
			ds := deliveriesOf(t, a, id)
			if len(ds) != 1 || ds[0].State != "delivered" || ds[0].ID != g.Header.Get("webhook-id") || ds[0].Event != want[id] ||
				len(ds[0].Attempts) != 1 || ds[0].Attempts[0].StatusCode != 200 || ds[0].Attempts[0].DurationMS == nil {
				t.Errorf("deliveries of %s: %+v", id, ds)
			}
		}
		// Old secret: no match (the library itself says so).
		wh, _ := standardwebhooks.NewWebhook(old)
		if wh.Verify(got[0].Body, got[0].Header) == nil {
			t.Error("a delivery verifies with the secret rotated away")
		}

		// Another user sees nothing of the job's deliveries.
		b := s.client(s.token("other"))
		wantError(t, b.do("GET", "/api/v1/jobs/"+done.ID+"/deliveries", nil), 404, "not_found")
		wantError(t, b.do("GET", "/api/v1/jobs/job_nosuchjob000000000000000/deliveries", nil), 404, "not_found")
		wantError(t, s.client("").do("GET", "/api/v1/jobs/"+done.ID+"/deliveries", nil), 401, "unauthorized")
		wantError(t, s.client("").do("POST", "/api/v1/webhooks/secret", nil), 401, "unauthorized")

		// Progress: in event order, coalesced to one a second.
		rp := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 204 })
		slow := submitHook(t, a, "[[offline:slow]] I want to learn the cello", rp.URL, "status", "progress", "completed")
		a.waitTerminal(slow.ID)
		ds := waitDeliveries(t, a, slow.ID, 30*time.Second, func(ds []delivery) bool {
			return len(ds) > 0 && ds[len(ds)-1].Event == "completed" && ds[len(ds)-1].State == "delivered"
		})
		reqs := rp.requests()
		var seqs []int64
		progress := 0
		for _, g := range reqs {
			verify(t, secret, g)
			var snap struct{ Seq int64 }
			json.Unmarshal(g.Body, &snap)
			seqs = append(seqs, snap.Seq)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("deliveries out of event order: seqs %v", seqs)
			}
		}
		var lastProgress time.Time
		for _, d := range ds {
			if d.Event != "progress" {
				continue
			}
			progress++
			if gap := d.CreatedAt.Sub(lastProgress); gap < time.Second {
				t.Errorf("two progress deliveries %v apart, want at least 1 s", gap)
			}
			lastProgress = d.CreatedAt
		}
		took := a.get(slow.ID)
		t.Logf("slow job: %d events, %d deliveries (%d progress), seqs %v", took.Seq, len(ds), progress, seqs)
		if progress < 1 || progress > 5 {
			t.Errorf("%d progress deliveries for a job of about 2 s (%d events), want about one a second", progress, took.Seq)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWebhookRetries: a receiver that fails twice (a 500, then a 429 with
// Retry-After: 1) and then succeeds gets the delivery on the third try,
// every try with the same webhook-id and a valid signature, the third not
// before the Retry-After; the deliveries endpoint shows the three tries.
func TestWebhookRetries(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--webhook-allow-private", "--webhook-retry-schedule", "100ms,100ms,100ms")
		tok := s.token("rita")
		a := s.client(tok)
		// Through the Go client, as an app backend would.
		c := client.New(s.URL, tok, nil)
		ctx := context.Background()
		secret, err := c.RotateWebhookSecret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) int {
			switch n {
			case 1:
				return 500
			case 2:
				w.Header().Set("Retry-After", "1")
				return 429
			}
			return 200
		})
		sub, err := c.Submit(ctx, client.SubmitRequest{Input: "I want to read twelve books this year", WebhookURL: rc.URL})
		if err != nil {
			t.Fatal(err)
		}
		j := sub.Job
		got := rc.waitRequests(t, 3, 30*time.Second)
		for _, g := range got {
			verify(t, secret, g)
			if id := g.Header.Get("webhook-id"); id != got[0].Header.Get("webhook-id") {
				t.Errorf("webhook-id changed between tries: %s, then %s", got[0].Header.Get("webhook-id"), id)
			}
		}
		if gap := got[2].At.Sub(got[1].At); gap < 900*time.Millisecond {
			t.Errorf("third try %v after the 429 with Retry-After: 1, want at least 1 s", gap)
		}
		ds := waitDeliveries(t, a, j.ID, 10*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State == "delivered" })
		var codes []int
		for _, at := range ds[0].Attempts {
			codes = append(codes, at.StatusCode)
		}
		if len(codes) != 3 || codes[0] != 500 || codes[1] != 429 || codes[2] != 200 || ds[0].StatusCode != 200 {
			t.Fatalf("tries %v (last %d), want 500, 429, 200", codes, ds[0].StatusCode)
		}
		cds, err := c.Deliveries(ctx, j.ID)
		if err != nil || len(cds) != 1 || cds[0].State != "delivered" || len(cds[0].Attempts) != 3 || cds[0].ID != got[0].Header.Get("webhook-id") {
			t.Errorf("client.Deliveries = %+v, %v", cds, err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.requests()); n != 3 {
			t.Errorf("the receiver got %d requests, want 3", n)
		}
	})
}

// TestWebhookDeadLetter: a receiver that always fails (500) gets every try
// of the schedule and its delivery ends dead; one that answers 400 gets one
// try and its delivery fails; meanwhile another job's delivery to a good
// receiver arrives at once, and the failing one blocks nothing but itself.
func TestWebhookDeadLetter(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--webhook-allow-private", "--webhook-retry-schedule", "300ms,300ms,300ms")
		a := s.client(s.token("dora"))
		secret := webhookSecret(t, a)
		down := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 503 })
		refusing := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 400 })
		good := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 200 })

		dead := submitHook(t, a, "I want to learn to knit", down.URL)
		down.waitRequests(t, 1, 30*time.Second)
		// While the first one is being retried, another job's delivery goes at once.
		ok := submitHook(t, a, "I want to bake bread every week", good.URL)
		start := time.Now()
		verify(t, secret, good.waitRequests(t, 1, 30*time.Second)[0])
		if n := len(down.requests()); n >= 4 {
			t.Errorf("the good receiver's delivery came only after the failing one was dead (%d tries)", n)
		}
		t.Logf("a good delivery %v after its submit, while another receiver fails", time.Since(start).Round(time.Millisecond))
		failed := submitHook(t, a, "I want to sing in a choir", refusing.URL)

		ds := waitDeliveries(t, a, dead.ID, 30*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State == "dead" })
		if len(ds[0].Attempts) != 4 || ds[0].StatusCode != 503 || ds[0].Error == "" {
			t.Errorf("dead delivery: %+v, want 4 tries (the first and 3 retries), last 503", ds[0])
		}
		ds = waitDeliveries(t, a, failed.ID, 30*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State == "failed" })
		if len(ds[0].Attempts) != 1 || ds[0].StatusCode != 400 {
			t.Errorf("refused delivery: %+v, want 1 try with 400", ds[0])
		}
		waitDeliveries(t, a, ok.ID, 10*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State == "delivered" })
		time.Sleep(500 * time.Millisecond)
		if n, m := len(down.requests()), len(refusing.requests()); n != 4 || m != 1 {
			t.Errorf("tries: %d to the failing receiver (want 4), %d to the refusing one (want 1)", n, m)
		}

		// The metrics count the tries by outcome.
		r := a.do("GET", "/metrics", nil)
		for _, want := range []string{`aijobs_webhook_deliveries_total{outcome="dead"} 1`, `aijobs_webhook_deliveries_total{outcome="failed"} 1`,
			`aijobs_webhook_deliveries_total{outcome="retrying"} 3`, `aijobs_webhook_delivery_duration_seconds_count{outcome="delivered"} 1`} {
			if !strings.Contains(string(r.Body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestWebhookPrivateTargets: without --webhook-allow-private a URL on a
// loopback, private or link-local address is refused at submit, and one
// whose host name resolves to loopback (this machine's own name) passes the
// submit but fails its delivery when the address is dialled: no request
// reaches the receiver, and nothing is retried.
func TestWebhookPrivateTargets(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		a := s.client(s.token("pia"))
		webhookSecret(t, a)
		rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 200 })
		for _, u := range []string{rc.URL, "http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]/x", "http://localhost/x",
			"http://0.0.0.0/x", "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/x"} {
			wantError(t, a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "hi", "webhook_url": u}), 422, "invalid_webhook_url")
		}
		host, _ := os.Hostname()
		addrs, err := net.LookupHost(host)
		if err != nil || len(addrs) == 0 || !net.ParseIP(addrs[0]).IsLoopback() {
			t.Skipf("this machine's name %q does not resolve to loopback (%v %v): no name to test the dial-time check with", host, addrs, err)
		}
		port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
		j := submitHook(t, a, "I want to plant a garden", "http://"+host+":"+port)
		ds := waitDeliveries(t, a, j.ID, 30*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State != "pending" })
		if ds[0].State != "failed" || len(ds[0].Attempts) != 1 || !strings.Contains(ds[0].Error, "not allowed") {
			t.Errorf("delivery to %s (%s): %+v, want failed after one try, target not allowed", host, addrs[0], ds[0])
		}
		if n := len(rc.requests()); n != 0 {
			t.Errorf("the loopback receiver got %d requests", n)
		}
	})
}

// TestWebhookWorkerKilledMidDelivery kills the worker process (kill -9)
// while a receiver holds its first delivery request open, and restarts it:
// the delivery is made again (at least once), with the same webhook-id, and
// the deliveries endpoint shows the interrupted try (no duration) and the
// one that delivered.
func TestWebhookWorkerKilledMidDelivery(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), addr: freeAddr(t)}
		flags := []string{"--webhook-allow-private", "--node-lease", "2s", "--offline-chunk-delay", "5ms"}
		p := s.spawn(t, flags...)
		a := s.client(s.token("kai"))
		secret := webhookSecret(t, a)
		release := make(chan struct{})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		defer unblock()
		rc := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request) int {
			if n == 1 {
				select { // hold the first try open until the worker is dead
				case <-release:
				case <-r.Context().Done():
				}
			}
			return 200
		})
		j := submitHook(t, a, "I want to swim across the lake", rc.URL)
		first := rc.waitRequests(t, 1, 30*time.Second)[0]
		p.kill(t)
		unblock()

		s.spawn(t, flags...)
		restarted := time.Now()
		got := rc.waitRequests(t, 2, 30*time.Second)
		t.Logf("delivered again %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
		verify(t, secret, got[1])
		if got[1].Header.Get("webhook-id") != first.Header.Get("webhook-id") {
			t.Errorf("webhook-id %s after the crash, %s before", got[1].Header.Get("webhook-id"), first.Header.Get("webhook-id"))
		}
		ds := waitDeliveries(t, a, j.ID, 10*time.Second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].State == "delivered" })
		at := ds[0].Attempts
		if len(at) != 2 || at[0].DurationMS != nil || at[0].StatusCode != 0 || at[1].StatusCode != 200 {
			t.Errorf("tries %+v, want an interrupted one (no duration, no status) and a 200", at)
		}
	})
}

// TestWebhookUserDefault: an admin sets a user's default webhook; the
// user's submits that name none are delivered there, with the events it
// names; "webhook_url": "" opts a submit out; clearing it stops it.
func TestWebhookUserDefault(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--webhook-allow-private")
		root := s.client(s.token("root", "--admin"))
		a := s.client(s.token("uma"))
		id := userID(t, root, "uma")
		secret := webhookSecret(t, a)
		rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) int { return 200 })
		path := "/api/v1/admin/users/" + id + "/webhook"
		if r := root.do("GET", path, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"webhook":null`) {
			t.Fatalf("no default yet: %d %s", r.Status, r.Body)
		}
		wantError(t, root.do("PUT", path, map[string]any{"url": "gopher://x"}), 422, "invalid_webhook_url")
		wantError(t, root.do("PUT", path, map[string]any{"url": rc.URL, "events": []string{"nope"}}), 422, "invalid_field")
		wantError(t, root.do("PUT", path, map[string]any{}), 422, "invalid_field")
		wantError(t, root.do("PUT", "/api/v1/admin/users/usr_nobody/webhook", map[string]any{"url": rc.URL}), 404, "not_found")
		r := root.do("PUT", path, map[string]any{"url": rc.URL, "events": []string{"failed"}})
		if r.Status != 200 || !strings.Contains(string(r.Body), `"events":["failed"]`) {
			t.Fatalf("set default: %d %s", r.Status, r.Body)
		}
		ok := a.submit("I want to climb a hill")         // default: only failed is sent
		bad := a.submit("[[offline:fatal]] plan a trip") // delivered
		out := a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "[[offline:fatal]] opt out", "webhook_url": ""})
		var optOut job
		out.json(t, &optOut)
		for _, id := range []string{ok.ID, bad.ID, optOut.ID} {
			a.waitTerminal(id)
		}
		got := rc.waitRequests(t, 1, 30*time.Second)
		verify(t, secret, got[0])
		var snap job
		json.Unmarshal(got[0].Body, &snap)
		if snap.ID != bad.ID || snap.Status != "failed" {
			t.Errorf("delivered %s %s, want the failed job %s", snap.ID, snap.Status, bad.ID)
		}
		if r := root.do("DELETE", path, nil); r.Status != 200 {
			t.Fatalf("clear default: %d %s", r.Status, r.Body)
		}
		a.waitTerminal(a.submit("[[offline:fatal]] after the default is gone").ID)
		time.Sleep(500 * time.Millisecond)
		if n := len(rc.requests()); n != 1 {
			t.Errorf("the default's receiver got %d requests, want 1 (the failed job's)", n)
		}
		if ds := deliveriesOf(t, a, ok.ID); len(ds) != 0 {
			t.Errorf("the completed job has deliveries %+v; its webhook sends only failed", ds)
		}
	})
}

// TestWebhookOrder: one job's deliveries go in event order even when an
// earlier one must be retried: the receiver fails the first delivery (the
// queued status) once, and no later event of the job reaches it before
// that delivery's retry has succeeded.
func TestWebhookOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--webhook-allow-private", "--webhook-retry-schedule", "500ms")
		a := s.client(s.token("otto"))
		secret := webhookSecret(t, a)
		rc := newReceiver(t, func(n int, _ http.ResponseWriter, _ *http.Request) int {
			if n == 1 {
				return 503
			}
			return 200
		})
		j := submitHook(t, a, "I want to learn to sail", rc.URL, "status", "completed")
		a.waitTerminal(j.ID)
		ds := waitDeliveries(t, a, j.ID, 30*time.Second, func(ds []delivery) bool {
			return len(ds) > 0 && ds[len(ds)-1].Event == "completed" && ds[len(ds)-1].State == "delivered"
		})
		var seqs []int64
		for _, g := range rc.requests() {
			verify(t, secret, g)
			var snap struct{ Seq int64 }
			json.Unmarshal(g.Body, &snap)
			seqs = append(seqs, snap.Seq)
		}
		t.Logf("arrival order of seqs: %v", seqs)
		if len(seqs) < 3 || seqs[0] != seqs[1] {
			t.Fatalf("seqs %v: want the first delivery twice (a 503, then its retry) before anything else", seqs)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Fatalf("seqs %v arrived out of event order", seqs)
			}
		}
		if len(ds) != len(seqs)-1 || ds[0].State != "delivered" || len(ds[0].Attempts) != 2 {
			t.Errorf("deliveries %+v, want each once and the first with 2 tries", ds)
		}
	})
}
