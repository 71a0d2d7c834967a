package api

// River UI (riverqueue.com/riverui) under /riverui/, for admins only.
//
// Who gets in: a request with an admin credential — an admin API token or a
// JWT with the admin claim in "Authorization: Bearer …" (scripts), or an
// admin session cookie (people, see signin.go). Everyone else — no
// credential, a user's, a revoked or expired one, a stream token — gets
// what a path that does not exist gets, for every path under /riverui/ and
// every method, with one exception: a browser that sends no credential at
// all and asks for /riverui/ itself gets the sign-in form, still with status
// 404. That page says "aijobs admin sign-in" and nothing of River UI.
//
// CSRF: requests that authenticate with the session cookie and may change
// state (any method but GET, HEAD and OPTIONS) must come from this server's
// own origin (Origin, or Referer without it); the cookie's SameSite=Strict
// is the second line. Bearer requests need no such check: a browser never
// adds that header on its own.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/aijobs/aijobs/auth"
)

// riverUIPrefix is where River UI is mounted.
const riverUIPrefix = "/riverui"

// NewRiverUI returns River UI for client's database, mounted at /riverui/
// (pass it as Config.RiverUI), and starts its background services, which
// run until ctx ends.
func NewRiverUI[TTx any](ctx context.Context, client *river.Client[TTx], log *slog.Logger) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    log,
		Prefix:    riverUIPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river ui: %w", err)
	}
	return h, nil
}

// riverUI guards Config.RiverUI: admins reach it, everyone else gets the
// answer of a path that does not exist (or, at /riverui/ itself, the
// sign-in form).
func (s *Server) riverUI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case riverUIPrefix:
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, riverUIPrefix+"/", http.StatusMovedPermanently)
				return
			}
			s.notThere(w, r)
			return
		case signInPath:
			s.signInForm(w, r)
			return
		case signOutPath:
			s.signOutForm(w, r)
			return
		}
		p, viaCookie, err := s.riverUIPrincipal(r)
		if err != nil || !p.Admin {
			if viaCookie && !isUnavailable(err) {
				clearSession(w, r) // revoked, expired or forged: the session is over
			}
			if r.URL.Path == riverUIPrefix+"/" && r.Header.Get("Authorization") == "" &&
				(r.Method == http.MethodGet || r.Method == http.MethodHead) {
				s.signInPage(w, r, http.StatusNotFound, "")
				return
			}
			s.notThere(w, r)
			return
		}
		if viaCookie && !safeMethod(r.Method) && !sameOrigin(r) {
			refuseCrossOrigin(w)
			return
		}
		frameHeaders(w)
		s.cfg.RiverUI.ServeHTTP(w, r)
	})
}

// riverUIPrincipal authenticates a River UI request: the bearer header when
// there is one (the cookie is then ignored), else the session cookie
// (viaCookie is then set, even when it is refused).
func (s *Server) riverUIPrincipal(r *http.Request) (p auth.Principal, viaCookie bool, err error) {
	if r.Header.Get("Authorization") != "" {
		p, err = s.user(r)
		return p, false, err
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return auth.Principal{}, false, err
	}
	p, err = s.session(r, c.Value)
	return p, true, err
}

// notThere answers what a path that does not exist answers: the
// dashboard's 404, or the mux's when there is no dashboard.
func (s *Server) notThere(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Dashboard != nil {
		s.cfg.Dashboard.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// safeMethod reports whether a method changes nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// requestOrigin is this server's origin as the browser sees it: https when
// the request came over TLS or through a proxy that says so
// (X-Forwarded-Proto), and the Host header.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if secureRequest(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// secureRequest reports whether the browser reached us over HTTPS.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

// sameOrigin reports whether a state-changing request comes from a page of
// this server: its Origin, or without one its Referer's origin, is ours. A
// request with neither is refused.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	return strings.EqualFold(origin, requestOrigin(r))
}

// refuseCrossOrigin answers a state-changing request from another origin.
func refuseCrossOrigin(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, map[string]string{"code": "cross_origin",
		"error": "refused: this request did not come from a page of this server"})
}

// frameHeaders keeps the admin pages out of other sites' frames and their
// URLs out of other sites' logs.
func frameHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
}
