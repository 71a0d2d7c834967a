// Package api is aijobs' HTTP surface: the REST endpoints with long-polling,
// Server-Sent Events, the ActionCable-compatible WebSocket, authentication,
// metrics and the OpenAPI document. Every handler goes through jobs.Service.
package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/beat"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/webhook"
)

// Defaults of Config, also the defaults of `aijobs serve`'s flags.
const (
	DefaultSubmitRate  = 10  // submits per second per user and node
	DefaultSubmitBurst = 20  // submits at once above the rate
	DefaultMaxStreams  = 100 // open streams per user and node
)

// Config configures the API.
type Config struct {
	// Auth says who each request comes from, mints and checks stream
	// tokens, and ends the streams of a credential that stops working.
	// Required, except with OpsOnly.
	Auth *auth.Service
	// MaxBody is the largest request body accepted. Defaults to 64 KiB.
	MaxBody int64
	// MaxHeader is the largest request line and headers accepted, answered
	// with the usual JSON error (431) above it. Defaults to 64 KiB. The
	// http.Server's own MaxHeaderBytes must be larger (HardMaxHeader), or
	// net/http answers first, in plain text.
	MaxHeader int
	// SubmitRate is how many submits per second one user may make, with
	// bursts of SubmitBurst. Defaults to 10 and 20.
	SubmitRate  float64
	SubmitBurst int
	// MaxStreams is how many connection-holding things one user may have
	// open at once on this node: long-polls, SSE streams, /cable
	// connections and each /cable subscription. Defaults to 100.
	MaxStreams int
	// AllowedOrigins are the browser Origins besides the server's own that
	// may call the API (CORS) and open /cable ("*" allows any).
	AllowedOrigins []string
	// PollInterval is the suggested poll interval. Defaults to 2 s.
	PollInterval time.Duration
	// Heartbeat is the SSE heartbeat interval. Defaults to 15 s.
	Heartbeat time.Duration
	// CablePing is the ActionCable ping interval. Defaults to 3 s.
	CablePing time.Duration
	// Ready are the readiness checks of /readyz, run at once, each given
	// the same two seconds. The server is ready when every one passes; the
	// body names the first in this order that fails (see Check).
	Ready []Check
	// Dashboard serves "/" (nil: none).
	Dashboard http.Handler
	// RiverUI is River UI (NewRiverUI), served under /riverui/ to admins
	// only (nil: none). See riverui.go.
	RiverUI http.Handler
	// SessionKey signs the admin session cookie of the browser sign-in at
	// /riverui/ (derive it with secret.Keys.Derive(SessionKeyPurpose));
	// without it only a Bearer header reaches River UI.
	SessionKey []byte
	// Metrics serves "/metrics" (nil: none).
	Metrics http.Handler
	// Observer is told of streams opened and closed and of 304 answers
	// (nil: nobody).
	Observer Observer
	// Stats serves GET /api/v1/admin/stats, the operator page's data (nil:
	// that route answers 404 like a path that does not exist).
	Stats Stats
	// Webhooks serves the webhook secret, deliveries and default webhooks
	// (nil: those paths answer 404).
	Webhooks *webhook.Webhooks
	// OpsOnly serves only /healthz, /readyz, /openapi.json and /metrics:
	// the HTTP side of a worker-only process.
	OpsOnly bool
	Logger  *slog.Logger
}

// Check is one named readiness check of /readyz.
type Check struct {
	// Name names the check in /readyz's body: "database", "pool", …
	Name string
	// Func returns nil when ready. Of its error only the message of a
	// jobs.Problem in it is shown (written for anyone: it must name no
	// user, host, database or driver text); the whole error is logged.
	Func func(context.Context) error
}

// readyTimeout bounds the readiness checks.
const readyTimeout = 2 * time.Second

// Server is the HTTP API.
type Server struct {
	svc  *jobs.Service
	auth *auth.Service
	cfg  Config
	log  *slog.Logger
	obs  Observer
	// requestIDs names the requests that come without an id.
	requestIDs *requestIDs

	// shutdown ends when the server is going away: streams tell their
	// clients to reconnect and end.
	shutdown    context.Context
	shutdownNow context.CancelFunc
	// hijacked counts WebSocket connections still being served.
	hijacked sync.WaitGroup

	limits *limits
	// pings beats every /cable connection's ping, one timer for all.
	pings *beat.Wheel

	// lastUnavailable (unix nanoseconds) and unlogged rate-limit the log of
	// 503s: at most one line a second in an outage, saying how many more.
	lastUnavailable atomic.Int64
	unlogged        atomic.Int64
}

// New returns the API server for svc.
func New(svc *jobs.Service, cfg Config) *Server {
	cfg.MaxBody = cmp.Or(cfg.MaxBody, 64<<10)
	cfg.MaxHeader = cmp.Or(cfg.MaxHeader, 64<<10)
	cfg.SubmitRate = cmp.Or(cfg.SubmitRate, DefaultSubmitRate)
	cfg.SubmitBurst = cmp.Or(cfg.SubmitBurst, DefaultSubmitBurst)
	cfg.MaxStreams = cmp.Or(cfg.MaxStreams, DefaultMaxStreams)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 2*time.Second)
	cfg.Heartbeat = cmp.Or(cfg.Heartbeat, 15*time.Second)
	cfg.CablePing = cmp.Or(cfg.CablePing, 3*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	var obs Observer = nopObserver{}
	if cfg.Observer != nil {
		obs = cfg.Observer
	}
	shutdown, shutdownNow := context.WithCancel(context.Background())
	return &Server{svc: svc, auth: cfg.Auth, cfg: cfg, log: cfg.Logger, obs: obs, requestIDs: newRequestIDs(), shutdown: shutdown, shutdownNow: shutdownNow,
		limits: newLimits(cfg.SubmitRate, cfg.SubmitBurst, cfg.MaxStreams), pings: beat.New(cfg.CablePing)}
}

// Shutdown tells every open stream to have its client reconnect, and ends
// it. Call it before http.Server.Shutdown, which does not wait for streams.
func (s *Server) Shutdown() { s.shutdownNow() }

// Wait waits, until ctx ends, for the WebSocket connections that Shutdown
// told to go; http.Server.Shutdown does not track them.
func (s *Server) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.hijacked.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

type route struct {
	method, path string
	h            handlerFunc
}

// routes lists every endpoint; openapi.json documents exactly these (a test
// checks it), plus /metrics and the dashboard at /.
func (s *Server) routes() []route {
	return append([]route{
		{"POST", "/api/v1/ai/proxy", s.submit},
		{"GET", "/api/v1/jobs/{id}", s.getJob},
		{"GET", "/api/v1/jobs", s.listJobs},
		{"POST", "/api/v1/jobs/{id}/cancel", s.cancelJob},
		{"DELETE", "/api/v1/jobs/{id}", s.cancelJob},
		{"GET", "/api/v1/ai/usage", s.usage},
		{"POST", "/api/v1/stream_tokens", s.streamToken},
		{"GET", "/api/v1/jobs/{id}/events", s.jobEvents},
		{"GET", "/api/v1/events", s.userEvents},
		{"POST", "/api/v1/webhooks/secret", s.rotateWebhookSecret},
		{"GET", "/api/v1/jobs/{id}/deliveries", s.jobDeliveries},
		{"GET", "/cable", s.cable},
		{"GET", "/healthz", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{"GET", "/readyz", s.ready},
		{"GET", "/openapi.json", s.openapi},
	}, s.adminRoutes()...)
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		if s.cfg.OpsOnly && strings.HasPrefix(r.path, "/api/") || s.cfg.OpsOnly && r.path == "/cable" {
			continue
		}
		mux.Handle(r.method+" "+r.path, s.adapt(r.h))
	}
	mux.Handle("/api/", s.adapt(func(w http.ResponseWriter, r *http.Request) error { return noEndpoint(r) }))
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	if s.cfg.RiverUI != nil && !s.cfg.OpsOnly {
		mux.Handle(riverUIPrefix, s.riverUI())
		mux.Handle(riverUIPrefix+"/", s.riverUI())
	}
	if s.cfg.Dashboard != nil && !s.cfg.OpsOnly {
		mux.Handle("/", s.cfg.Dashboard)
	}
	return s.observe(s.limitHeader(s.cors(mux)))
}

// noEndpoint is the answer to a path (or method) the API does not have; a
// non-admin gets exactly it from the admin API too.
func noEndpoint(r *http.Request) error {
	return jobs.Errorf(jobs.KindNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path)
}

// HardMaxHeader is the http.Server MaxHeaderBytes to serve the API with:
// above Config.MaxHeader, up to this, a request gets the API's JSON 431;
// beyond it net/http refuses the request itself, in plain text (it writes
// that answer before any handler runs).
const HardMaxHeader = 1 << 20

// limitHeader answers a request whose request line and headers are larger
// than MaxHeader with a JSON 431.
func (s *Server) limitHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host)
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 4 // ": " and CRLF
			}
		}
		if n > s.cfg.MaxHeader {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusRequestHeaderFieldsTooLarge, map[string]string{"code": "headers_too_large",
				"error": fmt.Sprintf("the request line and headers are larger than %d bytes", s.cfg.MaxHeader)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cors lets browser apps on the allowed origins call the API. Tokens travel
// in the Authorization header, never in cookies, so no credentials mode.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !s.originAllowed(origin) || !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "ETag, Location, Retry-After, X-Poll-Interval")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, If-None-Match, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether a browser Origin is in AllowedOrigins: "*",
// a full origin ("https://app.example.com") or a bare host
// ("app.example.com:8443").
func (s *Server) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	for _, a := range s.cfg.AllowedOrigins {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		switch {
		case a == "*":
			return true
		case err != nil || u.Host == "":
			continue
		case strings.Contains(a, "://"):
			if strings.EqualFold(a, u.Scheme+"://"+u.Host) {
				return true
			}
		case a != "" && strings.EqualFold(a, u.Host):
			return true
		}
	}
	return false
}

// handlerFunc is a handler that returns its error; adapt renders it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// adapt renders a handler's error as the API's JSON error with the right
// status, logs what only the log may see, and turns a panic into a 500
// without taking the process down.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic in handler", slog.String("path", r.URL.Path), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				writeError(w, &jobs.Problem{Kind: jobs.KindInternal, Code: "internal", Message: "internal error"})
			}
		}()
		err := checkQuery(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			p := jobs.ProblemOf(err)
			switch {
			case p == nil || p.Kind == jobs.KindInternal:
				if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
					return // the client went away
				}
				s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
				p = &jobs.Problem{Kind: jobs.KindInternal, Code: "internal", Message: "internal error"}
			case p.Kind == jobs.KindUnavailable:
				s.logUnavailable(r, p.Code, err)
			}
			writeError(w, p)
		}
	})
}

// logUnavailable logs why a request got a 503 (what the client is not
// told), at most once a second.
func (s *Server) logUnavailable(r *http.Request, code string, err error) {
	now, last := time.Now().UnixNano(), s.lastUnavailable.Load()
	if now-last < int64(time.Second) || !s.lastUnavailable.CompareAndSwap(last, now) {
		s.unlogged.Add(1)
		return
	}
	s.log.WarnContext(r.Context(), "unavailable", slog.String("code", code), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("error", err.Error()), slog.Int64("more_since_last", s.unlogged.Swap(0)))
}

var kindStatus = map[jobs.Kind]int{
	jobs.KindInternal:     http.StatusInternalServerError,
	jobs.KindInvalid:      http.StatusUnprocessableEntity,
	jobs.KindMalformed:    http.StatusBadRequest,
	jobs.KindTooLarge:     http.StatusRequestEntityTooLarge,
	jobs.KindUnauthorized: http.StatusUnauthorized,
	jobs.KindNotFound:     http.StatusNotFound,
	jobs.KindConflict:     http.StatusConflict,
	jobs.KindLimited:      http.StatusTooManyRequests,
	jobs.KindUnavailable:  http.StatusServiceUnavailable,
}

func writeError(w http.ResponseWriter, p *jobs.Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	if p.Kind == jobs.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aijobs"`)
	}
	writeJSON(w, kindStatus[p.Kind], map[string]string{"error": p.Message, "code": p.Code})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// bearer returns the token of an Authorization: Bearer header ("" when
// there is none, or it is not text, which no token is).
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && validText(h) {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// user authenticates the request's bearer credential (header only): an API
// token or a JWT.
func (s *Server) user(r *http.Request) (auth.Principal, error) {
	return s.auth.Authenticate(r.Context(), bearer(r))
}

// streamUser authenticates a stream request: a bearer credential in the
// header, or a stream token in ?token= (never an API token in a URL). jobID
// is the job the stream is for ("" for the user's stream).
func (s *Server) streamUser(r *http.Request, jobID string) (auth.Principal, error) {
	if r.Header.Get("Authorization") != "" {
		return s.user(r)
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		return auth.Principal{}, jobs.ErrUnauthorized
	}
	a, err := s.auth.VerifyStreamToken(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
	}
	if a.JobID != "" && a.JobID != jobID {
		return auth.Principal{}, jobs.Errorf(jobs.KindUnauthorized, "unauthorized", "this stream token is for another job")
	}
	return a.Principal, nil
}

// readyBody is /readyz's answer. Status is "ready" or "unavailable";
// Checks maps each check's name to "ok" or "failed"; when not ready, Failed
// names the first failing check (in Config.Ready's order) and Error says
// what is wrong with it.
type readyBody struct {
	Status string            `json:"status"`
	Failed string            `json:"failed,omitempty"`
	Error  string            `json:"error,omitempty"`
	Checks map[string]string `json:"checks"`
}

// ready serves /readyz: 200 when every check passes, else 503. The body
// never carries an error's details (they may name a user, host or
// database): those are logged.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	errs := make([]error, len(s.cfg.Ready))
	var wg sync.WaitGroup
	for i, c := range s.cfg.Ready {
		wg.Go(func() { errs[i] = c.Func(ctx) })
	}
	wg.Wait()
	body := readyBody{Status: "ready", Checks: make(map[string]string, len(s.cfg.Ready))}
	for i, c := range s.cfg.Ready {
		if errs[i] == nil {
			body.Checks[c.Name] = "ok"
			continue
		}
		body.Checks[c.Name] = "failed"
		s.log.WarnContext(r.Context(), "not ready", slog.String("check", c.Name), slog.String("error", errs[i].Error()))
		if body.Failed == "" {
			body.Status, body.Failed, body.Error = "unavailable", c.Name, "the "+c.Name+" check failed"
			if p := jobs.ProblemOf(errs[i]); p != nil {
				body.Error = p.Message
			}
		}
	}
	if body.Failed != "" {
		return writeJSON(w, http.StatusServiceUnavailable, body)
	}
	return writeJSON(w, http.StatusOK, body)
}
