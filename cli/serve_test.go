package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/logs"
)

// nopCloser is a terminal that is a buffer.
type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// TestDemoTokenNotInTheLog: the demo token is shown on the terminal when
// there is one and saved in the data directory (0600), and the log — text
// or JSON — names the file, never the token.
func TestDemoTokenNotInTheLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		terminal bool // a terminal that opens
		failing  bool // a terminal that fails to open
	}{
		{"terminal", true, false},
		{"no terminal", false, false},
		{"terminal fails to open", false, true},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, format := range []string{"text", "json"} {
			for _, tt := range tests {
				t.Run(db+"/"+format+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					st := jobstest.Store(t, db, nil)
					var logs, tty bytes.Buffer
					env := &Env{Stdout: io.Discard, Stderr: &logs, Getenv: func(string) string { return "" }}
					switch {
					case tt.terminal:
						env.Terminal = func() (io.WriteCloser, error) { return nopCloser{&tty}, nil }
					case tt.failing:
						env.Terminal = func() (io.WriteCloser, error) { return nil, errors.New("no such device") }
					}
					dir := t.TempDir()
					if err := ensureDemoUser(context.Background(), env, mustLogger(t, env, format), st, dir, 10); err != nil {
						t.Fatal(err)
					}
					path := filepath.Join(dir, demoTokenFile)
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					tok := strings.TrimSpace(string(b))
					if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
						t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
					}
					if tok == "" || strings.Contains(logs.String(), tok) {
						t.Errorf("the log holds the token:\n%s", logs.String())
					}
					if !strings.Contains(logs.String(), dir) {
						t.Errorf("the log does not say where the token file is:\n%s", logs.String())
					}
					if got := strings.Contains(tty.String(), tok); got != tt.terminal {
						t.Errorf("token on the terminal: %v, want %v (terminal: %q)", got, tt.terminal, tty.String())
					}
				})
			}
		}
	}
}

func mustLogger(t *testing.T, env *Env, format string) *slog.Logger {
	t.Helper()
	log, err := logs.New(env.Stderr, format, "info")
	if err != nil {
		t.Fatal(err)
	}
	return log
}
