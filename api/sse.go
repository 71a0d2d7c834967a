package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aijobs/aijobs/aside"
	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

// sseWriter writes one Server-Sent Events stream. Writes carry a deadline so
// a stalled client cannot hold a goroutine forever.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

const sseWriteTimeout = 10 * time.Second

func newSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, no-transform")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer
	h.Set("Connection", "keep-alive")
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	w.WriteHeader(http.StatusOK)
	// retry: how long EventSource waits before reconnecting.
	if err := s.write([]byte("retry: 2000\n\n")); err != nil {
		return nil, err
	}
	return s, nil
}

// clientWriteError is a write to the client that failed: a client gone or
// too slow, not a server fault.
type clientWriteError struct{ err error }

func (e *clientWriteError) Error() string { return "write to the client: " + e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

// write writes parts and flushes them. They go through the response's
// buffer, so an event's shared JSON is written as it is, not copied into a
// frame first.
func (s *sseWriter) write(parts ...[]byte) error {
	s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	for _, p := range parts {
		if _, err := s.w.Write(p); err != nil {
			return &clientWriteError{err}
		}
	}
	if err := s.rc.Flush(); err != nil {
		return &clientWriteError{err}
	}
	return nil
}

// event writes ev with the given id. Its JSON is encoded once per node,
// for every stream that sends it (jobs.Shared).
func (s *sseWriter) event(id int64, ev *jobs.Shared) error {
	data, err := ev.JSON()
	if err != nil {
		return err
	}
	head := strconv.AppendInt(append(make([]byte, 0, 40), "id: "...), id, 10)
	return s.write(append(head, "\ndata: "...), data, []byte("\n\n"))
}

func (s *sseWriter) heartbeat() error { return s.write([]byte(": hb\n\n")) }

// streamContext ends with the request or when the server shuts down. It
// costs no goroutine per stream (context.AfterFunc), which matters at ten
// thousand idle streams.
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.shutdown, cancel)
	return ctx, func() { stop(); cancel() }
}

// endStream turns how a watch ended into the handler's result: a client that
// went away, fell behind or was told to reconnect is not an error.
func endStream(err error) error {
	if err == nil || errors.Is(err, jobs.ErrSlow) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	var (
		p     auth.Principal
		after int64
		job   jobs.Job
	)
	// Aside, so that the stream's goroutine parks with a small stack.
	err = aside.Do(func() (err error) {
		if p, err = s.streamUser(r, id); err != nil {
			return err
		}
		if after, err = parsePosition(r); err != nil {
			return err
		}
		job, err = s.svc.Get(r.Context(), p.ID, id)
		return err
	})
	if err != nil {
		return err
	}
	userID := p.ID
	if job.Terminal && after >= job.Seq {
		// Nothing more will ever come: 204 tells EventSource not to reconnect.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return s.streamSSE(w, r, p, StreamSSE, func(ctx context.Context, opts jobs.WatchOptions, sse *sseWriter) error {
		opts.After = after
		return s.svc.Watch(ctx, userID, id, opts, func(ev *jobs.Shared) error { return sse.event(ev.Seq, ev) })
	})
}

func (s *Server) userEvents(w http.ResponseWriter, r *http.Request) error {
	var p auth.Principal
	err := aside.Do(func() (err error) { p, err = s.streamUser(r, ""); return err }) // see jobEvents
	if err != nil {
		return err
	}
	userID := p.ID
	after, err := parsePosition(r)
	if err != nil {
		return err
	}
	return s.streamSSE(w, r, p, StreamUserSSE, func(ctx context.Context, opts jobs.WatchOptions, sse *sseWriter) error {
		opts.After = after
		return s.svc.WatchUser(ctx, userID, opts, func(ev *jobs.Shared) error { return sse.event(ev.UserSeq, ev) })
	})
}

// streamSSE counts the stream (of kind StreamSSE or StreamUserSSE) against
// the user's limit, opens it and runs
// watch until the job ends, the client goes or the server shuts down. Once
// the stream has begun, an error can no longer be an HTTP status and a JSON
// body: it ends the stream (EventSource reconnects from its last id) and is
// logged. It also ends, within about a second, when p's credential is
// revoked or expires.
func (s *Server) streamSSE(w http.ResponseWriter, r *http.Request, p auth.Principal, kind string, watch func(context.Context, jobs.WatchOptions, *sseWriter) error) error {
	release, err := s.openStream(p.ID, kind)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := s.streamContext(r)
	defer cancel()
	ctx, unhold := s.auth.Hold(ctx, p)
	defer unhold()
	var sse *sseWriter
	err = aside.Do(func() (err error) { sse, err = newSSE(w); return err }) // see jobEvents
	if err != nil {
		return nil // the client is gone before the first byte
	}
	err = endStream(watch(ctx, jobs.WatchOptions{Heartbeat: s.cfg.Heartbeat, Beat: sse.heartbeat}, sse))
	var clientErr *clientWriteError
	switch {
	case err == nil:
	case errors.As(err, &clientErr) || r.Context().Err() != nil:
		s.log.DebugContext(r.Context(), "event stream client gone", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	default:
		s.log.WarnContext(r.Context(), "event stream ended by an error", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	return nil
}
