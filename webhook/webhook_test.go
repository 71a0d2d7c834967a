package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/goleak"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
	"github.com/aijobs/aijobs/secret"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDefaultSchedule: the first two retries come within a minute, the
// waits never shrink, and the last try is about a day after the first.
func TestDefaultSchedule(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for retry := 1; ; retry++ {
		wait, ok := Backoff(DefaultSchedule(), retry, 0)
		if !ok {
			if retry != 11 {
				t.Fatalf("%d retries, want 10", retry-1)
			}
			break
		}
		if retry > 1 && wait < DefaultSchedule()[retry-2] {
			t.Errorf("retry %d waits %v, less than the one before", retry, wait)
		}
		total += wait
		if retry == 2 && total > time.Minute {
			t.Errorf("the first two retries come %v after the first try, want within a minute", total)
		}
	}
	if total < 20*time.Hour || total > 28*time.Hour {
		t.Errorf("the last try is %v after the first, want about a day", total)
	}
	t.Logf("11 tries over %v", total)
}

func TestBackoffRetryAfter(t *testing.T) {
	t.Parallel()
	s := []time.Duration{5 * time.Second, 30 * time.Second}
	for _, c := range []struct {
		retry      int
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{1, 0, 5 * time.Second, true},
		{1, time.Second, 5 * time.Second, true},     // shorter than the schedule: the schedule
		{1, 2 * time.Minute, 2 * time.Minute, true}, // longer: honoured
		{2, 100 * time.Hour, MaxRetryAfter, true},   // bounded
		{3, time.Minute, 0, false},                  // no retry left
		{0, 0, 0, false},
	} {
		got, ok := Backoff(s, c.retry, c.retryAfter)
		if got != c.want || ok != c.ok {
			t.Errorf("Backoff(%v, %d, %v) = %v, %v; want %v, %v", s, c.retry, c.retryAfter, got, ok, c.want, c.ok)
		}
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"": 0, "7": 7 * time.Second, "-1": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second, now.Add(-time.Hour).Format(http.TimeFormat): 0} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestSignMatchesSpecification: what Sign makes, the specification's own
// library verifies; a changed body, id or timestamp does not verify.
func TestSignMatchesSpecification(t *testing.T) {
	t.Parallel()
	sec := NewSecret()
	if !strings.HasPrefix(sec, "whsec_") || NewSecret() == sec {
		t.Fatalf("NewSecret() = %q", sec)
	}
	wh, err := standardwebhooks.NewWebhook(sec)
	if err != nil {
		t.Fatal(err)
	}
	at, body := time.Now(), []byte(`{"job_id":"job_1","status":"completed"}`)
	sig, err := Sign(sec, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("the library refuses our signature: %v", err)
	}
	if wh.Verify([]byte(`{"job_id":"job_2"}`), h) == nil {
		t.Error("a changed body verifies")
	}
	h.Set("webhook-id", "msg_2")
	if wh.Verify(body, h) == nil {
		t.Error("a changed id verifies")
	}
	// The specification's own test vector (its go/webhook_test.go).
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; err != nil || got != want {
		t.Errorf("Sign of the specification's vector = %s, %v; want %s", got, err, want)
	}
	if _, err := Sign("whsec_not base64!", "m", at, body); err == nil {
		t.Error("a malformed secret signs")
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	strict, open := Targets{}, Targets{AllowPrivate: true}
	for _, u := range []string{"https://hooks.example.com/aijobs", "http://203.0.113.7:8080/x?y=1", "https://[2001:db8::1]/x", "https://8.8.8.8/"} {
		if err := strict.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/", "example.com/x", "https:///x", "https://u:p@example.com/", "https://example.com/#f", "javascript:alert(1)", "file:///etc/passwd"} {
		if strict.CheckURL(u) == nil || open.CheckURL(u) == nil {
			t.Errorf("CheckURL(%q) accepts a URL of the wrong form", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1/", "http://localhost:8080/", "http://api.localhost/", "http://10.1.2.3/", "http://192.168.1.1/",
		"http://172.16.0.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fe80::1]/", "http://[fc00::1]/",
		"http://0.0.0.0/", "http://[::ffff:10.0.0.1]/", "http://100.64.1.1/", "http://224.0.0.1/", "http://255.255.255.255/"} {
		if !errors.Is(strict.CheckURL(u), errPrivate) {
			t.Errorf("CheckURL(%q) = %v, want errPrivate", u, strict.CheckURL(u))
		}
		if err := open.CheckURL(u); err != nil {
			t.Errorf("with AllowPrivate, CheckURL(%q) = %v", u, err)
		}
	}
}

// TestDialRefusesPrivate: the check runs on the address actually dialled,
// so a name that resolves to loopback ("localhost" through the resolver,
// not the URL check) is refused before connecting.
func TestDialRefusesPrivate(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = Targets{}.dialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if !errors.Is(err, errPrivate) {
		t.Fatalf("dial localhost: %v, want errPrivate", err)
	}
	c, err := Targets{AllowPrivate: true}.dialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial localhost with AllowPrivate: %v", err)
	}
	c.Close()
}

// newTestWebhooks returns webhooks for tries (no store: try needs none) and
// the sealed secret of user usr_1.
func newTestWebhooks(t *testing.T, targets Targets, timeout time.Duration) (*Webhooks, []byte) {
	t.Helper()
	keys, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sec := NewSecret()
	w, err := New(Config{Keys: keys, Targets: targets,
		Timeout: timeout, Schedule: []time.Duration{time.Second, time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.client.CloseIdleConnections)
	return w, keys.Seal([]byte(sec), secretContext("usr_1"))
}

// TestTryOutcomes: how each answer of a receiver ends a try.
func TestTryOutcomes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	stop := make(chan struct{})
	hit := func(path string) int { mu.Lock(); defer mu.Unlock(); return hits[path] }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(200)
		case "/accepted":
			w.WriteHeader(202)
		case "/down":
			w.WriteHeader(503)
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		case "/gone":
			w.WriteHeader(410)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}
	}))
	defer srv.Close()
	defer close(stop) // before srv.Close, which waits for handlers
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate no one trusts
	defer untrusted.Close()

	w, sealed := newTestWebhooks(t, Targets{AllowPrivate: true}, 300*time.Millisecond)
	for _, c := range []struct {
		url   string
		n     int
		state jobs.DeliveryState
		code  int
		next  time.Duration // least wait before the next try
		err   string
	}{
		{srv.URL + "/ok", 1, jobs.DeliveryDelivered, 200, 0, ""},
		{srv.URL + "/accepted", 1, jobs.DeliveryDelivered, 202, 0, ""},
		{srv.URL + "/down", 1, jobs.DeliveryPending, 503, time.Second, "HTTP 503"},
		{srv.URL + "/down", 2, jobs.DeliveryPending, 503, time.Minute, "HTTP 503"},
		{srv.URL + "/down", 3, jobs.DeliveryDead, 503, 0, "HTTP 503"},
		{srv.URL + "/busy", 1, jobs.DeliveryPending, 429, 2 * time.Minute, "HTTP 429"},
		{srv.URL + "/gone", 1, jobs.DeliveryFailed, 410, 0, "HTTP 410"},
		{srv.URL + "/moved", 1, jobs.DeliveryFailed, 302, 0, "redirects are not followed"},
		{srv.URL + "/slow", 1, jobs.DeliveryPending, 0, time.Second, "timeout after 300ms"},
		{closedURL, 1, jobs.DeliveryPending, 0, time.Second, "connection failed: connection refused"},
		{untrusted.URL, 1, jobs.DeliveryPending, 0, time.Second, "TLS handshake failed"},
		{"http://no-such-host.invalid/", 1, jobs.DeliveryPending, 0, time.Second, "does not resolve"},
	} {
		d := jobs.Delivery{Delivery: jobtype.Delivery{ID: "msg_1", URL: c.url}, UserID: "usr_1", Body: []byte(`{}`), Secret: sealed}
		start := time.Now()
		r := w.try(context.Background(), d, c.n, start)
		if r.State != c.state || r.StatusCode != c.code || !strings.Contains(r.Error, c.err) || (c.err == "") != (r.Error == "") {
			t.Errorf("try %d of %s: state %s code %d error %q; want %s %d %q", c.n, c.url, r.State, r.StatusCode, r.Error, c.state, c.code, c.err)
		}
		if c.state == jobs.DeliveryPending && r.Next.Sub(r.At) < c.next {
			t.Errorf("try %d of %s: next try in %v, want at least %v", c.n, c.url, r.Next.Sub(r.At), c.next)
		}
	}
	if n := hit("/ok"); n != 1 {
		t.Errorf("the redirect was followed: /ok got %d requests, want 1", n)
	}

	// Without AllowPrivate the loopback receiver is never reached, and
	// the try fails at once, without retries.
	strict, sealed2 := newTestWebhooks(t, Targets{}, time.Second)
	r := strict.try(context.Background(), jobs.Delivery{Delivery: jobtype.Delivery{ID: "msg_2", URL: srv.URL + "/accepted"}, UserID: "usr_1", Body: []byte(`{}`), Secret: sealed2}, 1, time.Now())
	if r.State != jobs.DeliveryFailed || !strings.Contains(r.Error, "not allowed") || strings.Contains(r.Error, "127.0.0.1") || hit("/accepted") != 1 {
		t.Errorf("try to loopback without AllowPrivate: %+v (hits %d)", r, hit("/accepted"))
	}

	// No secret (not possible through the API: a submit needs one): failed,
	// nothing sent unsigned.
	if r := w.try(context.Background(), jobs.Delivery{Delivery: jobtype.Delivery{ID: "msg_4", URL: srv.URL + "/ok"}, UserID: "usr_1", Body: []byte(`{}`)}, 1, time.Now()); r.State != jobs.DeliveryFailed || hit("/ok") != 1 {
		t.Errorf("a try without the user's secret: %+v, want failed", r)
	}

	// A try cut short by this process stopping is not the receiver's
	// fault: it is due again at once.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r = w.try(ctx, jobs.Delivery{Delivery: jobtype.Delivery{ID: "msg_3", URL: srv.URL + "/slow"}, UserID: "usr_1", Body: []byte(`{}`), Secret: sealed}, 1, time.Now())
	if r.State != jobs.DeliveryPending || !strings.Contains(r.Error, "interrupted") || r.Next.After(r.At) {
		t.Errorf("an interrupted try: %+v", r)
	}
}

// brokenStore reads a pending delivery but cannot record a try, as in an
// outage; it keeps what FinishTry was asked to write.
type brokenStore struct {
	Store
	finished []jobs.TryResult
}

func (b *brokenStore) Delivery(_ context.Context, id string) (jobs.Delivery, error) {
	return jobs.Delivery{Delivery: jobtype.Delivery{ID: id, State: jobs.DeliveryPending}}, nil
}
func (b *brokenStore) StartTry(context.Context, string, int, time.Time) error {
	return jobs.ErrUnavailable
}
func (b *brokenStore) FinishTry(_ context.Context, _ string, r jobs.TryResult) error {
	b.finished = append(b.finished, r)
	return nil
}

// TestWorkGivesUp: a store failure is River's to retry; on River's last
// attempt the delivery ends dead instead of staying pending for ever.
func TestWorkGivesUp(t *testing.T) {
	t.Parallel()
	st := &brokenStore{}
	w, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	job := &river.Job[Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 10}, Args: Args{DeliveryID: "msg_1"}}
	if err := w.Work(context.Background(), job); !errors.Is(err, jobs.ErrUnavailable) || len(st.finished) != 0 {
		t.Fatalf("attempt 1 of 10: %v, recorded %+v; want the error for River to retry, nothing recorded", err, st.finished)
	}
	job.Attempt = 10
	if err := w.Work(context.Background(), job); !errors.Is(err, jobs.ErrUnavailable) || len(st.finished) != 1 || st.finished[0].State != jobs.DeliveryDead {
		t.Fatalf("attempt 10 of 10: %v, recorded %+v; want the delivery dead", err, st.finished)
	}
}

// dialContext dials with the check the deliveries' dialer runs (control).
func (t Targets) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Control: t.control}).DialContext(ctx, network, addr)
}
