package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// riverUIPaths are pages and API calls of River UI, with a path that does
// not exist standing in for each (same shape, another prefix).
var riverUIPaths = [][2]string{
	{"GET", "/riverui/"},
	{"GET", "/riverui/jobs"},
	{"GET", "/riverui/api/jobs?limit=20"},
	{"GET", "/riverui/api/queues"},
	{"GET", "/riverui/api/states"},
	{"POST", "/riverui/api/jobs/cancel"},
	{"GET", "/riverui/signout"},
}

// TestRiverUIHiddenFromNonAdmins: without an admin credential every River
// UI path answers what a path that does not exist answers — except that a
// browser asking for /riverui/ with no credential at all gets the sign-in
// form, with status 404 and no word of River UI.
func TestRiverUIHiddenFromNonAdmins(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--role", "api")
		user := s.token("alice")
		revoked := s.token("ex-root", "--admin")
		if out, errOut, code := s.aijobs(false, 2, "token", "revoke", s.tokenID("ex-root")); code != 0 {
			t.Fatalf("revoke: %s %s", out, errOut)
		}
		time.Sleep(time.Second) // past every cache
		for _, who := range []struct{ name, token string }{
			{"no token", ""}, {"a user's token", user}, {"a revoked admin token", revoked}, {"a bad token", "aj_nope"},
		} {
			for _, p := range riverUIPaths {
				got := s.client(who.token).do(p[0], p[1], nil)
				if who.token == "" && p[1] == "/riverui/" {
					if got.Status != 404 || !strings.Contains(string(got.Body), `name="token"`) || strings.Contains(strings.ToLower(string(got.Body)), "river") {
						t.Errorf("%s, %s %s: %d %s, want the sign-in form with 404 and no word of River UI", who.name, p[0], p[1], got.Status, got.Body)
					}
					continue
				}
				want := s.client(who.token).do(p[0], strings.Replace(p[1], "/riverui/", "/nosuchui/", 1), nil)
				if got.Status != 404 || string(got.Body) != string(want.Body) || got.Header.Get("Content-Type") != want.Header.Get("Content-Type") {
					t.Errorf("%s, %s %s: %d %q, want the unknown path's %d %q", who.name, p[0], p[1], got.Status, got.Body, want.Status, want.Body)
				}
			}
		}
		// A forged or tampered cookie is no session either.
		got := s.client("").do("GET", "/riverui/api/jobs?limit=20", nil, "Cookie", "aijobs_admin=djF8dG9rX3h8OTk5OTk5OTk5OQ.AAAA")
		if got.Status != 404 {
			t.Errorf("forged cookie: %d %s", got.Status, got.Body)
		}
	})
}

// TestRiverUIAdmin: an admin bearer token reaches River UI's page and API,
// and the job list holds aijobs' River jobs, on both databases.
func TestRiverUIAdmin(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db)
		root := s.client(s.token("root", "--admin"))
		alice := s.client(s.token("alice"))
		alice.waitTerminal(alice.submit("plan my week").ID)
		page := root.do("GET", "/riverui/", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "River") {
			t.Fatalf("admin GET /riverui/: %d %.300s", page.Status, page.Body)
		}
		if page.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("X-Frame-Options = %q", page.Header.Get("X-Frame-Options"))
		}
		for _, path := range []string{"/riverui/api/queues", "/riverui/api/states", "/riverui/api/features", "/riverui/api/health-checks/complete"} {
			if r := root.do("GET", path, nil); r.Status != 200 {
				t.Errorf("admin GET %s: %d %.300s", path, r.Status, r.Body)
			}
		}
		// River's completer records the River job a moment after the aijobs job ends.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := root.do("GET", "/riverui/api/jobs?limit=20&state=completed", nil)
			if r.Status == 200 && strings.Contains(string(r.Body), `"aijobs_run"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("River UI's job list has no completed aijobs_run job: %d %.500s", r.Status, r.Body)
			}
		}
		// Every River UI endpoint, on this database (a Bearer needs no Origin).
		var list struct {
			Data []struct {
				ID    int64  `json:"id"`
				Kind  string `json:"kind"`
				Queue string `json:"queue"`
			} `json:"data"`
		}
		root.do("GET", "/riverui/api/jobs?limit=20&state=completed", nil).json(t, &list)
		rid := fmt.Sprint(list.Data[0].ID)
		for _, c := range [][3]string{
			{"GET", "/riverui/api/autocomplete?facet=job_kind", ""},
			{"GET", "/riverui/api/autocomplete?facet=queue_name", ""},
			{"GET", "/riverui/api/jobs/" + rid, ""},
			{"GET", "/riverui/api/queues/default", ""},
			{"GET", "/riverui/api/version", ""},
			{"PUT", "/riverui/api/queues/default/pause", "{}"},
			{"PUT", "/riverui/api/queues/default/resume", "{}"},
			{"POST", "/riverui/api/jobs/retry", `{"ids":["` + rid + `"]}`},
			{"POST", "/riverui/api/jobs/cancel", `{"ids":["` + rid + `"]}`},
			{"POST", "/riverui/api/jobs/delete", `{"ids":["` + rid + `"]}`},
		} {
			var body any
			if c[2] != "" {
				body = c[2]
			}
			if r := root.do(c[0], c[1], body); r.Status != 200 {
				t.Errorf("admin %s %s: %d %.300s", c[0], c[1], r.Status, r.Body)
			}
		}
		// /riverui goes to /riverui/.
		req, _ := http.NewRequest("GET", s.URL+"/riverui", nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "/riverui/" {
			t.Errorf("GET /riverui: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// signIn posts the sign-in form with token from origin and returns the
// response, not following its redirect.
func signIn(t *testing.T, s *server, token, origin string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/riverui/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// sessionCookie returns the aijobs_admin cookie a response sets.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "aijobs_admin" {
			return c
		}
	}
	return nil
}

// TestRiverUISignIn: the form takes an admin token and sets a short-lived,
// HttpOnly, SameSite=Strict cookie on /riverui naming the token, not
// holding it; cross-origin state changes are refused; revoking the token
// ends the session; sign-out clears the cookie.
func TestRiverUISignIn(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		s := startServer(t, db, "--role", "api")
		admin := s.token("root", "--admin")
		user := s.token("alice")
		// Refused: a user's token, a bad one, a cross-origin or origin-less form.
		for _, c := range []struct{ name, token, origin string }{
			{"user token", user, s.URL}, {"bad token", "aj_nope", s.URL},
			{"cross-origin", admin, "http://evil.example"}, {"no origin", admin, ""},
		} {
			resp := signIn(t, s, c.token, c.origin)
			if resp.StatusCode == 303 || sessionCookie(resp) != nil {
				t.Errorf("%s: %d, cookie %v", c.name, resp.StatusCode, sessionCookie(resp))
			}
		}
		before := time.Now()
		resp := signIn(t, s, admin, s.URL)
		c := sessionCookie(resp)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/riverui/" || c == nil {
			t.Fatalf("sign-in: %d %s, cookie %v", resp.StatusCode, resp.Header.Get("Location"), c)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/riverui" || c.Secure {
			t.Errorf("cookie attributes: %+v", c)
		}
		if c.MaxAge <= 0 || c.MaxAge > 3600 || c.Expires.After(before.Add(time.Hour+2*time.Second)) {
			t.Errorf("cookie lifetime: max-age %d, expires %v", c.MaxAge, c.Expires)
		}
		if strings.Contains(c.Value, admin) || strings.Contains(c.Value, strings.TrimPrefix(admin, "aj_")) {
			t.Errorf("the cookie holds the token: %s", c.Value)
		}
		// Over TLS (a proxy saying so) the cookie is Secure.
		if tc := sessionCookie(signIn(t, s, admin, "https://"+s.addr, "X-Forwarded-Proto", "https")); tc == nil || !tc.Secure {
			t.Errorf("behind TLS: cookie %+v, want Secure", tc)
		}
		// A token with a near expiry: the session ends with it.
		short := s.token("root", "--admin", "--expires", "10m")
		if sc := sessionCookie(signIn(t, s, short, s.URL)); sc == nil || sc.MaxAge > 600 {
			t.Errorf("session of a 10m token: %+v", sc)
		}

		cookie := "aijobs_admin=" + c.Value
		web := s.client("")
		if r := web.do("GET", "/riverui/", nil, "Cookie", cookie); r.Status != 200 || !strings.Contains(string(r.Body), "River") {
			t.Errorf("page with the cookie: %d %.200s", r.Status, r.Body)
		}
		if r := web.do("GET", "/riverui/api/jobs?limit=20", nil, "Cookie", cookie); r.Status != 200 {
			t.Errorf("API with the cookie: %d %.200s", r.Status, r.Body)
		}
		// State changes with the cookie: only from our own origin (River UI
		// itself answers the same-origin ones: there is no such job).
		body := `{"ids":["999999"]}`
		for _, h := range [][]string{
			{"Origin", "http://evil.example"}, {"Referer", "http://evil.example/page"}, {"Origin", "null"}, {},
		} {
			r := web.do("POST", "/riverui/api/jobs/cancel", body, append([]string{"Cookie", cookie}, h...)...)
			if r.Status != 403 {
				t.Errorf("cross-origin POST %v: %d %s", h, r.Status, r.Body)
			}
		}
		if r := web.do("POST", "/riverui/api/jobs/cancel", body, "Cookie", cookie, "Origin", s.URL); !strings.Contains(string(r.Body), "Job not found") {
			t.Errorf("same-origin POST: %d %s", r.Status, r.Body)
		}
		if r := web.do("POST", "/riverui/api/jobs/cancel", body, "Cookie", cookie, "Referer", s.URL+"/riverui/jobs"); !strings.Contains(string(r.Body), "Job not found") {
			t.Errorf("same-origin POST by Referer: %d %s", r.Status, r.Body)
		}
		// Sign-out: cross-origin refused; same-origin clears the cookie.
		if r := web.do("POST", "/riverui/signout", "", "Cookie", cookie, "Origin", "http://evil.example"); r.Status != 403 {
			t.Errorf("cross-origin sign-out: %d", r.Status)
		}
		req, _ := http.NewRequest("POST", s.URL+"/riverui/signout", nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Origin", s.URL)
		so, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		so.Body.Close()
		if cc := sessionCookie(so); so.StatusCode != 303 || cc == nil || cc.MaxAge >= 0 || cc.Value != "" {
			t.Errorf("sign-out: %d, cookie %+v", so.StatusCode, cc)
		}

		// Revoking the token ends its session at once.
		if r := web.do("GET", "/riverui/api/jobs?limit=20", nil, "Cookie", cookie); r.Status != 200 {
			t.Fatalf("before revoking: %d", r.Status)
		}
		if out, errOut, code := s.aijobs(false, 2, "token", "revoke", s.tokens("root")[0].ID); code != 0 {
			t.Fatalf("revoke: %s %s", out, errOut)
		}
		revoked := time.Now()
		for {
			r := web.do("GET", "/riverui/api/jobs?limit=20", nil, "Cookie", cookie)
			if r.Status == 404 {
				break
			}
			if time.Since(revoked) > time.Second {
				t.Fatalf("the session still works %v after the revocation: %d", time.Since(revoked), r.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := web.do("GET", "/riverui/", nil, "Cookie", cookie); r.Status != 404 || !strings.Contains(string(r.Body), `name="token"`) {
			t.Errorf("page after the revocation: %d %.200s, want the sign-in form", r.Status, r.Body)
		}
	})
}
