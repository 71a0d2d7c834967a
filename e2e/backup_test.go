package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/cli"
)

// TestBackupWhileRunning: `aijobs backup` copies the SQLite database while
// the server runs jobs and takes submits; a server started on the copy
// (restored as the docs say) has every job the backup saw — finished ones
// as they were, the one running at the time finished by the restored
// server — and the same users and tokens.
func TestBackupWhileRunning(t *testing.T) {
	t.Parallel()
	s := startServer(t, sqlite, "--offline-chunk-delay", "10ms", "--node-lease", "2s")
	a := s.client(s.token("pat"))
	done := a.submit("I want to run a half marathon by June")
	done = a.waitTerminal(done.ID)
	running := a.submit("[[offline:slow]] Help me prioritize: taxes, gym, call mum")
	a.waitFor(running.ID, 20*time.Second, func(j job) bool { return j.Status == "working" })

	copyPath := filepath.Join(t.TempDir(), "aijobs.db")
	// Writes go on during the backup: a submitter that runs until the backup
	// ends (and has made one submit before it starts). It reports, not
	// fails: t.Fatal belongs to the test's goroutine.
	stop, first := make(chan struct{}), make(chan struct{})
	submitted := make(chan []int)
	go func() {
		var statuses []int
		for {
			select {
			case <-stop:
				submitted <- statuses
				return
			default:
				statuses = append(statuses, a.do("POST", "/api/v1/ai/proxy", map[string]any{"input": "Plan my week"}).Status)
				if len(statuses) == 1 {
					close(first)
				}
				// Under the submit rate limit (10/s, burst 20), however long
				// the backup takes.
				time.Sleep(150 * time.Millisecond)
			}
		}
	}()
	<-first
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code := cli.Main(context.Background(), env, append([]string{"backup", "--to", copyPath}, s.dbArgs()...))
	close(stop)
	statuses := <-submitted
	if code != 0 || !strings.Contains(out.String(), "backed up") {
		t.Fatalf("backup: exit code %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	for _, st := range statuses {
		if st != http.StatusAccepted {
			t.Errorf("a submit while the backup ran got %d, want 202 (statuses %v)", st, statuses)
			break
		}
	}
	if code := cli.Main(context.Background(), env, append([]string{"backup", "--to", copyPath}, s.dbArgs()...)); code == 0 {
		t.Error("a second backup overwrote the first")
	}
	s.stop()

	// Restore: a data directory with the copy as aijobs.db and the same
	// secret key.
	dir := t.TempDir()
	key, err := os.ReadFile(filepath.Join(s.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyPath, filepath.Join(dir, "aijobs.db")); err != nil {
		t.Fatal(err)
	}
	r := &server{t: t, dataDir: dir, logs: &syncBuffer{}, args: []string{"--offline-chunk-delay", "5ms", "--node-lease", "1s"}}
	r.start()
	t.Cleanup(r.stop)
	ra := r.client(a.token)
	if got := ra.get(done.ID); got.Status != "completed" || got.Seq != done.Seq {
		t.Errorf("restored finished job: %s seq %d, want it as it was", got.Status, got.Seq)
	}
	if got := ra.waitTerminal(running.ID); got.Status != "completed" {
		t.Errorf("the job running during the backup ended %s on the restored server, want completed", got.Status)
	}
}
