package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// maxEvent bounds one server-sent event (and one line of the stream).
const maxEvent = 8 << 20

// errStalled cancels a stream that sent nothing for too long.
var errStalled = errors.New("stream stalled")

// Watch follows the job through its event stream (GET
// /api/v1/jobs/{id}/events) until an event says terminal (the job's last
// event, or a snapshot of a finished job), and returns the job's final
// snapshot.
//
// after is the last seq the caller has already seen; Watch sends it as
// Last-Event-ID, so the stream replays the job's events after it and then
// follows live: 0 replays the job's whole log, the output so far included.
// A negative after asks for no replay: the stream starts with a snapshot
// event of the job as it is. Where the server's log no longer reaches back to
// the position, the first event is a resync event carrying the full
// snapshot.
//
// onEvent, when not nil, is called from Watch's goroutine with each event,
// in seq order and once each: a dropped connection is resumed with
// Last-Event-ID after the server's retry: delay, and an event seen twice is
// not passed on twice.
//
// Streaming that is refused or blocked — an answer other than 200 or 204, a
// content type other than text/event-stream, no byte within ten seconds,
// events that cannot be decoded, or streams that keep ending without an
// event — makes Watch fall back to long-polling with Wait; onEvent then gets
// a snapshot event (Type jobtype.EventSnapshot, Job set) for each new version.
// 401 and 404 end Watch with ErrUnauthorized and ErrNotFound.
func (c *Client) Watch(ctx context.Context, id string, after int64, onEvent func(jobtype.Event)) (*Job, error) {
	w := &watcher{c: c, id: id, onEvent: onEvent, hasPos: after >= 0, pos: max(after, 0), retry: -1}
	drops := 0 // streams in a row that ended without an event
	for {
		end, n, err := w.stream(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("watch job %s: %w", id, ctx.Err())
		}
		switch end {
		case endFatal:
			return nil, fmt.Errorf("watch job %s: %w", id, err)
		case endTerminal, endGone:
			return w.final(ctx)
		case endRefused:
			return w.fallback(ctx)
		}
		if n > 0 {
			drops = 0
		} else if drops++; drops >= c.maxEmptyDrops {
			return w.fallback(ctx)
		}
		delay := w.retry
		if delay < 0 {
			delay = c.reconnectDelay
		}
		if drops > 0 {
			delay = c.backoff(drops-1, delay)
		}
		if err := c.sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("watch job %s: %w", id, err)
		}
	}
}

// streamEnd says how one stream connection ended.
type streamEnd int

const (
	endFatal    streamEnd = iota // an error Watch returns
	endTerminal                  // an event with terminal set arrived
	endGone                      // 204: the job ended and nothing is left to send
	endDropped                   // the connection ended early: resume it
	endRefused                   // streaming does not work here: long-poll
)

// watcher is the state of one Watch; only Watch's goroutine uses it.
type watcher struct {
	c       *Client
	id      string
	onEvent func(jobtype.Event)

	hasPos bool  // send pos as Last-Event-ID
	pos    int64 // the stream id of the last event received
	seq    int64 // the seq of the last event passed on
	state  jobtype.Job
	retry  time.Duration // the server's retry:, -1 until it sends one
}

// stream runs one connection of the event stream and reports how it ended
// and how many events it passed on.
func (w *watcher) stream(ctx context.Context) (streamEnd, int, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(w.c.firstByteTimeout, func() { cancel(errStalled) })
	defer stall.Stop()

	req, err := w.c.newRequest(cctx, http.MethodGet, jobPath(w.id)+"/events", nil)
	if err != nil {
		return endFatal, 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if w.hasPos {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(w.pos, 10))
	}
	resp, err := w.c.hc.Do(req)
	if err != nil {
		if errors.Is(context.Cause(cctx), errStalled) {
			return endRefused, 0, err
		}
		return endDropped, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		return endGone, 0, nil
	default:
		e := errorFrom(resp)
		if errors.Is(e, ErrNotFound) || errors.Is(e, ErrUnauthorized) {
			return endFatal, 0, e
		}
		return endRefused, 0, e
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return endRefused, 0, fmt.Errorf("stream has content type %q", resp.Header.Get("Content-Type"))
	}

	body := &stallReader{r: resp.Body, timer: stall, idle: w.c.idleTimeout}
	sr := newSSEReader(body, maxEvent)
	n := 0
	for {
		ev, err := sr.Next()
		if r := sr.Retry(); r >= 0 {
			w.retry = r
		}
		if err != nil {
			if !body.got && errors.Is(context.Cause(cctx), errStalled) {
				return endRefused, n, err
			}
			return endDropped, n, err
		}
		var je jobtype.Event
		if err := json.Unmarshal([]byte(ev.Data), &je); err != nil {
			return endRefused, n, fmt.Errorf("undecodable event %q: %w", ev.ID, err)
		}
		if w.deliver(ev.ID, je) {
			n++
		}
		if je.Terminal {
			return endTerminal, n, nil
		}
	}
}

func isSnapshot(ev jobtype.Event) bool {
	return ev.Type == jobtype.EventSnapshot || ev.Type == jobtype.EventResync
}

// deliver records the event's position, applies it to the job's state and
// passes it on, unless it was passed on before. It reports whether it did.
func (w *watcher) deliver(streamID string, ev jobtype.Event) bool {
	if id, err := strconv.ParseInt(streamID, 10, 64); err == nil && id >= 0 {
		w.pos, w.hasPos = id, true
	} else if ev.Seq > 0 {
		w.pos, w.hasPos = ev.Seq, true
	}
	if !isSnapshot(ev) && ev.Seq > 0 && ev.Seq <= w.seq {
		return false
	}
	w.seq = ev.Seq
	jobtype.Apply(&w.state, ev)
	if w.onEvent != nil {
		w.onEvent(ev)
	}
	return true
}

// final returns the job's final snapshot once its stream has ended. When
// the snapshot cannot be fetched, the state built from the events stands in
// for it.
func (w *watcher) final(ctx context.Context) (*Job, error) {
	job, err := w.c.Wait(ctx, w.id, nil)
	if err == nil {
		return job, nil
	}
	if ctx.Err() != nil || !w.state.Terminal {
		return nil, err
	}
	return &Job{Job: w.state}, nil
}

// fallback follows the job by long-polling, passing each new version on as
// a snapshot event.
func (w *watcher) fallback(ctx context.Context) (*Job, error) {
	job, err := w.c.Wait(ctx, w.id, func(j *Job) {
		if j.Seq <= w.seq {
			return // nothing the caller has not seen
		}
		ev := jobtype.Event{
			JobID: j.ID, Seq: j.Seq, Type: jobtype.EventSnapshot, Terminal: j.Terminal, At: time.Now().UTC(),
			Status: j.Status, Progress: j.Progress, Attempt: j.Attempt, Intent: j.Intent,
			Result: j.Result, Error: j.Error, RetryAt: j.RetryAt,
		}
		snap := j.Job
		ev.Job = &snap
		w.deliver("", ev)
	})
	return job, err
}

// stallReader pushes a stream's stall timer back whenever bytes arrive.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
	got   bool // some bytes arrived
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.got = true
		s.timer.Reset(s.idle)
	}
	return n, err
}
