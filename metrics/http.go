package metrics

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Wrap counts and times the requests h serves, by the route pattern that
// h's http.ServeMux matched (r.Pattern, set on the request h was given:
// "GET /api/v1/jobs/{id}", never the path with its id) and the status code.
// A request no pattern matched, or answered before the mux (a 431), is
// route "unmatched". The ResponseWriter keeps its Flusher and Hijacker
// (and Unwrap for http.ResponseController), so SSE and WebSocket work.
func (r *Registry) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Inc()
		defer r.inflight.Dec()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Also when h panics (http.ErrAbortHandler): the request is over.
			route := req.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			r.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			r.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, req)
	})
}

// statusWriter remembers the first status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
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

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker (the WebSocket of /cable).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
