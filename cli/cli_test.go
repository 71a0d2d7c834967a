package cli

import (
	"bytes"
	"context"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHelpAndUnknownCommands: help goes to stdout with exit code 0, a
// mistake to stderr with exit code 2 and says what was wrong.
func TestHelpAndUnknownCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string // "" means stdout must be empty
		wantStderr string // "" means stderr must be empty
	}{
		{[]string{"--help"}, 0, "usage: aijobs <command>", ""},
		{[]string{"-h"}, 0, "usage: aijobs <command>", ""},
		{[]string{"help"}, 0, "usage: aijobs <command>", ""},
		{[]string{}, 2, "", "usage: aijobs <command>"},
		{[]string{"x"}, 2, "", "aijobs: unknown command \"x\"\n\nusage: aijobs <command>"},
		{[]string{"x", "y"}, 2, "", "aijobs: unknown command \"x\"\n"},
		{[]string{"token", "bogus"}, 2, "", "aijobs: unknown command \"token bogus\"\n"},
		{[]string{"version"}, 0, "aijobs ", ""},
		{[]string{"version", "extra"}, 0, "aijobs ", ""},
		{[]string{"version", "--bogus"}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, false, tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", got.code, tt.wantCode)
			}
			for _, c := range []struct{ name, got, want string }{{"stdout", got.stdout, tt.wantStdout}, {"stderr", got.stderr, tt.wantStderr}} {
				if (c.want == "") != (c.got == "") || !strings.Contains(c.got, c.want) {
					t.Errorf("%s %q, want it to hold %q", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "devel"},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3"},
		{"checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0fa5839abcdef0123456789"}, {Key: "vcs.time", Value: "2026-11-28T19:00:05Z"},
		}}, true, "devel 0fa5839abcde (2026-11-28T19:00:05Z)"},
		{"modified checkout", &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0fa5839"}, {Key: "vcs.modified", Value: "true"},
		}}, true, "devel 0fa5839-dirty"},
		{"nothing known", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := version(tt.info, tt.ok); got != tt.want {
				t.Errorf("version %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTerminalWidth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		columns func() int
		env     string
		want    int
	}{
		{"from the terminal", func() int { return 132 }, "40", 132},
		{"no terminal: $COLUMNS", func() int { return 0 }, "40", 40},
		{"no terminal size reader: $COLUMNS", nil, "50", 50},
		{"nothing known", func() int { return 0 }, "", 80},
		{"bad $COLUMNS", nil, "wide", 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := &Env{Columns: tt.columns, Getenv: func(k string) string {
				if k == "COLUMNS" {
					return tt.env
				}
				return ""
			}}
			if got := terminalWidth(env)(); got != tt.want {
				t.Errorf("width %d, want %d", got, tt.want)
			}
		})
	}
}

func TestListeningLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr net.Addr
		role string
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "all", "listening on http://127.0.0.1:8080 (dashboard at http://127.0.0.1:8080/)"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "api", "listening on http://0.0.0.0:8080 (dashboard at http://localhost:8080/)"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, "all", "listening on http://[::]:80 (dashboard at http://localhost:80/)"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9090}, "worker", "listening on http://10.0.0.2:9090 (only /healthz, /readyz and /metrics)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := listeningLine(tt.addr, tt.role); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// syncBuffer is a buffer that serve's goroutines may write while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeBusyPort: a port in use fails serve at once, in one line that
// names the address, before anything starts.
func TestServeBusyPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var stderr syncBuffer
	env := &Env{Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	code := Main(ctx, env, []string{"serve", "--addr", addr, "--data-dir", t.TempDir()})
	if code == 0 {
		t.Errorf("exit code 0 on a busy port")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s to fail", d)
	}
	out := stderr.String()
	if !strings.Contains(out, addr) || strings.Count(out, "\n") != 1 {
		t.Errorf("output %q: want one line naming %s", out, addr)
	}
	for _, s := range []string{"River client started", "aijobs started", "listening on"} {
		if strings.Contains(out, s) {
			t.Errorf("output %q holds %q", out, s)
		}
	}
}

// TestServeSaysWhereItListens: once it listens, serve prints the address
// and the dashboard's, after the "aijobs started" log line, and answers on
// that address.
func TestServeSaysWhereItListens(t *testing.T) {
	t.Parallel()
	var stderr syncBuffer
	env := &Env{Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, env, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--workers", "1"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	var line string
	for line == "" && time.Now().Before(deadline) {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(l, "listening on http://") {
				line = l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	rest, ok := strings.CutPrefix(line, "listening on http://")
	if !ok {
		t.Fatalf("no listening line in %q", stderr.String())
	}
	addr, _, _ := strings.Cut(rest, " ")
	if want := "listening on http://" + addr + " (dashboard at http://" + addr + "/)"; line != want {
		t.Errorf("line %q, want %q", line, want)
	}
	if i, j := strings.Index(stderr.String(), "aijobs started"), strings.Index(stderr.String(), line); i < 0 || i > j {
		t.Errorf("the \"aijobs started\" log line is not before the listening line:\n%s", stderr.String())
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
	} else {
		c.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after the signal:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
