package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

// forBothStores runs f on a fresh, unmigrated store of each database.
func forBothStores(t *testing.T, f func(t *testing.T, st *Store)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			url := "sqlite:" + filepath.Join(t.TempDir(), "aijobs.db")
			if db == "postgres" {
				url, _ = newDB(t)
			}
			st, err := Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f(t, st)
		})
	}
}

// TestTokensMigration: a token stored before migration 0003 keeps working
// after it, with an id that is not its hash, no expiry and no admin role.
func TestTokensMigration(t *testing.T) {
	forBothStores(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		if _, err := st.w.exec(ctx, `CREATE TABLE IF NOT EXISTS aijobs_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.version < 3 {
				if err := st.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A user and a token as the old schema had them (today's code
		// reads columns it did not have).
		u := jobs.User{ID: "usr_old", Name: "old", DailyQuota: 7}
		if _, err := st.w.exec(ctx, `INSERT INTO aijobs_users (id, name, daily_quota, created_at) VALUES (?, ?, ?, ?)`, u.ID, u.Name, u.DailyQuota, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		if _, err := st.w.exec(ctx, `INSERT INTO aijobs_tokens (hash, user_id, created_at) VALUES (?, ?, ?)`, hash, u.ID, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		tok, tu, err := st.TokenByHash(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if tok.ID != "tok_"+hash[:24] || tok.ID == hash || tok.UserID != u.ID || tu.DailyQuota != 7 || tok.Admin || tok.ExpiresAt != nil || tok.RevokedAt != nil || tok.LastUsedAt != nil || tok.Name != "" {
			t.Fatalf("legacy token after the migration: %+v (user %+v)", tok, tu)
		}
	})
}

func TestTokenStore(t *testing.T) {
	forBothStores(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		if err := st.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		u, _, err := st.EnsureUser(ctx, "tia", 5)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		exp := now.Add(time.Hour)
		var ids []string
		for i := range 130 { // more than one TokenStates batch
			tok := auth.Token{ID: fmt.Sprintf("tok_%03d", i), UserID: u.ID, Name: fmt.Sprint("n", i), CreatedAt: now, Admin: i == 0}
			if i == 1 {
				tok.ExpiresAt = &exp
			}
			if err := st.AddToken(ctx, tok, fmt.Sprint("hash", i)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tok.ID)
		}
		got, gu, err := st.TokenByID(ctx, "tok_001")
		if err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.UserName != "tia" || gu.ID != u.ID || got.Name != "n1" {
			t.Fatalf("TokenByID: %+v %+v %v", got, gu, err)
		}
		if got, _, _ := st.TokenByHash(ctx, "hash0"); !got.Admin || got.ID != "tok_000" {
			t.Fatalf("TokenByHash: %+v", got)
		}
		if _, _, err := st.TokenByHash(ctx, "nope"); err != jobs.ErrNotFound {
			t.Fatalf("unknown hash: %v", err)
		}
		states, err := st.TokenStates(ctx, append(ids, "tok_gone"))
		if err != nil || len(states) != 130 {
			t.Fatalf("TokenStates: %d tokens, %v", len(states), err)
		}
		if list, err := st.Tokens(ctx, u.ID); err != nil || len(list) != 130 {
			t.Fatalf("Tokens: %d, %v", len(list), err)
		}

		// Revoking twice keeps the first time.
		first, err := st.RevokeToken(ctx, "tok_002", now)
		if err != nil || first.RevokedAt == nil || !first.RevokedAt.Equal(now) {
			t.Fatalf("revoke: %+v %v", first, err)
		}
		again, err := st.RevokeToken(ctx, "tok_002", now.Add(time.Minute))
		if err != nil || !again.RevokedAt.Equal(now) {
			t.Fatalf("revoke again: %+v %v", again, err)
		}
		if _, err := st.RevokeToken(ctx, "tok_gone", now); err != jobs.ErrNotFound {
			t.Fatalf("revoke an unknown token: %v", err)
		}

		// last_used_at moves only when older than before.
		if err := st.TouchTokens(ctx, []string{"tok_003"}, now, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.TouchTokens(ctx, []string{"tok_003"}, now.Add(time.Second), now.Add(-59*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := st.TokenByID(ctx, "tok_003"); got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Fatalf("last used: %v, want %v", got.LastUsedAt, now)
		}

		if q, err := st.SetQuota(ctx, u.ID, 42); err != nil || q.DailyQuota != 42 {
			t.Fatalf("SetQuota: %+v %v", q, err)
		}
		if _, err := st.SetQuota(ctx, "usr_nobody", 1); err != jobs.ErrNotFound {
			t.Fatalf("SetQuota of nobody: %v", err)
		}
		if byName, err := st.UserByName(ctx, "tia"); err != nil || byName.ID != u.ID || byName.DailyQuota != 42 {
			t.Fatalf("UserByName: %+v %v", byName, err)
		}
		st.EnsureUser(ctx, "abe", 1)
		st.EnsureUser(ctx, "zoe", 1)
		page, err := st.Users(ctx, "abe", 1)
		if err != nil || len(page) != 1 || page[0].Name != "tia" {
			t.Fatalf("Users after abe: %+v %v", page, err)
		}
	})
}
