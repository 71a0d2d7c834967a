package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/aijobs once per test run, for tests that need a real
// process to kill.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aijobs-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "aijobs")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/aijobs").CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("build aijobs: %v", binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// process is aijobs running as its own OS process.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

// spawn starts `aijobs serve` as a process on s's database and address.
func (s *server) spawn(t *testing.T, args ...string) *process {
	t.Helper()
	full := append([]string{"serve", "--addr", s.addr}, s.dbArgs()...)
	full = append(full, args...)
	p := &process{cmd: exec.Command(binary(t), full...), logs: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range s.vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("process log:\n%s", tail(p.logs.String(), 3000))
		}
	})
	s.URL = "http://" + s.addr
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := httpGet(s.URL + "/readyz"); err == nil && r == 200 {
			return p
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("process not ready:\n%s", p.logs.String())
	return nil
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// seqsOf reads a job's whole event log through SSE from the start and
// returns the seqs, checking nothing is missing or doubled.
func seqsOf(t *testing.T, a *api, id string) []int64 {
	t.Helper()
	r := a.do("GET", "/api/v1/jobs/"+id+"/events?after=0", nil)
	var seqs []int64
	for _, line := range strings.Split(string(r.Body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct{ Seq int64 }
		json.Unmarshal([]byte(data), &ev)
		seqs = append(seqs, ev.Seq)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("event log of %s is not 1..n without gaps: %v", id, seqs)
		}
	}
	return seqs
}

// logEvent is one event of a job's log as the tests check it.
type logEvent struct {
	Seq      int64
	Type     string
	Status   string
	Terminal bool
	Attempt  int
	Error    *struct{ Code string }
}

// eventsOf reads a job's whole event log through SSE.
func eventsOf(t *testing.T, a *api, id string) []logEvent {
	t.Helper()
	r := a.do("GET", "/api/v1/jobs/"+id+"/events?after=0", nil)
	var evs []logEvent
	for _, line := range strings.Split(string(r.Body), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev logEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event of %s: %v: %s", id, err, data)
			}
			evs = append(evs, ev)
		}
	}
	return evs
}

// handedBack reports whether the log shows an attempt handed back because
// its worker was lost.
func handedBack(evs []logEvent) bool {
	for _, ev := range evs {
		if ev.Status == "retrying" && ev.Error != nil && ev.Error.Code == "worker_lost" {
			return true
		}
	}
	return false
}

// TestWorkerKilledMidJob kills the embedded server with kill -9 while jobs
// run, with default flags (lease, job timeout), and restarts it: every
// in-flight job runs again within one lease of start-up and completes on
// attempt 2. With no attempt left, the job fails with worker_lost.
func TestWorkerKilledMidJob(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), addr: freeAddr(t)}
		p := s.spawn(t)
		a := s.client(s.token("kim"))
		var ids []string
		for i := 0; i < 3; i++ {
			ids = append(ids, a.submit(fmt.Sprintf("I want to read %d books this year", 10+i)).ID)
		}
		for _, id := range ids {
			a.waitFor(id, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		}
		p.kill(t)

		s.spawn(t)
		restarted := time.Now()
		for _, id := range ids {
			// Running again: attempt 2 has started.
			a.waitFor(id, 30*time.Second, func(j job) bool { return j.Attempt == 2 || j.Terminal })
			if took := time.Since(restarted); took > 15*time.Second {
				t.Errorf("job %s ran again %v after the restart, want within 15 s (one lease and a sweep)", id, took)
			}
		}
		t.Logf("every in-flight job running again %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
		for _, id := range ids {
			final := a.waitTerminal(id)
			if final.Status != "completed" || final.Attempt != 2 {
				t.Fatalf("job %s after kill -9: status %s attempt %d, want completed on attempt 2", id, final.Status, final.Attempt)
			}
			evs := eventsOf(t, a, id)
			if !handedBack(evs) {
				t.Errorf("job %s: no retrying event with worker_lost in its log: %+v", id, evs)
			}
			if n := len(seqsOf(t, a, id)); int64(n) != final.Seq {
				t.Errorf("event log has %d events, job seq is %d", n, final.Seq)
			}
		}
	})
}

func TestWorkerKilledOnLastAttempt(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), addr: freeAddr(t)}
		p := s.spawn(t, "--max-attempts", "1", "--node-lease", "2s")
		a := s.client(s.token("kit"))
		j := a.submit("I want to learn to juggle five balls")
		a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		p.kill(t)
		s.spawn(t, "--max-attempts", "1", "--node-lease", "2s")
		final := a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Terminal })
		if final.Status != "failed" || final.Error == nil || final.Error.Code != "worker_lost" {
			t.Fatalf("job whose worker died on its last attempt: %s %+v, want failed with worker_lost", final.Status, final.Error)
		}
		evs := eventsOf(t, a, j.ID)
		if last := evs[len(evs)-1]; last.Type != "failed" || !last.Terminal {
			t.Errorf("last event %+v, want a terminal failed event", last)
		}
		seqsOf(t, a, j.ID)
	})
}

// TestLongJobOnLiveNode runs a job for many leases: a live node's attempt
// is never handed back, however long it runs.
func TestLongJobOnLiveNode(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--node-lease", "1s", "--offline-chunk-delay", "20ms")
		a := s.client(s.token("lon"))
		start := time.Now()
		j := a.waitTerminal(a.submit("[[offline:slow]] I want to walk the whole coast path this summer").ID)
		took := time.Since(start)
		if took < 5*time.Second {
			t.Fatalf("the job took %v: too short to span several 1-s leases", took)
		}
		if j.Status != "completed" || j.Attempt != 1 || handedBack(eventsOf(t, a, j.ID)) {
			t.Fatalf("a %v job on a live node: %s on attempt %d (handed back: %v), want completed on attempt 1",
				took, j.Status, j.Attempt, handedBack(eventsOf(t, a, j.ID)))
		}
	})
}

func TestRestartWithJobsInFlight(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--offline-chunk-delay", "40ms", "--shutdown-timeout", "200ms")
		a := s.client(s.token("lee"))
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, a.submit("I want to swim 2 km without stopping, try "+itoa(int64(i))).ID)
		}
		a.waitFor(ids[0], 30*time.Second, func(j job) bool { return j.Status == "working" })
		s.restart()
		for _, id := range ids {
			j := a.waitTerminal(id)
			if j.Status != "completed" {
				t.Errorf("job %s after restart: %s %+v", id, j.Status, j.Error)
			}
			seqsOf(t, a, id)
		}
	})
}

// signal sends sig to the process.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exited waits up to timeout for the process to end and says how long it
// took, failing the test if it did not.
func (p *process) exited(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("the process did not exit within %v:\n%s", timeout, tail(p.logs.String(), 2000))
		return 0
	}
}

// TestDrainOnSIGTERM: SIGTERM during a 3-s job with a 10-s grace lets the
// job complete on attempt 1, uninterrupted, while the API keeps answering;
// a second signal stops the process at once.
func TestDrainOnSIGTERM(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), addr: freeAddr(t)}
		p := s.spawn(t, "--shutdown-timeout", "10s") // the default pace: a job of about 3.5 s
		a := s.client(s.token("dee"))
		j := a.submit("I want to run a half marathon by June")
		a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		p.signal(t, syscall.SIGTERM)
		// While it drains, /readyz sends traffic elsewhere, the job goes on
		// and clients still see it move.
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			r := a.do("GET", "/readyz", nil)
			if r.Status == 503 && strings.Contains(string(r.Body), "draining") {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("/readyz while draining: %d %s, want 503 naming the draining check", r.Status, r.Body)
			}
		}
		seen := a.waitFor(j.ID, 20*time.Second, func(j job) bool { return j.Terminal })
		took := p.exited(t, 20*time.Second)
		if seen.Status != "completed" || seen.Attempt != 1 {
			t.Fatalf("job drained on SIGTERM: %s on attempt %d, want completed on attempt 1", seen.Status, seen.Attempt)
		}
		if logs := p.logs.String(); !strings.Contains(logs, "draining: 1 jobs running, up to 10s") || !strings.Contains(logs, "drained") {
			t.Errorf("the log does not say what the drain does:\n%s", tail(logs, 2000))
		}
		t.Logf("exited %v after the job completed", took)

		// A second signal does not wait for a long job.
		p = s.spawn(t, "--shutdown-timeout", "30s")
		for _, ev := range eventsOf(t, a, j.ID) {
			if ev.Status == "retrying" {
				t.Fatalf("the job was interrupted during the drain: %+v", ev)
			}
		}
		long := a.submit("[[offline:slow]] I want to write a novel this winter")
		a.waitFor(long.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		p.signal(t, syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		p.signal(t, syscall.SIGTERM)
		if took := p.exited(t, 5*time.Second); took > 2*time.Second {
			t.Errorf("a second SIGTERM took %v to stop the process", took)
		}
	})
}
