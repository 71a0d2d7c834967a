// Command aijobs runs AI requests as background jobs and follows them. See
// the README, or run `aijobs help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/aijobs/aijobs/cli"
)

func main() {
	// The first SIGINT or SIGTERM ends ctx: serve drains. Then the default
	// handling is back, so a second signal stops the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := cli.Main(ctx, cli.OSEnv(term.IsTerminal(int(os.Stdout.Fd()))), os.Args[1:])
	stop()
	os.Exit(code)
}
