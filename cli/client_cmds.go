package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aijobs/aijobs/client"
	"github.com/aijobs/aijobs/jobtype"
)

// demoTokenFile is where `aijobs serve` saves the demo user's API token,
// inside its data directory.
const demoTokenFile = "demo-token"

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server  string
	token   string
	dataDir string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{}
	fs.StringVar(&cf.server, "server", "http://127.0.0.1:8080", "the aijobs server's `URL`")
	fs.StringVar(&cf.token, "token", "", "API `token` (default: the demo token that `aijobs serve` saved in <data-dir>/"+demoTokenFile+")")
	fs.StringVar(&cf.dataDir, "data-dir", "./aijobs-data", "the server's data `directory`, where the demo token is")
	return cf
}

// newClient returns a client of the server, with the token from --token or
// else from the demo token file.
func (cf *clientFlags) newClient() (*client.Client, error) {
	token := cf.token
	if token == "" {
		var err error
		if token, err = demoToken(cf.dataDir); err != nil {
			return nil, err
		}
	}
	return client.New(cf.server, token, &client.Options{UserAgent: "aijobs-cli"}), nil
}

// demoToken reads the demo token that `aijobs serve` saved in dataDir.
func demoToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, demoTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no API token: pass --token or set AIJOBS_TOKEN (or run `aijobs serve`, which saves a demo token in %s)", path)
	}
	if err != nil {
		return "", fmt.Errorf("read the demo token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("no API token: %s is empty; pass --token or set AIJOBS_TOKEN", path)
	}
	return token, nil
}

// describeErr adds what a person can do about a failed call: the server's
// message and code are already in a *client.Error; a network failure gets
// a hint about the server's address.
func (cf *clientFlags) describeErr(err error) error {
	var ne net.Error
	var ae *client.Error
	if !errors.As(err, &ae) && errors.As(err, &ne) {
		return fmt.Errorf("%w\n(is the server running at %s? set it with --server or AIJOBS_SERVER)", err, cf.server)
	}
	return err
}

// parseArgs parses flags given before, between or after the positional
// arguments ("submit "text" --wait" as well as "submit --wait "text""), and
// returns the positional ones. "--" ends the flags.
func parseArgs(fs *flag.FlagSet, env *Env, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := parse(fs, env, flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// newFlagSet returns a flag set whose usage starts with the command line.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: aijobs %s %s\n\nflags (each also as AIJOBS_<FLAG>):\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// usageErr prints the command's usage and returns errUsage (exit code 2).
func usageErr(fs *flag.FlagSet, env *Env, msg string) error {
	fs.SetOutput(env.Stderr)
	fmt.Fprintf(env.Stderr, "aijobs %s: %s\n", fs.Name(), msg)
	fs.Usage()
	return errUsage
}

// runSubmit is `aijobs submit "text" [--wait] [--request-id ID] [--user-key KEY]`.
func runSubmit(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("submit", `"TEXT" [--wait] [--request-id ID] [--user-key KEY] [--webhook-url URL [--webhook-events E,…]]`)
	cf := addClientFlags(fs)
	wait := fs.Bool("wait", false, "follow the job until it ends, then print its result")
	requestID := fs.String("request-id", "", "idempotency `id`: submitting again with the same id returns the same job")
	userKey := fs.String("user-key", "", "your own provider API `key` for this job (better as AIJOBS_USER_KEY, out of the process list)")
	webhookURL := fs.String("webhook-url", "", "deliver the job's events, signed, to this `URL` (needs your webhook secret: POST /api/v1/webhooks/secret)")
	webhookEvents := fs.String("webhook-events", "", "comma-separated `events` to deliver: completed, failed, cancelled, status, progress (default: the terminal ones)")
	pos, err := parseArgs(fs, env, args)
	if err != nil {
		return err
	}
	input := strings.Join(pos, " ")
	if strings.TrimSpace(input) == "" {
		return usageErr(fs, env, "the text to submit is missing")
	}
	c, err := cf.newClient()
	if err != nil {
		return err
	}
	req := client.SubmitRequest{Input: input, RequestID: *requestID, UserProvidedKey: *userKey, WebhookURL: *webhookURL}
	if *webhookEvents != "" {
		req.WebhookEvents = strings.Split(*webhookEvents, ",")
	}
	sub, err := c.Submit(ctx, req)
	if err != nil {
		return cf.describeErr(err)
	}
	if !sub.Created {
		fmt.Fprintf(env.Stderr, "aijobs: request id %q was used before: this is the job it created\n", *requestID)
	}
	if !*wait {
		fmt.Fprintln(env.Stdout, sub.ID)
		return nil
	}
	fmt.Fprintf(env.Stderr, "job %s %s\n", sub.ID, sub.Status)
	return follow(ctx, env, cf, c, sub.ID)
}

// runStatus is `aijobs status JOB_ID`.
func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("status", "JOB_ID")
	cf := addClientFlags(fs)
	id, c, err := jobCommand(fs, env, cf, args)
	if err != nil {
		return err
	}
	job, err := c.Get(ctx, id)
	if err != nil {
		return cf.describeErr(err)
	}
	return printJSON(env.Stdout, job)
}

// runWatch is `aijobs watch JOB_ID`: like submit --wait, for a job that
// exists.
func runWatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("watch", "JOB_ID")
	cf := addClientFlags(fs)
	id, c, err := jobCommand(fs, env, cf, args)
	if err != nil {
		return err
	}
	return follow(ctx, env, cf, c, id)
}

// runCancel is `aijobs cancel JOB_ID`.
func runCancel(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("cancel", "JOB_ID")
	cf := addClientFlags(fs)
	id, c, err := jobCommand(fs, env, cf, args)
	if err != nil {
		return err
	}
	job, err := c.Cancel(ctx, id)
	if errors.Is(err, client.ErrTerminal) {
		msg := fmt.Sprintf("aijobs: job %s has already finished, there is nothing to cancel", id)
		if cur, gerr := c.Get(ctx, id); gerr == nil {
			msg = fmt.Sprintf("aijobs: job %s has already finished (%s), there is nothing to cancel", id, cur.Status)
		}
		return &exitError{code: 1, msg: msg}
	}
	if err != nil {
		return cf.describeErr(err)
	}
	return printJSON(env.Stdout, job)
}

// jobCommand parses the command line of a command that takes one job id.
func jobCommand(fs *flag.FlagSet, env *Env, cf *clientFlags, args []string) (string, *client.Client, error) {
	pos, err := parseArgs(fs, env, args)
	if err != nil {
		return "", nil, err
	}
	switch {
	case len(pos) == 0 || pos[0] == "":
		return "", nil, usageErr(fs, env, "the job id is missing")
	case len(pos) > 1:
		return "", nil, usageErr(fs, env, "one job id at a time: "+strings.Join(pos, " "))
	}
	c, err := cf.newClient()
	if err != nil {
		return "", nil, err
	}
	return pos[0], c, nil
}

// follow shows the job live until it ends, then prints its result: a
// progress bar with the streamed output on a terminal, plain progress lines
// on stderr otherwise (stdout stays the result alone). The exit code says
// how the job ended: 0 completed, 1 failed, 3 cancelled.
func follow(ctx context.Context, env *Env, cf *clientFlags, c *client.Client, id string) error {
	var view progressView
	if env.IsTerminal {
		view = newBarView(env.Stdout, terminalWidth(env))
	} else {
		view = newLineView(env.Stderr)
	}
	job, err := c.Watch(ctx, id, 0, view.Event)
	view.Done()
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: 130, msg: fmt.Sprintf("aijobs: stopped following job %s; it keeps running (aijobs watch %s)", id, id)}
		}
		return cf.describeErr(err)
	}
	switch job.Status {
	case jobtype.StatusCompleted:
		return printRawJSON(env.Stdout, job.Result)
	case jobtype.StatusFailed:
		return &exitError{code: 1, msg: fmt.Sprintf("aijobs: job %s failed: %s", id, reason(job.Error, job.Result))}
	case jobtype.StatusCancelled:
		return &exitError{code: 3, msg: fmt.Sprintf("aijobs: job %s was cancelled: %s", id, reason(job.Error, nil))}
	}
	return &exitError{code: 1, msg: fmt.Sprintf("aijobs: job %s ended in status %q", id, job.Status)}
}

// reason renders a job's error as "message (code)".
func reason(e *jobtype.Error, result json.RawMessage) string {
	if e != nil {
		return fmt.Sprintf("%s (%s)", e.Message, e.Code)
	}
	var r struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(result, &r) == nil && r.Error != "" {
		return r.Error
	}
	return "no reason given"
}

// terminalWidth returns what reads the terminal's width: the terminal's
// own size (env.Columns), else $COLUMNS, else 80. It is called for every
// redraw, so a resized terminal gets bars that fit.
func terminalWidth(env *Env) func() int {
	return func() int {
		if env.Columns != nil {
			if n := env.Columns(); n > 0 {
				return n
			}
		}
		if n, err := strconv.Atoi(env.Getenv("COLUMNS")); err == nil && n > 0 {
			return n
		}
		return 80
	}
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func printRawJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
