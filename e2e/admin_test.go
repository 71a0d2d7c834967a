package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// adminUser is a user as the admin API shows it.
type adminUser struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	DailyQuota int64  `json:"daily_quota"`
	Weight     int64  `json:"weight"`
	Usage      struct {
		RequestsUsed  int64 `json:"requests_used"`
		RequestsLimit int64 `json:"requests_limit"`
	} `json:"usage"`
}

// adminRoutes are every admin endpoint, with a body where it takes one.
func adminRoutes(userID, tokenID, jobID string) [][3]string {
	return [][3]string{
		{"GET", "/api/v1/admin/users", ""},
		{"GET", "/api/v1/admin/users/" + userID, ""},
		{"PATCH", "/api/v1/admin/users/" + userID, `{"daily_quota":1000}`},
		{"GET", "/api/v1/admin/users/" + userID + "/tokens", ""},
		{"POST", "/api/v1/admin/users/" + userID + "/tokens", `{"admin":true}`},
		{"DELETE", "/api/v1/admin/tokens/" + tokenID, ""},
		{"GET", "/api/v1/admin/users/" + userID + "/jobs", ""},
		{"GET", "/api/v1/admin/jobs/" + jobID, ""},
		{"GET", "/api/v1/admin/stats", ""},
		{"GET", "/api/v1/admin/users/" + userID + "/webhook", ""},
		{"PUT", "/api/v1/admin/users/" + userID + "/webhook", `{"url":"https://hooks.example.com/x"}`},
		{"DELETE", "/api/v1/admin/users/" + userID + "/webhook", ""},
	}
}

// TestAdminHiddenFromNonAdmins: to anyone but an admin every admin endpoint
// answers exactly what a path that does not exist answers.
func TestAdminHiddenFromNonAdmins(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--role", "api")
		root := s.client(s.token("root", "--admin"))
		alice := s.client(s.token("alice"))
		j := alice.submit("alice's plan")
		aliceID := userID(t, root, "alice")
		tokID := s.tokenID("alice")
		revokedAdmin := s.token("ex-root", "--admin")
		if out, errOut, code := s.aijobs(false, 2, "token", "revoke", s.tokenID("ex-root")); code != 0 {
			t.Fatalf("revoke: %s %s", out, errOut)
		}
		time.Sleep(time.Second) // past every cache
		unknown := func(method, path string) response {
			return s.client("").do(method, strings.Replace(path, "/api/v1/admin/", "/api/v1/nimda/", 1), nil)
		}
		for _, who := range []struct{ name, token string }{
			{"no token", ""}, {"a bad token", "aj_nope"}, {"a user's token", alice.token},
			{"a revoked admin token", revokedAdmin}, {"a stream token", j.StreamToken},
		} {
			for _, rt := range adminRoutes(aliceID, tokID, j.ID) {
				var body any
				if rt[2] != "" {
					body = rt[2]
				}
				got := s.client(who.token).do(rt[0], rt[1], body)
				want := unknown(rt[0], rt[1])
				wantBody := strings.Replace(string(want.Body), "/api/v1/nimda/", "/api/v1/admin/", 1)
				if got.Status != 404 || string(got.Body) != wantBody || got.Header.Get("Content-Type") != want.Header.Get("Content-Type") ||
					got.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("%s, %s %s: %d %s, want the unknown path's 404 %s", who.name, rt[0], rt[1], got.Status, got.Body, wantBody)
				}
			}
		}
		// Nothing changed.
		if toks := s.tokens("alice"); toks[0].Status != "active" {
			t.Errorf("alice's token after the attempts: %+v", toks[0])
		}
		if len(s.tokens("alice")) != 1 {
			t.Errorf("a token was created by a non-admin")
		}
		// A method the admin API does not have is an unknown path, for an admin too.
		wantError(t, root.do("PUT", "/api/v1/admin/users/"+aliceID, `{}`), 404, "not_found")
	})
}

// userID finds a user's id through the admin API.
func userID(t *testing.T, root *api, name string) string {
	t.Helper()
	var page struct {
		Users []adminUser `json:"users"`
	}
	r := root.do("GET", "/api/v1/admin/users?limit=100", nil)
	if r.Status != 200 {
		t.Fatalf("list users: %d %s", r.Status, r.Body)
	}
	r.json(t, &page)
	for _, u := range page.Users {
		if u.Name == name {
			return u.ID
		}
	}
	t.Fatalf("no user %s in %s", name, r.Body)
	return ""
}

func TestAdminAPI(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		root := s.client(s.token("root", "--admin"))
		alice := s.client(s.token("alice", "--daily-quota", "5"))
		bob := s.client(s.token("bob"))
		aj := alice.submit("I want to run 5 km")
		bj := bob.submit("bob's plan")
		aliceID := userID(t, root, "alice")

		t.Run("users", func(t *testing.T) {
			var u adminUser
			r := root.do("GET", "/api/v1/admin/users/"+aliceID, nil)
			r.json(t, &u)
			if r.Status != 200 || u.Name != "alice" || u.DailyQuota != 5 || u.Usage.RequestsUsed != 1 || u.Usage.RequestsLimit != 5 {
				t.Fatalf("alice: %d %s", r.Status, r.Body)
			}
			// Pages by name.
			var names []string
			cursor := ""
			for i := 0; i < 10; i++ {
				var page struct {
					Users      []adminUser `json:"users"`
					NextCursor *string     `json:"next_cursor"`
				}
				r := root.do("GET", "/api/v1/admin/users?limit=1&cursor="+cursor, nil)
				r.json(t, &page)
				for _, u := range page.Users {
					names = append(names, u.Name)
				}
				if page.NextCursor == nil {
					break
				}
				cursor = *page.NextCursor
			}
			if strings.Join(names, ",") != "alice,bob,demo,root" {
				t.Fatalf("users page by page: %v", names)
			}
			wantError(t, root.do("GET", "/api/v1/admin/users/usr_nobody", nil), 404, "not_found")
			wantError(t, root.do("GET", "/api/v1/admin/users?limit=0", nil), 422, "invalid_field")
			wantError(t, root.do("GET", "/api/v1/admin/users?limit=x", nil), 422, "invalid_field")
		})

		t.Run("quota", func(t *testing.T) {
			for _, c := range []struct {
				body   string
				status int
				code   string
			}{
				{`{"daily_quota":-1}`, 422, "invalid_field"},
				{`{"daily_quota":"many"}`, 422, "invalid_field"},
				{`{"daily_quota":1.5}`, 422, "invalid_field"},
				{`{"daily_quota":99999999999999999999}`, 422, "invalid_field"},
				{`{}`, 422, "invalid_field"},
				{`{"weight":0}`, 422, "invalid_field"},
				{`{"weight":1001}`, 422, "invalid_field"},
				{`{"daily_quota":`, 400, "invalid_json"},
				{`{"daily_quota":3}` + strings.Repeat(" ", 70<<10), 413, "body_too_large"},
			} {
				wantError(t, root.do("PATCH", "/api/v1/admin/users/"+aliceID, c.body), c.status, c.code)
			}
			wantError(t, root.do("PATCH", "/api/v1/admin/users/usr_nobody", `{"daily_quota":3}`), 404, "not_found")
			r := root.do("PATCH", "/api/v1/admin/users/"+aliceID, `{"daily_quota":7}`)
			var u adminUser
			r.json(t, &u)
			if r.Status != 200 || u.DailyQuota != 7 || u.Usage.RequestsLimit != 7 || u.Weight != 1 {
				t.Fatalf("set quota: %d %s", r.Status, r.Body)
			}
			r = root.do("PATCH", "/api/v1/admin/users/"+aliceID, `{"weight":4}`)
			r.json(t, &u)
			if r.Status != 200 || u.Weight != 4 || u.DailyQuota != 7 {
				t.Fatalf("set weight: %d %s", r.Status, r.Body)
			}
			// Alice sees it within about a second.
			deadline := time.Now().Add(2 * time.Second)
			for {
				var usage struct {
					RequestsLimit int64 `json:"requests_limit"`
				}
				alice.do("GET", "/api/v1/ai/usage", nil).json(t, &usage)
				if usage.RequestsLimit == 7 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("alice's limit %d 2 s after the change, want 7", usage.RequestsLimit)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})

		t.Run("tokens", func(t *testing.T) {
			r := root.do("POST", "/api/v1/admin/users/"+aliceID+"/tokens", map[string]any{"name": "phone", "expires_in": "90d"})
			var created struct {
				ID        string     `json:"id"`
				Token     string     `json:"token"`
				Name      string     `json:"name"`
				Admin     bool       `json:"admin"`
				Status    string     `json:"status"`
				ExpiresAt *time.Time `json:"expires_at"`
				UserID    string     `json:"user_id"`
			}
			r.json(t, &created)
			if r.Status != 201 || !strings.HasPrefix(created.Token, "aj_") || !strings.HasPrefix(created.ID, "tok_") || created.Name != "phone" ||
				created.Admin || created.Status != "active" || created.UserID != aliceID || created.ExpiresAt == nil || time.Until(*created.ExpiresAt) < 89*24*time.Hour {
				t.Fatalf("create token: %d %s", r.Status, r.Body)
			}
			phone := s.client(created.Token)
			if r := phone.do("GET", "/api/v1/jobs/"+aj.ID, nil); r.Status != 200 {
				t.Fatalf("the new token: %d %s", r.Status, r.Body)
			}
			for _, body := range []string{`{"expires_in":"soon"}`, `{"expires_in":"-3d"}`, `{"admin":"yes"}`, `{"name":7}`, fmt.Sprintf(`{"name":%q}`, strings.Repeat("n", 201))} {
				wantError(t, root.do("POST", "/api/v1/admin/users/"+aliceID+"/tokens", body), 422, "invalid_field")
			}
			wantError(t, root.do("POST", "/api/v1/admin/users/"+aliceID+"/tokens", `nope`), 400, "invalid_json")
			wantError(t, root.do("POST", "/api/v1/admin/users/usr_nobody/tokens", `{}`), 404, "not_found")

			r = root.do("GET", "/api/v1/admin/users/"+aliceID+"/tokens", nil)
			if r.Status != 200 || strings.Contains(string(r.Body), "aj_") || strings.Contains(string(r.Body), "hash") {
				t.Fatalf("list tokens: %d %s", r.Status, r.Body)
			}
			var list struct {
				Tokens []map[string]any `json:"tokens"`
			}
			r.json(t, &list)
			if len(list.Tokens) != 2 {
				t.Fatalf("alice has %d tokens, want 2: %s", len(list.Tokens), r.Body)
			}
			for _, k := range []string{"id", "user_id", "user", "name", "admin", "created_at", "last_used_at", "expires_at", "revoked_at", "status"} {
				if _, ok := list.Tokens[0][k]; !ok {
					t.Errorf("a listed token has no %s: %s", k, r.Body)
				}
			}

			r = root.do("DELETE", "/api/v1/admin/tokens/"+created.ID, nil)
			var revoked struct {
				Status    string     `json:"status"`
				RevokedAt *time.Time `json:"revoked_at"`
			}
			r.json(t, &revoked)
			if r.Status != 200 || revoked.Status != "revoked" || revoked.RevokedAt == nil || strings.Contains(string(r.Body), "aj_") {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			wantError(t, phone.do("GET", "/api/v1/jobs/"+aj.ID, nil), 401, "unauthorized")
			if r := root.do("DELETE", "/api/v1/admin/tokens/"+created.ID, nil); r.Status != 200 {
				t.Fatalf("revoke again: %d %s", r.Status, r.Body)
			}
			wantError(t, root.do("DELETE", "/api/v1/admin/tokens/tok_doesnotexist", nil), 404, "not_found")
			wantError(t, root.do("DELETE", "/api/v1/admin/tokens/not%20a%20token", nil), 404, "not_found")
		})

		t.Run("jobs", func(t *testing.T) {
			r := root.do("GET", "/api/v1/admin/users/"+aliceID+"/jobs", nil)
			var page struct {
				Jobs []struct {
					ID          string `json:"job_id"`
					UserID      string `json:"user_id"`
					StreamToken string `json:"stream_token"`
				} `json:"jobs"`
			}
			r.json(t, &page)
			if r.Status != 200 || len(page.Jobs) != 1 || page.Jobs[0].ID != aj.ID || page.Jobs[0].UserID != aliceID || page.Jobs[0].StreamToken != "" {
				t.Fatalf("alice's jobs: %d %s", r.Status, r.Body)
			}
			wantError(t, root.do("GET", "/api/v1/admin/users/"+aliceID+"/jobs?status=bogus", nil), 422, "invalid_field")
			wantError(t, root.do("GET", "/api/v1/admin/users/usr_nobody/jobs", nil), 404, "not_found")
			// Any user's job by its id alone.
			for _, j := range []job{aj, bj} {
				r := root.do("GET", "/api/v1/admin/jobs/"+j.ID, nil)
				var got map[string]any
				json.Unmarshal(r.Body, &got)
				if r.Status != 200 || got["job_id"] != j.ID || got["user_id"] == "" || got["stream_token"] != nil {
					t.Fatalf("admin get job: %d %s", r.Status, r.Body)
				}
			}
			wantError(t, root.do("GET", "/api/v1/admin/jobs/job_doesnotexist", nil), 404, "not_found")
			// The admin is a user too, with jobs of their own: alice's are
			// still not theirs on the user API.
			wantError(t, root.do("GET", "/api/v1/jobs/"+aj.ID, nil), 404, "not_found")
		})
	})
}
