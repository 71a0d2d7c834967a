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
	"sort"
	"strings"
)

// Env is how commands read the environment; tests pass their own.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether Stdout is a terminal (progress bars).
	IsTerminal bool
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
		"token create": {"create a user if needed and print a new API token (--name, --expires 90d, --admin)", runTokenCreate},
		"token list":   {"list API tokens: id, user, name, created, last used, expires, admin (never the token)", runTokenList},
		"token revoke": {"revoke an API token by its id; it stops working within a second", runTokenRevoke},
		"submit":       {"submit an AI request (--wait to follow it)", runSubmit},
		"status":       {"print a job's snapshot", runStatus},
		"watch":        {"follow a job live until it ends", runWatch},
		"cancel":       {"cancel a job", runCancel},
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
	cmd, ok := cmds[name]
	if !ok {
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
// from its AIJOBS_* environment variable.
func parse(fs *flag.FlagSet, env *Env, args []string) error {
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := "AIJOBS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env.Getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// OSEnv is the Env of a real process.
func OSEnv(isTerminal bool) *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal, Terminal: openTerminal}
}
