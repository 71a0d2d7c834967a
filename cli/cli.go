// Package cli is the aijobs command line: serve, migrate, token create, list
// and revoke, and the client commands that talk to a server through the HTTP
// API. main is a thin wrapper around Main so every command can be tested.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"golang.org/x/term"
)

// Env is how commands read the environment; tests pass their own.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether Stdout is a terminal (progress bars).
	IsTerminal bool
	// Columns returns the width of the terminal on Stdout, 0 when unknown
	// ($COLUMNS, then 80, are used). It is called for every redraw.
	Columns func() int
	// Terminal opens the controlling terminal, where serve shows the demo
	// token (never in the log); nil, or an error, means there is none.
	Terminal func() (io.WriteCloser, error)
}

type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":        {"run the API and workers", runServe},
		"migrate":      {"bring the database schema up to date", runMigrate},
		"backup":       {"copy the SQLite database while the service runs (--to FILE)", runBackup},
		"token create": {"create a user if needed and print a new API token (--name, --expires 90d, --admin)", runTokenCreate},
		"token list":   {"list API tokens: id, user, name, created, last used, expires, admin (never the token)", runTokenList},
		"token revoke": {"revoke an API token by its id; it stops working within a second", runTokenRevoke},
		"submit":       {"submit an AI request (--wait to follow it)", runSubmit},
		"status":       {"print a job's snapshot", runStatus},
		"watch":        {"follow a job live until it ends", runWatch},
		"cancel":       {"cancel a job", runCancel},
		"version":      {"print the version of aijobs", runVersion},
		"help":         {"print this help", nil}, // Main prints the usage
	}
}

// errUsage is returned for bad command lines; Main prints usage for it.
var errUsage = errors.New("usage")

// exitError carries a specific exit code (submit --wait on a failed job).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Main runs one command line and returns the process exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	cmds := commands()
	name, rest := "", args
	if len(args) > 0 {
		name, rest = args[0], args[1:]
		if _, ok := cmds[name]; !ok && len(args) > 1 {
			name, rest = args[0]+" "+args[1], args[2:]
		}
	}
	switch name {
	case "help", "-h", "-help", "--help":
		usage(env.Stdout, cmds)
		return 0
	case "":
		usage(env.Stderr, cmds)
		return 2
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "aijobs: unknown command %q\n\n", unknown(cmds, args))
		usage(env.Stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, env, rest)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(env.Stderr, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintln(env.Stderr, "aijobs:", err)
		return 1
	}
}

// unknown names the command of args that does not exist: "token bogus" when
// "token" starts commands of two words, else the first word.
func unknown(cmds map[string]command, args []string) string {
	if len(args) > 1 {
		for n := range cmds {
			if strings.HasPrefix(n, args[0]+" ") {
				return args[0] + " " + args[1]
			}
		}
	}
	return args[0]
}

// usage prints the commands and how flags are set.
func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: aijobs <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set as AIJOBS_<FLAG> (e.g. --data-dir as AIJOBS_DATA_DIR).")
}

// parse parses args into fs, taking any flag not given on the command line
// from its AIJOBS_* environment variable. -h prints the flags on stdout;
// a mistake is one line on stderr (exit code 2).
func parse(fs *flag.FlagSet, env *Env, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return err
		}
		return &exitError{code: 2, msg: fmt.Sprintf("aijobs %s: %v (aijobs %s -h lists the flags)", fs.Name(), err, fs.Name())}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := env.Getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = &exitError{code: 2, msg: fmt.Sprintf("aijobs %s: invalid value %q for --%s (%s): %v", fs.Name(), v, f.Name, envName(f.Name), e)}
			}
		}
	})
	return err
}

// OSEnv is the Env of a real process.
func OSEnv(isTerminal bool) *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal, Terminal: openTerminal, Columns: stdoutColumns}
}

// stdoutColumns is the width of the terminal on stdout, 0 if it is none.
func stdoutColumns() int {
	w, _, err := term.GetSize(int(os.Stdout.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// runVersion is `aijobs version`.
func runVersion(_ context.Context, env *Env, args []string) error {
	fs := newFlagSet("version", "")
	if _, err := parseArgs(fs, env, args); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	_, err := fmt.Fprintln(env.Stdout, "aijobs", version(info, ok))
	return err
}

// version is the module's version when aijobs was built from a tagged
// module (go install …@v1.2.3), else the VCS revision and time of the
// checkout it was built in, else "devel".
func version(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := "devel " + rev + dirty
	if at != "" {
		out += " (" + at + ")"
	}
	return out
}
