package api

// The browser sign-in of /riverui/: an admin pastes an admin API token into
// a form; the answer sets a session cookie that names the token (its id and
// the session's expiry, HMAC-signed with Config.SessionKey) — never the
// token itself. Every request with the cookie looks the token up again
// (auth.Service.TokenPrincipal), so revoking it ends the session within the
// auth cache's recheck (about half a second). A session lasts SessionTTL,
// never past the token's expiry.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

const (
	// sessionCookie is the admin session cookie's name.
	sessionCookie = "aijobs_admin"
	// sessionVersion starts every session value.
	sessionVersion = "v1"
	// SessionTTL is how long an admin session lasts at most.
	SessionTTL = time.Hour
	// signInPath takes the sign-in form; signOutPath the sign-out one.
	signInPath  = riverUIPrefix + "/signin"
	signOutPath = riverUIPrefix + "/signout"
	// SessionKeyPurpose derives Config.SessionKey from secret.Keys.
	SessionKeyPurpose = "aijobs admin session v1"
)

// errBadSession is a session cookie that is not one of ours, or is over.
var errBadSession = jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "no valid admin session")

// signSession returns the cookie value of a session of token id until exp.
func (s *Server) signSession(id string, exp time.Time) string {
	payload := sessionVersion + "|" + id + "|" + strconv.FormatInt(exp.Unix(), 10)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.sessionMAC(payload))
}

func (s *Server) sessionMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// session checks a session cookie's value and the token it names: the
// token's principal, or an error (errBadSession for a forged or expired
// value, the auth package's for a revoked or expired token).
func (s *Server) session(r *http.Request, value string) (auth.Principal, error) {
	if len(s.cfg.SessionKey) == 0 || len(value) > 512 {
		return auth.Principal{}, errBadSession
	}
	p64, s64, ok := strings.Cut(value, ".")
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	sig, err2 := enc.DecodeString(s64)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(sig, s.sessionMAC(string(payload))) {
		return auth.Principal{}, errBadSession
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 3 || f[0] != sessionVersion {
		return auth.Principal{}, errBadSession
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || time.Now().Unix() >= exp {
		return auth.Principal{}, errBadSession
	}
	p, err := s.auth.TokenPrincipal(r.Context(), f[1])
	if err != nil {
		return auth.Principal{}, err
	}
	return p, nil
}

// setSession sets the session cookie for p's token.
func setSession(w http.ResponseWriter, r *http.Request, value string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: riverUIPrefix,
		Expires: exp, MaxAge: int(time.Until(exp).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r),
	})
}

// clearSession removes the session cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: riverUIPrefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r),
	})
}

// isUnavailable reports whether err says the credential could not be
// checked right now (not that it is bad).
func isUnavailable(err error) bool {
	p := jobs.ProblemOf(err)
	return p != nil && p.Kind == jobs.KindUnavailable || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// signInForm serves /riverui/signin: POST signs in; any other method is a
// path that does not exist.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.notThere(w, r)
		return
	}
	if !sameOrigin(r) {
		refuseCrossOrigin(w)
		return
	}
	if len(s.cfg.SessionKey) == 0 {
		s.signInPage(w, r, http.StatusServiceUnavailable, "Browser sign-in is not configured on this server.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, err := s.auth.Authenticate(r.Context(), token)
	switch {
	case isUnavailable(err):
		s.signInPage(w, r, http.StatusServiceUnavailable, "The server cannot check tokens right now; try again shortly.")
		return
	case err != nil || !p.Admin:
		s.signInPage(w, r, http.StatusUnauthorized, "That is not a valid admin token.")
		return
	case !strings.HasPrefix(p.Credential, "tok_"):
		s.signInPage(w, r, http.StatusUnauthorized, "Sign in with an admin API token (aijobs token create --admin); a JWT goes in the Authorization header.")
		return
	}
	exp := time.Now().Add(SessionTTL)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires
	}
	setSession(w, r, s.signSession(p.Credential, exp), exp)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, riverUIPrefix+"/", http.StatusSeeOther)
}

// signOutForm serves /riverui/signout: GET shows a sign-out button to a
// signed-in admin, POST clears the cookie. To anyone else it is a path that
// does not exist.
func (s *Server) signOutForm(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		if !sameOrigin(r) {
			refuseCrossOrigin(w)
			return
		}
		clearSession(w, r)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, riverUIPrefix+"/", http.StatusSeeOther)
	case http.MethodGet, http.MethodHead:
		p, _, err := s.riverUIPrincipal(r)
		if err != nil || !p.Admin {
			s.notThere(w, r)
			return
		}
		s.renderPage(w, http.StatusOK, pageData{Title: "aijobs admin sign-out", SignOut: true})
	default:
		s.notThere(w, r)
	}
}

// signInPage shows the sign-in form with status and an optional message.
func (s *Server) signInPage(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	s.renderPage(w, status, pageData{Title: "aijobs admin sign-in", Message: msg})
}

// pageData fills pageTemplate.
type pageData struct {
	Title, Message string
	SignOut        bool
}

func (s *Server) renderPage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	frameHeaders(w)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := template.Must(template.New("page").Parse(pageHTML)).Execute(w, d); err != nil {
		s.log.Warn("sign-in page", "error", err.Error())
	}
}

// pageHTML is the sign-in (and sign-out) page's template. It names no
// product behind it: before sign-in nobody learns what the admin pages are.
const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}
input,button{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}
.msg{color:#a00}</style></head><body>
<h1>{{.Title}}</h1>
{{if .Message}}<p class="msg" role="alert">{{.Message}}</p>{{end}}
{{if .SignOut}}<form method="post" action="signout"><button type="submit">Sign out</button></form>
{{else}}<form method="post" action="signin">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Sign in</button></form>{{end}}
</body></html>
`
