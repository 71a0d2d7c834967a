package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// bundle is two auth Services (two nodes) on one real store.
type bundle struct {
	st     *store.Store
	a, b   *auth.Service
	user   jobs.User
	clock  *clock
	keys   *secret.Keys
	config auth.Config
}

func testKeys(t *testing.T) *secret.Keys {
	t.Helper()
	k, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// setup makes the bundle on db; cfg's zero fields take the test's values.
func setup(t *testing.T, db string, cfg auth.Config) *bundle {
	t.Helper()
	st := jobstest.Store(t, db, nil)
	c := &clock{now: time.Now()}
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	if cfg.Keys == nil {
		cfg.Keys = testKeys(t)
	}
	a, b := auth.New(st, cfg), auth.New(st, cfg)
	u, _, err := a.EnsureUser(context.Background(), "ada", 10)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{st: st, a: a, b: b, user: u, clock: c, keys: cfg.Keys, config: cfg}
}

// run runs s's background loop until the test ends.
func run(t *testing.T, s *auth.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func forEachDB(t *testing.T, f func(t *testing.T, db string)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			f(t, db)
		})
	}
}

func TestParseTTL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"2s", 2 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{" 7d ", 7 * 24 * time.Hour, true},
		{"36500d", 36500 * 24 * time.Hour, true},
		{"36501d", 0, false},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"0s", 0, false},
		{"-5m", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"forever", 0, false},
		{"", 0, false},
		{"999999999999h", 0, false},
	} {
		got, err := auth.ParseTTL(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		b := setup(t, db, auth.Config{Recheck: 50 * time.Millisecond})
		ctx := context.Background()
		secret, tok, err := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{Name: "laptop", Admin: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.a.Authenticate(ctx, secret)
		if err != nil || p.ID != b.user.ID || p.DailyQuota != 10 || !p.Admin || p.Credential != tok.ID || !p.Expires.IsZero() {
			t.Fatalf("principal %+v, %v", p, err)
		}
		// Node b has it cached too.
		if _, err := b.b.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		st, _ := b.a.StreamToken(p, "job_x")
		if acc, err := b.b.VerifyStreamToken(ctx, st); err != nil || acc.JobID != "job_x" || acc.Principal.ID != b.user.ID || acc.Principal.Admin || acc.Principal.Credential != tok.ID {
			t.Fatalf("stream access %+v, %v", acc, err)
		}

		if _, err := b.a.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		// At once on the node that revoked.
		if _, err := b.a.Authenticate(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("after revoke: %v", err)
		}
		// Within Recheck on the other.
		b.clock.add(50 * time.Millisecond)
		if _, err := b.b.Authenticate(ctx, secret); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Fatalf("other node after Recheck: %v", err)
		}
		if _, err := b.b.VerifyStreamToken(ctx, st); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Fatalf("stream token of a revoked token: %v", err)
		}
		list, err := b.a.Tokens(ctx, b.user.ID)
		if err != nil || len(list) != 1 || list[0].Status(b.clock.Now()) != "revoked" || list[0].Name != "laptop" {
			t.Fatalf("tokens %+v, %v", list, err)
		}
		if _, err := b.a.Revoke(ctx, "tok_nothing"); !errors.Is(err, auth.ErrTokenNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
	})
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", auth.Config{})
	ctx := context.Background()
	otherKeys, err := secret.New([]byte("another key of at least 32 bytes...."))
	if err != nil {
		t.Fatal(err)
	}
	apiTok, _, _ := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{})
	p, _ := b.a.Authenticate(ctx, apiTok)
	st, _ := b.a.StreamToken(p, "")
	other := auth.New(b.st, auth.Config{Keys: otherKeys})
	otherST, _ := other.StreamToken(p, "")
	for name, cred := range map[string]string{
		"empty":           "",
		"unknown":         "aj_nope",
		"stream token":    st,
		"not text":        "aj_\xff",
		"jwt, no checker": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln",
	} {
		if _, err := b.a.Authenticate(ctx, cred); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	for name, tok := range map[string]string{
		"api token":     apiTok,
		"forged":        "st_abc.def",
		"tampered":      st[:len(st)-2] + "xx",
		"other key":     otherST,
		"empty":         "",
		"old format":    b.keys.SignStream("user:"+b.user.ID, time.Now().Add(time.Hour)),
		"unknown cred":  b.keys.SignStream("s2:"+b.user.ID+"::tok_gone:0", time.Now().Add(time.Hour)),
		"wrong user":    b.keys.SignStream("s2:usr_other::"+p.Credential+":0", time.Now().Add(time.Hour)),
		"malformed":     b.keys.SignStream("s2:"+b.user.ID, time.Now().Add(time.Hour)),
		"expired st":    b.keys.SignStream("s2:"+b.user.ID+"::"+p.Credential+":0", time.Now().Add(-time.Second)),
		"no user (jwt)": b.keys.SignStream("s2:usr_gone::jwt_x:0", time.Now().Add(time.Hour)),
	} {
		if _, err := b.a.VerifyStreamToken(ctx, tok); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Errorf("stream token %s: %v, want unauthorized", name, err)
		}
	}
}

func secret2(t *testing.T) (*secret.Keys, error) {
	return secret.New([]byte("another key of at least 32 bytes...."))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestExpiry(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		b := setup(t, db, auth.Config{})
		ctx := context.Background()
		secret, tok, err := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{TTL: 30 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.a.Authenticate(ctx, secret)
		if err != nil || !p.Expires.Equal(*tok.ExpiresAt) {
			t.Fatalf("principal %+v (token expires %v), %v", p, tok.ExpiresAt, err)
		}
		st, exp := b.a.StreamToken(p, "")
		if !exp.Equal(p.Expires) {
			t.Errorf("stream token expires %v, after its credential (%v)", exp, p.Expires)
		}
		b.clock.add(31 * time.Minute)
		// Even a cached lookup stops at the expiry.
		if _, err := b.a.Authenticate(ctx, secret); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Fatalf("expired token: %v", err)
		}
		if _, err := b.a.VerifyStreamToken(ctx, st); !errors.Is(err, jobs.ErrUnauthorized) {
			t.Fatalf("stream token past its credential: %v", err)
		}
		if got, _ := b.a.Token(ctx, tok.ID); got.Status(b.clock.Now()) != "expired" {
			t.Fatalf("status %s", got.Status(b.clock.Now()))
		}
	})
}

// TestHoldEnds: a stream held by a token ends when another node revokes it,
// when its row is deleted, and at its expiry; Ended says why.
func TestHoldEnds(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		b := setup(t, db, auth.Config{Recheck: 20 * time.Millisecond, Now: time.Now})
		run(t, b.b)
		ctx := context.Background()
		for _, c := range []struct {
			name  string
			ttl   time.Duration
			end   func(tok auth.Token)
			cause error
		}{
			{"revoked elsewhere", 0, func(tok auth.Token) { b.a.Revoke(ctx, tok.ID) }, auth.ErrRevoked},
			{"deleted by hand", 0, func(tok auth.Token) { deleteToken(t, b.st, tok.ID) }, auth.ErrRevoked},
			{"expired", 300 * time.Millisecond, func(auth.Token) {}, auth.ErrExpired},
		} {
			secret, tok, err := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{TTL: c.ttl})
			if err != nil {
				t.Fatal(err)
			}
			p, err := b.b.Authenticate(ctx, secret)
			if err != nil {
				t.Fatal(err)
			}
			held, release := b.b.Hold(ctx, p)
			// A second stream that ends first is simply released.
			_, release2 := b.b.Hold(ctx, p)
			release2()
			start := time.Now()
			c.end(tok)
			select {
			case <-held.Done():
			case <-time.After(2 * time.Second):
				t.Fatalf("%s: the stream is still held after 2 s", c.name)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("%s: ended after %v, want within 1 s", c.name, took)
			}
			if got := auth.Ended(held); got != c.cause {
				t.Errorf("%s: Ended = %v, want %v", c.name, got, c.cause)
			}
			release()
		}
		// A stream released normally is no credential's end.
		secret, _, _ := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{})
		p, _ := b.b.Authenticate(ctx, secret)
		held, release := b.b.Hold(ctx, p)
		release()
		if auth.Ended(held) != nil {
			t.Errorf("released: Ended = %v", auth.Ended(held))
		}
	})
}

func deleteToken(t *testing.T, st *store.Store, id string) {
	t.Helper()
	q := `DELETE FROM aijobs_tokens WHERE id = ?`
	if st.Postgres() {
		q = `DELETE FROM aijobs_tokens WHERE id = $1`
	}
	if _, err := st.DB().Exec(q, id); err != nil {
		t.Fatal(err)
	}
}

func TestLastUsed(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		b := setup(t, db, auth.Config{Recheck: 20 * time.Millisecond, Now: time.Now})
		run(t, b.a)
		ctx := context.Background()
		secret, tok, _ := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{})
		if got, _ := b.a.Token(ctx, tok.ID); got.LastUsedAt != nil {
			t.Fatalf("unused token has last_used_at %v", got.LastUsedAt)
		}
		b.a.Authenticate(ctx, secret)
		var first time.Time
		deadline := time.Now().Add(2 * time.Second)
		for first.IsZero() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			if got, _ := b.a.Token(ctx, tok.ID); got.LastUsedAt != nil {
				first = *got.LastUsedAt
			}
		}
		if first.IsZero() {
			t.Fatal("last_used_at not written within 2 s")
		}
		// Used again within the minute: not written again.
		for range 5 {
			time.Sleep(30 * time.Millisecond)
			b.a.Authenticate(ctx, secret)
		}
		time.Sleep(60 * time.Millisecond)
		if got, _ := b.a.Token(ctx, tok.ID); !got.LastUsedAt.Equal(first) {
			t.Errorf("last_used_at moved within a minute: %v → %v", first, got.LastUsedAt)
		}
	})
}

// checker is a JWTChecker from a table.
type checker map[string]struct {
	sub   string
	admin bool
	exp   time.Time
	err   error
}

func (c checker) Check(_ context.Context, token string) (auth.JWTIdentity, error) {
	r, ok := c[token]
	if !ok {
		return auth.JWTIdentity{}, fmt.Errorf("%w: unknown", auth.ErrJWTInvalid)
	}
	return auth.JWTIdentity{Subject: r.sub, Admin: r.admin, Expires: r.exp, Quota: -1}, r.err
}

func TestJWTHook(t *testing.T) {
	forEachDB(t, func(t *testing.T, db string) {
		const (
			userJWT  = "aGVhZA.dXNlcg.c2ln"
			adminJWT = "aGVhZA.YWRtaW4.c2ln"
			oldJWT   = "aGVhZA.b2xk.c2ln"
			downJWT  = "aGVhZA.ZG93bg.c2ln"
			badJWT   = "aGVhZA.YmFk.c2ln"
			nulJWT   = "aGVhZA.bnVs.c2ln"
		)
		exp := time.Now().Add(time.Hour).Truncate(time.Second)
		ck := checker{
			userJWT:  {sub: "app-user-1", exp: exp},
			adminJWT: {sub: "ada", admin: true, exp: exp},
			oldJWT:   {sub: "app-user-1", exp: time.Now().Add(-time.Minute)},
			downJWT:  {err: fmt.Errorf("check JWT: %w: fetch JWKS: dial tcp 10.0.0.1:443", auth.ErrJWTUnavailable)},
			badJWT:   {err: errors.New("some library error naming https://keys.internal/")},
			nulJWT:   {sub: "a\x00b", exp: exp},
		}
		b := setup(t, db, auth.Config{JWT: ck, DefaultQuota: 25})
		ctx := context.Background()
		p, err := b.a.Authenticate(ctx, userJWT)
		if err != nil || p.Name != "app-user-1" || p.DailyQuota != 25 || p.Admin || !p.Expires.Equal(exp) || p.Credential == "" {
			t.Fatalf("first use: %+v, %v", p, err)
		}
		// The other node finds the same user; an existing user keeps their quota.
		if q, err := b.b.Authenticate(ctx, userJWT); err != nil || q.ID != p.ID {
			t.Fatalf("second node: %+v, %v", q, err)
		}
		if a, err := b.a.Authenticate(ctx, adminJWT); err != nil || a.ID != b.user.ID || !a.Admin || a.DailyQuota != 10 {
			t.Fatalf("admin JWT: %+v, %v", a, err)
		}
		st, stExp := b.a.StreamToken(p, "")
		if !stExp.Equal(exp) {
			t.Errorf("stream token of a JWT expires %v, want the JWT's %v", stExp, exp)
		}
		if acc, err := b.b.VerifyStreamToken(ctx, st); err != nil || acc.Principal.ID != p.ID || !acc.Principal.Expires.Equal(exp) {
			t.Fatalf("stream token of a JWT: %+v, %v", acc, err)
		}
		for name, c := range map[string]struct {
			jwt  string
			kind jobs.Kind
		}{
			"expired":     {oldJWT, jobs.KindUnauthorized},
			"keys down":   {downJWT, jobs.KindUnavailable},
			"other error": {badJWT, jobs.KindUnauthorized},
			"unknown":     {"aGVhZA.eA.c2ln", jobs.KindUnauthorized},
			"NUL subject": {nulJWT, jobs.KindUnauthorized},
		} {
			_, err := b.a.Authenticate(ctx, c.jwt)
			p := jobs.ProblemOf(err)
			if p == nil || p.Kind != c.kind {
				t.Errorf("%s: %v, want kind %v", name, err, c.kind)
				continue
			}
			if name == "other error" && p.Message != "the JWT was refused (bad signature, expired, or not for this server)" {
				t.Errorf("other error shows %q", p.Message)
			}
		}
	})
}

func TestUsersAndQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", auth.Config{})
	ctx := context.Background()
	secret, _, _ := b.a.CreateToken(ctx, b.user.ID, auth.NewToken{})
	if p, _ := b.a.Authenticate(ctx, secret); p.DailyQuota != 10 {
		t.Fatalf("quota %d", p.DailyQuota)
	}
	if _, err := b.a.SetQuota(ctx, b.user.ID, 99); err != nil {
		t.Fatal(err)
	}
	// The node that set it forgets what it had cached.
	if p, _ := b.a.Authenticate(ctx, secret); p.DailyQuota != 99 {
		t.Fatalf("quota after SetQuota %d, want 99", p.DailyQuota)
	}
	for name, err := range map[string]error{
		"negative quota":  second(b.a.SetQuota(ctx, b.user.ID, -1)),
		"unknown user":    second(b.a.SetQuota(ctx, "usr_nobody", 1)),
		"bad user id":     second(b.a.User(ctx, "x; DROP")),
		"long name":       third(b.a.CreateToken(ctx, b.user.ID, auth.NewToken{Name: string(make([]byte, 201))})),
		"token of nobody": third(b.a.CreateToken(ctx, "usr_nobody", auth.NewToken{})),
		"limit 0":         second(b.a.Users(ctx, "", 0)),
	} {
		if p := jobs.ProblemOf(err); p == nil || (p.Kind != jobs.KindInvalid && p.Kind != jobs.KindNotFound) {
			t.Errorf("%s: %v, want a 422 or 404 problem", name, err)
		}
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }
