package e2e

import (
	"encoding/json"
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

func TestWorkerKilledMidJob(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := &server{t: t, dataDir: t.TempDir(), dbURL: newDatabaseURL(t, db), addr: freeAddr(t)}
		args := []string{"--offline-chunk-delay", "60ms", "--job-timeout", "3s", "--rescue-after", "4s"}
		p := s.spawn(t, args...)
		a := s.client(s.token("kim"))
		j := a.submit("I want to read twelve books this year")
		a.waitFor(j.ID, 30*time.Second, func(j job) bool { return j.Status == "working" && j.Progress > 5 })
		p.kill(t)

		// A new process takes over: River rescues the job (attempt 2), fencing
		// keeps attempt 1 out, and the job completes.
		s.spawn(t, args...)
		final := a.waitFor(j.ID, 90*time.Second, func(j job) bool { return j.Terminal })
		if final.Status != "completed" || final.Attempt != 2 {
			t.Fatalf("rescued job: status %s attempt %d, want completed on attempt 2", final.Status, final.Attempt)
		}
		if n := len(seqsOf(t, a, j.ID)); int64(n) != final.Seq {
			t.Errorf("event log has %d events, job seq is %d", n, final.Seq)
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
