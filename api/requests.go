package api

import (
	"bufio"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aijobs/aijobs/logs"
)

// RequestIDHeader carries a request's id: taken from the client when it is
// a usable id, else made here; sent back on every answer.
const RequestIDHeader = "X-Request-Id"

// observe is the outermost layer of every request: it gives the request an
// id, sent back in X-Request-Id and put on every log line of the request
// (logs.With), tells the Observer when it starts and how it ended (by the
// route pattern the mux matched, never the path with its ids), and logs it
// at debug level once it is answered.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = s.requestIDs.next()
		}
		w.Header().Set(RequestIDHeader, id)
		inner := r.WithContext(logs.With(r.Context(), slog.String("request_id", id)))
		s.obs.RequestStarted()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Also when a handler panics (http.ErrAbortHandler): the request
			// is over. The mux set the pattern on inner; like the mux, pass
			// it on to r for whoever wraps this handler.
			r.Pattern = inner.Pattern
			code, took := sw.status(), time.Since(start)
			s.obs.RequestDone(inner.Pattern, code, took)
			if s.log.Enabled(inner.Context(), slog.LevelDebug) { // spares building the line's attributes
				s.log.DebugContext(inner.Context(), "request", slog.String("method", r.Method), slog.String("route", inner.Pattern),
					slog.Int("status", code), slog.Duration("duration", took))
			}
		}()
		next.ServeHTTP(sw, inner)
	})
}

// requestIDs makes the ids of requests that come without one: a random
// prefix of this process and a counter, unique without a call to the
// system's random source per request (ids name requests; they are not
// secrets).
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: rand.Text()[:12]} }

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// validRequestID accepts 1 to 64 characters of letters, digits and . _ : -,
// which is what tracing systems and load balancers send; anything else
// could forge or break a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// statusWriter remembers the status of an answer. It keeps the writer's
// Flusher and Hijacker (SSE, the WebSocket of /cable) and Unwrap, for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// status is the answer's status: 200 when the handler wrote nothing.
func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
