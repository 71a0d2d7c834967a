package api

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/aijobs/aijobs/logs"
)

// RequestIDHeader carries a request's id: taken from the client when it is
// a usable id, else made here; sent back on every answer.
const RequestIDHeader = "X-Request-Id"

// requestID gives every request an id, sends it back in X-Request-Id and
// puts it on every log line of the request (logs.With), and logs each
// request at debug level once it is answered.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		r = r.WithContext(logs.With(r.Context(), slog.String("request_id", id)))
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK // nothing written
		}
		s.log.DebugContext(r.Context(), "request", slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
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

// statusWriter records the status of an answer. Unwrap lets
// http.ResponseController and WebSocket upgrades reach the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
