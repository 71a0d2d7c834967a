package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/aijobs/aijobs/secret"
)

func runMigrate(ctx context.Context, env *Env, args []string) error {
	var db dbFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db.register(fs)
	if err := parse(fs, env, args); err != nil {
		return err
	}
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(env.Stdout, "schema is up to date")
	return nil
}

func runTokenCreate(ctx context.Context, env *Env, args []string) error {
	var (
		db    dbFlags
		user  string
		quota int64
	)
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	db.register(fs)
	fs.StringVar(&user, "user", "", "user name (created if it does not exist)")
	fs.Int64Var(&quota, "daily-quota", -1, "daily request quota on the server's key (default: 100 for a new user, unchanged for an existing one)")
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if user == "" {
		fmt.Fprintln(env.Stderr, "token create: --user is required")
		return errUsage
	}
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	u, _, err := st.EnsureUser(ctx, user, quota)
	if err != nil {
		return err
	}
	tok := secret.NewAPIToken()
	if err := st.AddToken(ctx, u.ID, secret.HashToken(tok)); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, tok)
	return nil
}
