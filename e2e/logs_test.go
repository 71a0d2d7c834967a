package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestLogsFollowAndKeepSecrets runs a full workload with the most verbose
// log (debug, JSON) and checks what an operator gets: every request's lines
// carry its request id (the client's X-Request-Id when it sent one), every
// job's lines its job id and attempt — and no line holds a secret: API
// tokens (also a refused one), stream tokens, a JWT, the JWT secret, the
// master key, the server's provider key or the user's own key.
func TestLogsFollowAndKeepSecrets(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		const (
			masterKey = "6a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f"
			jwtSecret = "jwt-SECRET-of-the-app-7e1d9c3b5a2f4e6d"
			serverKey = "sk-server-SECRET-0b1c2d3e4f5a6b7c8d9e"
		)
		fake := newFakeOpenAI(t)
		s := startServerEnv(t, db, map[string]string{
			"AIJOBS_SECRET_KEY": masterKey, "AIJOBS_JWT_SECRET": jwtSecret, "AIJOBS_OPENAI_API_KEY": serverKey,
		}, "--provider", "openai", "--openai-base-url", fake.URL+"/v1", "--model", "fake-model",
			"--log-format", "json", "--log-level", "debug")
		admin := s.token("root", "--admin")
		user := s.token("pat")
		a := s.client(user)
		secrets := map[string]string{"master key": masterKey, "JWT secret": jwtSecret, "admin token": admin, "user token": user}

		// Jobs on the server's key and on the user's, one completing, one
		// failing after a retry on an error that echoes the key.
		done := a.submit("What is the capital of France?")
		failed := a.submit("[[fake:echo-key-truncated]] hi", "user_provided_key", userKey)
		r := a.do("GET", "/api/v1/jobs/"+done.ID, nil, "X-Request-Id", "trace-e2e-1")
		if got := r.Header.Get("X-Request-Id"); got != "trace-e2e-1" {
			t.Errorf("X-Request-Id answered %q, want the client's trace-e2e-1", got)
		}
		a.waitTerminal(done.ID)
		a.waitTerminal(failed.ID)
		a.do("GET", "/api/v1/jobs/"+done.ID, nil, "If-None-Match", r.Header.Get("ETag"))

		// Streams with a stream token in the URL.
		var st struct {
			StreamToken string `json:"stream_token"`
		}
		a.do("POST", "/api/v1/stream_tokens", nil).json(t, &st)
		secrets["stream token"] = st.StreamToken
		sse := mustSSE(t, s.URL+"/api/v1/jobs/"+done.ID+"/events?after=0&token="+st.StreamToken)
		sse.until(done.ID)
		cable := mustDialCable(t, s, "?token="+st.StreamToken, nil)
		cable.welcome()

		// A JWT user, a token made by the admin API, a refused token.
		jwtTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("maya", time.Hour)).SignedString([]byte(jwtSecret))
		if err != nil {
			t.Fatal(err)
		}
		secrets["JWT"] = jwtTok
		secrets["JWT signature"] = jwtTok[strings.LastIndex(jwtTok, ".")+1:]
		s.client(jwtTok).waitTerminal(s.client(jwtTok).submit("Plan my week").ID)
		var made struct {
			Token string `json:"token"`
		}
		var list struct {
			Users []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"users"`
		}
		s.client(admin).do("GET", "/api/v1/admin/users", nil).json(t, &list)
		for _, u := range list.Users {
			if u.Name == "pat" {
				s.client(admin).do("POST", "/api/v1/admin/users/"+u.ID+"/tokens", map[string]any{"name": "ci"}).json(t, &made)
			}
		}
		if made.Token == "" {
			t.Fatal("the admin API made no token")
		}
		secrets["token made by the admin API"] = made.Token
		refused := "aj_" + strings.Repeat("Q", 40)
		secrets["refused token"] = refused
		if r := s.client(refused).do("GET", "/api/v1/jobs", nil); r.Status != 401 {
			t.Errorf("a made-up token got %d", r.Status)
		}
		s.stop()

		log := s.logs.String()
		for what, v := range secrets {
			if strings.Contains(log, v) {
				t.Errorf("the log holds the %s", what)
			}
		}
		for what, key := range map[string]string{"server's provider key": serverKey, "user's key": userKey} {
			if piece := keyFragment(log, key); piece != "" {
				t.Errorf("the log holds %q, a piece of the %s", piece, what)
			}
		}

		var requests, jobLines int
		traced := false
		for _, line := range strings.Split(log, "\n") {
			if !strings.HasPrefix(line, "{") {
				continue // the listening line
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			switch m["msg"] {
			case "request":
				requests++
				if id, _ := m["request_id"].(string); id == "" {
					t.Errorf("request line without request_id: %s", line)
				} else if id == "trace-e2e-1" {
					traced = true
				}
			case "job completed", "job failed", "attempt failed, will retry":
				jobLines++
				if m["job_id"] == nil || m["attempt"] == nil {
					t.Errorf("job line without job_id and attempt: %s", line)
				}
			}
		}
		if requests < 10 || jobLines < 3 || !traced {
			t.Errorf("%d request lines, %d job lines, client's request id found: %v; want at least 10, 3 and true", requests, jobLines, traced)
		}
	})
}
