package cli

import "context"

// Temporary until client_cmds.go lands.
func runSubmit(context.Context, *Env, []string) error { return nil }
func runStatus(context.Context, *Env, []string) error { return nil }
func runWatch(context.Context, *Env, []string) error  { return nil }
func runCancel(context.Context, *Env, []string) error { return nil }
