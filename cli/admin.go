package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/store"
)

func runMigrate(ctx context.Context, env *Env, args []string) error {
	var db dbFlags
	fs := newFlagSet("migrate", "[flags]")
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

// runBackup is `aijobs backup --to FILE`: a consistent copy of the SQLite
// database, taken while serve runs.
func runBackup(ctx context.Context, env *Env, args []string) error {
	var (
		db dbFlags
		to string
	)
	fs := newFlagSet("backup", "--to FILE [flags]")
	db.register(fs)
	fs.StringVar(&to, "to", "", "the file to write the copy to (must not exist)")
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if to == "" || fs.NArg() > 0 {
		return usageErr(fs, env, "--to FILE is missing")
	}
	st, err := store.Open(ctx, db.url())
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, to); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s\n", db.url(), to)
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
		weight  int64
	)
	fs := newFlagSet("token create", "--user U [--name N] [--expires 90d] [--admin] [--daily-quota N] [--weight N]")
	db.register(fs)
	fs.StringVar(&user, "user", "", "user name (created if it does not exist)")
	fs.StringVar(&name, "name", "", "a label for the token, shown by token list")
	fs.Var(&expires, "expires", "lifetime: days (90d) or a duration (12h, 30m); default: until revoked")
	fs.BoolVar(&admin, "admin", false, "give the token the admin role (the admin API)")
	fs.Int64Var(&quota, "daily-quota", -1, fmt.Sprintf("daily request quota on the server's key (-1: %d for a new user, unchanged for an existing one)", auth.DefaultDailyQuota))
	fs.Int64Var(&weight, "weight", 0, fmt.Sprintf("the user's fair share of the workers under contention, 1 to %d (0: 1 for a new user, unchanged for an existing one)", auth.MaxWeight))
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if user == "" || fs.NArg() > 0 {
		fmt.Fprintln(env.Stderr, "usage: aijobs token create --user U [--name N] [--expires 90d] [--admin] [--daily-quota N] [--weight N]")
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
	if weight != 0 {
		if _, err := a.SetWeight(ctx, u.ID, weight); err != nil {
			return fmt.Errorf("set the weight of %s: %w", user, err)
		}
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

func runTokenList(ctx context.Context, env *Env, args []string) error {
	var (
		db   dbFlags
		user string
	)
	fs := newFlagSet("token list", "[--user U]")
	db.register(fs)
	fs.StringVar(&user, "user", "", "only this user's tokens (default: every user's)")
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(env.Stderr, "usage: aijobs token list [--user U]")
		return errUsage
	}
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a := auth.New(st, auth.Config{})
	userID := ""
	if user != "" {
		u, err := a.UserByName(ctx, user)
		if errors.Is(err, auth.ErrUserNotFound) {
			return fmt.Errorf("no user called %q", user)
		}
		if err != nil {
			return err
		}
		userID = u.ID
	}
	ts, err := a.Tokens(ctx, userID)
	if err != nil {
		return err
	}
	now := time.Now()
	if !env.IsTerminal {
		// One JSON object per line, for scripts.
		enc := json.NewEncoder(env.Stdout)
		for _, t := range ts {
			if err := enc.Encode(struct {
				auth.Token
				Status string `json:"status"`
			}{t, t.Status(now)}); err != nil {
				return fmt.Errorf("write token list: %w", err)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tCREATED\tLAST USED\tEXPIRES\tADMIN\tSTATUS")
	for _, t := range ts {
		admin := ""
		if t.Admin {
			admin = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserName, orDash(t.Name), when(&t.CreatedAt, "-"),
			when(t.LastUsedAt, "never"), when(t.ExpiresAt, "never"), admin, t.Status(now))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when formats a time for the token table, or none when it is nil.
func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}

func runTokenRevoke(ctx context.Context, env *Env, args []string) error {
	var db dbFlags
	fs := newFlagSet("token revoke", "[flags] ID")
	db.register(fs)
	err := parse(fs, env, args)
	if err == nil && fs.NArg() > 1 {
		// Flags after the id: token revoke tok_… --database-url …
		rest := fs.Args()
		err = parse(fs, env, rest[1:])
		if err == nil && fs.NArg() == 0 {
			fs.Parse(rest[:1])
		}
	}
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "usage: aijobs token revoke [flags] ID   (the id from token list: tok_…)")
		return errUsage
	}
	id := fs.Arg(0)
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := auth.New(st, auth.Config{}).Revoke(ctx, id)
	if errors.Is(err, auth.ErrTokenNotFound) {
		return fmt.Errorf("no token %q (see aijobs token list)", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "revoked %s (user %s) at %s; running servers refuse it within a second\n", t.ID, t.UserName, t.RevokedAt.Local().Format(time.RFC3339))
	return nil
}
