package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limitedOpenAI is the fake OpenAI server that counts the requests it gets
// in each wall-clock second, and answers 503 while it is down.
type limitedOpenAI struct {
	*httptest.Server
	fake *fakeOpenAI
	down atomic.Bool
	mu   sync.Mutex
	per  map[int64]int // requests per unix second
	// failed counts the requests answered 503.
	failed atomic.Int64
}

func newLimitedOpenAI(t *testing.T) *limitedOpenAI {
	l := &limitedOpenAI{fake: &fakeOpenAI{calls: map[string]int{}, aborted: make(chan time.Time, 100)}, per: map[int64]int{}}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			l.mu.Lock()
			l.per[time.Now().Unix()]++
			l.mu.Unlock()
		}
		if l.down.Load() {
			l.failed.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error"}}`)
			return
		}
		l.fake.serve(w, r)
	}))
	t.Cleanup(l.Close)
	return l
}

// perSecond is the number of requests of each second, in order.
func (l *limitedOpenAI) perSecond() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var secs []int64
	for s := range l.per {
		secs = append(secs, s)
	}
	slices.Sort(secs)
	var out []int
	for _, s := range secs {
		out = append(out, l.per[s])
	}
	return out
}

// TestProviderRateFleetWide: two worker processes on one PostgreSQL share
// --provider-rpm: the provider never sees more than the per-second budget
// plus one in any wall-clock second, every job completes on its first
// attempt, and jobs that wait for their turn show why.
func TestProviderRateFleetWide(t *testing.T) {
	t.Parallel()
	const perSecond, jobs = 5, 30
	fake := newLimitedOpenAI(t)
	// Small pools: the machine's PostgreSQL is shared.
	c := &cluster{t: t, dbURL: newDatabaseURL(t, postgres) + "&pool_max_conns=8", dir: t.TempDir()}
	vars := map[string]string{"AIJOBS_OPENAI_API_KEY": "sk-server-test-key-0123456789"}
	args := []string{"--provider", "openai", "--openai-base-url", fake.URL + "/v1", "--model", "fake-model",
		"--provider-rpm", fmt.Sprint(perSecond * 60)}
	node := func(role string, extra ...string) (*server, *process) {
		s := &server{t: t, dataDir: c.dir, dbURL: c.dbURL, addr: freeAddr(t), vars: vars}
		return s, s.spawn(t, append(append([]string{"--role", role}, args...), extra...)...)
	}
	apiNode, _ := node("api", "--submit-rate", "1000", "--submit-burst", "1000")
	_, w1 := node("worker")
	_, w2 := node("worker")
	a := apiNode.client(apiNode.token("tess"))

	start := time.Now()
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = a.submit(fmt.Sprintf("What is the capital of France? (%d)", i)).ID
	}
	for _, id := range ids {
		j := a.waitFor(id, 60*time.Second, func(j job) bool { return j.Terminal })
		if j.Status != "completed" || j.Attempt != 1 {
			t.Fatalf("job %s: %s on attempt %d (%+v), want completed on attempt 1", id, j.Status, j.Attempt, j.Error)
		}
	}
	took := time.Since(start)
	counts := fake.perSecond()
	t.Logf("%d jobs on 2 workers at %d requests/s: %v; requests per second %v", jobs, perSecond, took.Round(10*time.Millisecond), counts)
	if m := slices.Max(counts); m > perSecond+1 {
		t.Errorf("the provider saw %d requests in one second, want at most %d: %v", m, perSecond+1, counts)
	}
	if least := time.Duration(jobs-1) * time.Second / perSecond; took < least-time.Second {
		t.Errorf("%d jobs took %v, want at least ~%v at %d requests/s", jobs, took, least, perSecond)
	}
	// Both workers called the provider: the budget held across processes.
	for i, p := range []*process{w1, w2} {
		if n := strings.Count(p.logs.String(), "job completed"); n == 0 {
			t.Errorf("worker %d completed no job: the test did not run two workers", i+1)
		}
	}
	// The last job waited for its turn more than a second: its log says so.
	if !hasReason(t, a, ids[len(ids)-1], "queued", "waiting_for_capacity") {
		t.Errorf("the last job's events never said it was queued waiting_for_capacity")
	}
}

// hasReason reports whether a job's log holds a status event with status
// and reason.
func hasReason(t *testing.T, a *api, id, status, reason string) bool {
	t.Helper()
	body := string(a.do("GET", "/api/v1/jobs/"+id+"/events?after=0", nil).Body)
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct{ Type, Status, Reason string }
		if jsonUnmarshal(data, &ev) == nil && ev.Type == "status" && ev.Status == status && ev.Reason == reason {
			return true
		}
	}
	return false
}

// TestProviderOutage: the provider answers 503 for 20 s, then recovers.
// The fleet backs off together and opens the circuit, so the provider sees
// few calls while it is down; a job shows it is waiting for the provider;
// when the probe succeeds work resumes by itself, and every job completes
// on its first attempt (the outage used up none of their attempts).
func TestProviderOutage(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		const jobs, outage = 8, 20 * time.Second
		fake := newLimitedOpenAI(t)
		fake.down.Store(true)
		s := startServerEnv(t, db, map[string]string{"AIJOBS_OPENAI_API_KEY": "sk-server-test-key-0123456789"},
			"--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model")
		a := s.client(s.token("una"))
		start := time.Now()
		ids := make([]string, jobs)
		for i := range ids {
			ids[i] = a.submit(fmt.Sprintf("What is the capital of France? (%d)", i)).ID
		}
		// While it is down, a snapshot says why the job waits.
		w := a.waitFor(ids[0], outage/2, func(j job) bool { return j.Reason == "waiting_for_provider" || j.Terminal })
		if w.Terminal || (w.Status != "retrying" && w.Status != "queued") {
			t.Fatalf("job during the outage: %+v, want retrying or queued with reason waiting_for_provider", w)
		}
		// The operator sees it too: the circuit is open, jobs wait.
		circuit := `aijobs_provider_circuit_open{model="fake-model",provider="openai"}`
		for m := ""; !strings.Contains(m, circuit+" 1"); m = string(a.do("GET", "/metrics", nil).Body) {
			if time.Since(start) > outage-time.Second {
				t.Fatalf("/metrics never showed the circuit open during the outage:\n%s", grepLines(m, "aijobs_provider_"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Until(start.Add(outage)))
		failed := fake.failed.Load()
		fake.down.Store(false)
		up := time.Now()
		for _, id := range ids {
			a.waitFor(id, 45*time.Second, func(j job) bool { return j.Terminal })
			j := a.get(id) // a fresh decode: waitFor's keeps fields the last answer omitted
			if j.Status != "completed" || j.Attempt != 1 || j.Reason != "" {
				t.Fatalf("job %s after the outage: %s on attempt %d, reason %q (%+v), want completed on attempt 1", id, j.Status, j.Attempt, j.Reason, j.Error)
			}
		}
		m := string(a.do("GET", "/metrics", nil).Body)
		if !strings.Contains(m, circuit+" 0") || !strings.Contains(m, `aijobs_provider_waits_total{model="fake-model",provider="openai",reason="waiting_for_provider"}`) {
			t.Errorf("/metrics after the outage, want the circuit closed and the waits counted:\n%s", grepLines(m, "aijobs_provider_"))
		}
		t.Logf("%d jobs, %v outage: %d calls answered 503 (%v per second), all completed %v after the provider came back",
			jobs, outage, failed, fake.perSecond(), time.Since(up).Round(10*time.Millisecond))
		// Without a shared backoff and circuit each job would call every
		// few seconds: 8 jobs × 20 s. With them: the first failures, then
		// a probe at most every ~10 s.
		if failed > jobs+8 {
			t.Errorf("the provider got %d calls while it was down, want at most %d", failed, jobs+8)
		}
	})
}

// grepLines is the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestProviderWaitRunsOut: a provider that stays down longer than
// --provider-wait fails its jobs with provider_unavailable, on their first
// attempt, soon after the wait.
func TestProviderWaitRunsOut(t *testing.T) {
	t.Parallel()
	fake := newLimitedOpenAI(t)
	fake.down.Store(true)
	s := startServerEnv(t, sqlite, map[string]string{"AIJOBS_OPENAI_API_KEY": "sk-server-test-key-0123456789"},
		"--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model", "--provider-wait", "3s")
	a := s.client(s.token("vic"))
	start := time.Now()
	id := a.submit("What is the capital of France?").ID
	a.waitFor(id, 30*time.Second, func(j job) bool { return j.Terminal })
	j := a.get(id)
	if j.Status != "failed" || j.Attempt != 1 || j.Error == nil || j.Error.Code != "provider_unavailable" || !strings.Contains(j.Error.Message, "3s") {
		t.Fatalf("job of a provider down for good: %s on attempt %d, error %+v; want failed with provider_unavailable (naming the wait) on attempt 1", j.Status, j.Attempt, j.Error)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("failed after %v, want soon after the 3 s provider wait", took)
	}
}
