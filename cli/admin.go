package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/aijobs/aijobs/auth"
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

// ttlFlag is a token lifetime flag: 90d, 12h, 30m (empty: never expires).
type ttlFlag struct{ d time.Duration }

func (f *ttlFlag) String() string {
	if f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f *ttlFlag) Set(v string) error {
	d, err := auth.ParseTTL(v)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

func runTokenCreate(ctx context.Context, env *Env, args []string) error {
	var (
		db      dbFlags
		user    string
		name    string
		expires ttlFlag
		admin   bool
		quota   int64
	)
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	db.register(fs)
	fs.StringVar(&user, "user", "", "user name (created if it does not exist)")
	fs.StringVar(&name, "name", "", "a label for the token, shown by token list")
	fs.Var(&expires, "expires", "lifetime: days (90d) or a duration (12h, 30m); default: until revoked")
	fs.BoolVar(&admin, "admin", false, "give the token the admin role (the admin API)")
	fs.Int64Var(&quota, "daily-quota", -1, "daily request quota on the server's key (default: 100 for a new user, unchanged for an existing one)")
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if user == "" || fs.NArg() > 0 {
		fmt.Fprintln(env.Stderr, "usage: aijobs token create --user U [--name N] [--expires 90d] [--admin] [--daily-quota N]")
		return errUsage
	}
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a := auth.New(st, auth.Config{})
	u, _, err := a.EnsureUser(ctx, user, quota)
	if err != nil {
		return fmt.Errorf("create user %s: %w", user, err)
	}
	secret, t, err := a.CreateToken(ctx, u.ID, auth.NewToken{Name: name, TTL: expires.d, Admin: admin})
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, secret)
	note := "never expires"
	if t.ExpiresAt != nil {
		note = "expires " + t.ExpiresAt.Local().Format(time.RFC3339)
	}
	role := ""
	if t.Admin {
		role = ", admin"
	}
	fmt.Fprintf(env.Stderr, "token %s for user %s (%s%s); it is shown only this once, revoke it with: aijobs token revoke %s\n", t.ID, u.Name, note, role, t.ID)
	return nil
}
