package api

// The ActionCable-compatible WebSocket: GET /cable speaks the
// actioncable-v1-json subprotocol of @rails/actioncable (see
// shared/ACTIONCABLE.md), with one channel, AiJobChannel, whose messages are
// job snapshots. Each connection has:
//   - the handler's goroutine, which reads and dispatches client frames;
//   - one writer goroutine, the only one that writes to the socket: it sends
//     the queued frames, a ping every Config.CablePing (taken before queued
//     frames, so pings never wait behind data), and the disconnect on
//     server shutdown;
//   - one goroutine per subscription, which follows the job (or the user's
//     jobs) through jobs.Service and queues snapshots.
// The outgoing queue is bounded: a client that leaves it full for longer than
// the write timeout is too slow and is disconnected (it reconnects,
// resubscribes and gets the current snapshot, so it loses nothing).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/jobs"
)

const (
	// cableProtocol is the only WebSocket subprotocol /cable speaks.
	cableProtocol = "actioncable-v1-json"
	// cableChannel is the only channel.
	cableChannel = "AiJobChannel"
	// cableQueue is how many frames may wait for a slow client.
	cableQueue = 64
	// cableReadLimit is the largest client frame accepted.
	cableReadLimit = 64 << 10
	// cableMaxSubs caps the subscriptions of one connection.
	cableMaxSubs = 100
	// cableMaxJobs is how many jobs a subscription to all of a user's jobs
	// remembers the last snapshot of before it forgets the finished ones.
	cableMaxJobs = 10000
)

// errCableSlow ends a connection whose client does not read fast enough.
var errCableSlow = errors.New("cable client too slow")

// cableFrame is one client → server frame.
type cableFrame struct {
	// Command is subscribe, unsubscribe or message.
	Command string
	// Identifier is the identifier's decoded string (a JSON document).
	Identifier string
	// RawIdentifier is the identifier's JSON string literal exactly as
	// received, echoed in every frame about this subscription so that the
	// client's byte-for-byte routing matches.
	RawIdentifier json.RawMessage
	// Data is the data of a message command.
	Data string
}

// parseCableFrame parses one client frame. It never panics; an error means
// the frame is malformed as a whole and cannot be answered.
func parseCableFrame(b []byte) (cableFrame, error) {
	var f struct {
		Command    *string         `json:"command"`
		Identifier json.RawMessage `json:"identifier"`
		Data       json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return cableFrame{}, errors.New("frame is not a JSON object")
	}
	if f.Command == nil {
		return cableFrame{}, errors.New("frame has no command")
	}
	out := cableFrame{Command: *f.Command}
	raw := bytes.TrimSpace(f.Identifier)
	if len(raw) == 0 || raw[0] != '"' {
		return cableFrame{}, errors.New("identifier must be a string")
	}
	if !utf8.Valid(raw) {
		// Echoed as is, it would make an invalid text frame.
		return cableFrame{}, errors.New("identifier is not valid UTF-8")
	}
	if err := json.Unmarshal(raw, &out.Identifier); err != nil {
		return cableFrame{}, errors.New("identifier must be a string")
	}
	out.RawIdentifier = append(json.RawMessage(nil), raw...)
	if d := bytes.TrimSpace(f.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if err := json.Unmarshal(d, &out.Data); err != nil {
			return cableFrame{}, errors.New("data must be a string")
		}
	}
	return out, nil
}

// parseCableIdentifier reads a subscription identifier: a JSON object with
// "channel": "AiJobChannel" and an optional string "job_id" (absent or null:
// all of the user's jobs). Other keys are ignored.
func parseCableIdentifier(id string) (jobID string, err error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(id), &v); err != nil || v == nil {
		return "", errors.New("identifier is not a JSON object")
	}
	var channel string
	if err := json.Unmarshal(v["channel"], &channel); err != nil || channel != cableChannel {
		return "", errors.New("unknown channel")
	}
	raw, ok := v["job_id"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", nil
	}
	if err := json.Unmarshal(raw, &jobID); err != nil || jobID == "" {
		return "", errors.New("job_id must be a non-empty string")
	}
	return jobID, nil
}

// Server → client frames.
var (
	cableWelcome       = []byte(`{"type":"welcome"}`)
	cableUnauthorized  = []byte(`{"type":"disconnect","reason":"unauthorized","reconnect":false}`)
	cableTooMany       = []byte(`{"type":"disconnect","reason":"too_many_streams","reconnect":true}`)
	cableServerRestart = []byte(`{"type":"disconnect","reason":"server_restart","reconnect":true}`)
)

func cablePingFrame(t time.Time) []byte {
	return []byte(`{"type":"ping","message":` + strconv.FormatInt(t.Unix(), 10) + `}`)
}

func cableTypeFrame(rawID json.RawMessage, typ string) []byte {
	b := make([]byte, 0, len(rawID)+48)
	b = append(b, `{"identifier":`...)
	b = append(b, rawID...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	return append(b, `"}`...)
}

func cableDataFrame(rawID json.RawMessage, msg []byte) []byte {
	b := make([]byte, 0, len(rawID)+len(msg)+28)
	b = append(b, `{"identifier":`...)
	b = append(b, rawID...)
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// cableOriginAllowed reports whether a WebSocket from this Origin may
// connect: no Origin (not a browser), the request's own host, or one of
// Config.AllowedOrigins — "*", a full origin ("https://app.example.com") or a
// bare host ("app.example.com:8443").
func (s *Server) cableOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.originAllowed(origin)
}

// offersCableProtocol reports whether the client offered actioncable-v1-json.
func offersCableProtocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), cableProtocol) {
				return true
			}
		}
	}
	return false
}

// cableAuth authenticates a /cable request: an API token in the
// Authorization header, or a stream token in ?token= (never an API token in
// a URL). scope is the one job a job-scoped stream token allows ("" for any
// of the user's jobs).
func (s *Server) cableAuth(r *http.Request) (userID, scope string, err error) {
	if r.Header.Get("Authorization") != "" {
		u, err := s.user(r)
		return u.ID, "", err
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		return "", "", jobs.ErrUnauthorized
	}
	a, err := s.svc.VerifyStreamToken(tok)
	if err != nil {
		return "", "", err
	}
	return a.UserID, a.JobID, nil
}

// cable serves GET /cable. Refusals that can be answered in HTTP are: an
// Origin that is not allowed (403 origin_not_allowed) and a client that does
// not offer actioncable-v1-json (400 unsupported_protocol). A bad token, or
// too many streams, is answered the ActionCable way, after the upgrade, with
// a disconnect frame ("unauthorized", no reconnect; "too_many_streams",
// reconnect), so that the client does (or does not) retry accordingly.
func (s *Server) cable(w http.ResponseWriter, r *http.Request) error {
	if !s.cableOriginAllowed(r) {
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "this Origin may not open /cable (see --allowed-origins)", "code": "origin_not_allowed"})
	}
	if !offersCableProtocol(r) {
		return jobs.Errorf(jobs.KindMalformed, "unsupported_protocol", "/cable is a WebSocket speaking the %s subprotocol; offer it in Sec-WebSocket-Protocol", cableProtocol)
	}
	userID, scope, authErr := s.cableAuth(r)
	// The request context must not be used once the connection is
	// hijacked; the connection has its own, ended by its goroutines.
	base := context.WithoutCancel(r.Context())
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{cableProtocol}, InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered
	}
	// http.Server.Shutdown does not wait for hijacked connections: Wait does.
	s.hijacked.Add(1)
	defer s.hijacked.Done()
	ws.SetReadLimit(cableReadLimit)
	if ws.Subprotocol() != cableProtocol {
		ws.Close(websocket.StatusPolicyViolation, "subprotocol "+cableProtocol+" required")
		return nil
	}
	if authErr != nil {
		cableRefuse(base, ws, cableUnauthorized, websocket.StatusPolicyViolation, "unauthorized")
		return nil
	}
	release, err := s.limits.openStream(userID)
	if err != nil {
		cableRefuse(base, ws, cableTooMany, websocket.StatusTryAgainLater, "too many streams")
		return nil
	}
	defer release()
	ctx, cancel := context.WithCancelCause(base)
	c := &cableConn{s: s, ws: ws, userID: userID, scope: scope, ctx: ctx, cancel: cancel,
		out: make(chan []byte, cableQueue), subs: map[string]*cableSub{},
		writeTimeout: max(2*s.cfg.CablePing, 5*time.Second)}
	c.serve()
	return nil
}

// cableRefuse sends one disconnect frame and closes.
func cableRefuse(ctx context.Context, ws *websocket.Conn, frame []byte, code websocket.StatusCode, reason string) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ws.Write(wctx, websocket.MessageText, frame); err != nil {
		ws.CloseNow()
		return
	}
	ws.Close(code, reason)
}

// cableConn is one /cable connection.
type cableConn struct {
	s      *Server
	ws     *websocket.Conn
	userID string
	scope  string // the only job a job-scoped stream token allows, or ""

	// ctx ends the connection; its cause says why.
	ctx    context.Context
	cancel context.CancelCauseFunc

	out          chan []byte
	writeTimeout time.Duration

	mu   sync.Mutex
	subs map[string]*cableSub // by decoded identifier; guarded by mu
	wg   sync.WaitGroup       // subscription goroutines
}

// cableSub is one subscription of a connection.
type cableSub struct {
	rawID  json.RawMessage
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *cableConn) serve() {
	c.out <- cableWelcome // the queue is empty
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.cancel(context.Canceled)
	c.mu.Lock()
	for _, sub := range c.subs {
		sub.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	<-writerDone
	c.ws.CloseNow()
	if cause := context.Cause(c.ctx); errors.Is(cause, errCableSlow) {
		c.s.log.Info("cable client too slow, disconnected", slog.String("user", c.userID))
	}
}

// readLoop reads and dispatches client frames until the connection ends.
func (c *cableConn) readLoop() {
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		f, err := parseCableFrame(b)
		if err != nil {
			c.s.log.Debug("cable: malformed frame ignored", slog.String("error", err.Error()))
			continue
		}
		switch f.Command {
		case "subscribe":
			c.subscribe(f)
		case "unsubscribe":
			c.unsubscribe(f)
		default:
			// "message" (AiJobChannel has no actions) and unknown commands.
		}
	}
}

// writeLoop is the only writer of the socket: queued frames, pings (first),
// and the disconnect on server shutdown.
func (c *cableConn) writeLoop() {
	ping := time.NewTicker(c.s.cfg.CablePing)
	defer ping.Stop()
	for {
		// Pings go before queued frames.
		select {
		case t := <-ping.C:
			if !c.write(cablePingFrame(t)) {
				return
			}
			continue
		default:
		}
		select {
		case t := <-ping.C:
			if !c.write(cablePingFrame(t)) {
				return
			}
		case b := <-c.out:
			if !c.write(b) {
				return
			}
		case <-c.s.shutdown:
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
			err := c.ws.Write(ctx, websocket.MessageText, cableServerRestart)
			cancel()
			if err == nil {
				c.ws.Close(websocket.StatusServiceRestart, "server restart")
			}
			c.cancel(context.Canceled)
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// write sends one frame; on failure it ends the connection.
func (c *cableConn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.writeTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.cancel(err)
		return false
	}
	return true
}

// enqueue queues a frame. A full queue gets a grace of writeTimeout (a burst
// of snapshots, a socket write in progress); a client that leaves it full
// that long is too slow and is disconnected. It gives up when done closes.
func (c *cableConn) enqueue(b []byte, done <-chan struct{}) error {
	select {
	case c.out <- b:
		return nil
	default:
	}
	t := time.NewTimer(c.writeTimeout)
	defer t.Stop()
	select {
	case c.out <- b:
		return nil
	case <-t.C:
		c.cancel(errCableSlow)
		return errCableSlow
	case <-done:
		return context.Canceled
	}
}

// send queues a frame of sub, unless sub has ended: nothing is queued once
// an unsubscribe has been read.
func (c *cableConn) send(sub *cableSub, b []byte) error {
	c.mu.Lock()
	if err := sub.ctx.Err(); err != nil {
		c.mu.Unlock()
		return err
	}
	select {
	case c.out <- b:
		c.mu.Unlock()
		return nil
	default:
	}
	c.mu.Unlock()
	return c.enqueue(b, sub.ctx.Done())
}

func (c *cableConn) subscribe(f cableFrame) {
	c.mu.Lock()
	if _, ok := c.subs[f.Identifier]; ok {
		c.mu.Unlock()
		return // already subscribed (or being confirmed): no second confirm
	}
	jobID, err := parseCableIdentifier(f.Identifier)
	if err == nil && c.scope != "" && jobID != c.scope {
		err = errors.New("this stream token is for another job")
	}
	if err == nil && len(c.subs) >= cableMaxSubs {
		err = errors.New("too many subscriptions on this connection")
	}
	if err != nil {
		c.mu.Unlock()
		c.enqueue(cableTypeFrame(f.RawIdentifier, "reject_subscription"), c.ctx.Done())
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	sub := &cableSub{rawID: f.RawIdentifier, ctx: ctx, cancel: cancel}
	c.subs[f.Identifier] = sub
	c.mu.Unlock()
	c.wg.Go(func() {
		defer cancel()
		var err error
		if jobID != "" {
			err = c.followJob(sub, jobID)
		} else {
			err = c.followUser(sub)
		}
		if errors.Is(err, errCableReject) {
			c.mu.Lock()
			rejected := c.subs[f.Identifier] == sub && sub.ctx.Err() == nil
			if rejected {
				delete(c.subs, f.Identifier)
			}
			c.mu.Unlock()
			if rejected {
				c.enqueue(cableTypeFrame(sub.rawID, "reject_subscription"), c.ctx.Done())
			}
		}
	})
}

func (c *cableConn) unsubscribe(f cableFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sub, ok := c.subs[f.Identifier]; ok {
		sub.cancel()
		delete(c.subs, f.Identifier)
	}
}

// errCableReject asks subscribe to reject the subscription.
var errCableReject = errors.New("subscription rejected")

// cableRetry is the pause before a subscription that failed on a store
// error follows again.
const cableRetry = time.Second

// followJob confirms a subscription to one job, sends its snapshot, then a
// snapshot after every change, until the job is terminal.
func (c *cableConn) followJob(sub *cableSub, jobID string) error {
	if _, err := c.s.svc.Get(sub.ctx, c.userID, jobID); err != nil {
		if sub.ctx.Err() != nil {
			return nil
		}
		if p := jobs.ProblemOf(err); p == nil || p.Kind != jobs.KindNotFound {
			c.s.log.Warn("cable subscribe failed", slog.String("job", jobID), slog.String("error", err.Error()))
		}
		return errCableReject
	}
	if err := c.send(sub, cableTypeFrame(sub.rawID, "confirm_subscription")); err != nil {
		return nil
	}
	var last int64 = -1 // the seq of the last snapshot sent
	handle := func(ev jobs.Event) error {
		j, ok, err := c.snapshotFor(sub.ctx, ev, last)
		if err != nil || !ok {
			return err
		}
		last = j.Seq
		return c.sendJob(sub, j)
	}
	for {
		// Without a position Watch starts with the current snapshot: after
		// a fall-behind this catches up in one frame.
		err := c.s.svc.Watch(sub.ctx, c.userID, jobID, jobs.WatchOptions{After: -1}, handle)
		switch {
		case err == nil, sub.ctx.Err() != nil, errors.Is(err, errCableSlow), errors.Is(err, jobs.ErrNotFound):
			return nil
		case errors.Is(err, jobs.ErrSlow):
			continue
		}
		c.s.log.Warn("cable follow failed, retrying", slog.String("job", jobID), slog.String("error", err.Error()))
		if !sleepCtx(sub.ctx, cableRetry) {
			return nil
		}
	}
}

// followUser confirms a subscription to all of the user's jobs, sends the
// snapshot of each unfinished one, then a snapshot after every change of
// any of them.
func (c *cableConn) followUser(sub *cableSub) error {
	if err := c.send(sub, cableTypeFrame(sub.rawID, "confirm_subscription")); err != nil {
		return nil
	}
	type sent struct {
		seq      int64
		terminal bool
	}
	last := map[string]sent{} // job → the last snapshot sent
	var pos int64 = -1        // user seq reached
	handle := func(ev jobs.Event) error {
		pos = max(pos, ev.UserSeq)
		prev, seen := last[ev.JobID]
		if !seen {
			prev.seq = -1
		}
		j, ok, err := c.snapshotFor(sub.ctx, ev, prev.seq)
		if errors.Is(err, jobs.ErrNotFound) {
			return nil // expired meanwhile
		}
		if err != nil || !ok {
			return err
		}
		if len(last) >= cableMaxJobs {
			// Bound the memory of a very long connection: forget finished
			// jobs (nothing new can come of them).
			for id, s := range last {
				if s.terminal {
					delete(last, id)
				}
			}
		}
		last[j.ID] = sent{j.Seq, j.Terminal}
		return c.sendJob(sub, j)
	}
	for {
		// First without a position (snapshots of the unfinished jobs); after
		// a fall-behind from the user seq reached, so that no job's change,
		// its end included, is skipped.
		err := c.s.svc.WatchUser(sub.ctx, c.userID, jobs.WatchOptions{After: pos}, handle)
		switch {
		case sub.ctx.Err() != nil, errors.Is(err, errCableSlow):
			return nil
		case errors.Is(err, jobs.ErrSlow):
			continue
		}
		if err != nil {
			c.s.log.Warn("cable follow failed, retrying", slog.String("user", c.userID), slog.String("error", err.Error()))
		}
		if !sleepCtx(sub.ctx, cableRetry) {
			return nil
		}
	}
}

// snapshotFor returns the snapshot to send for ev, or ok false when a
// snapshot at least as new as ev was already sent (last is its seq).
// Snapshot and resync events carry it; for other events it is read, and a
// read that finds a newer job covers the events still queued (they are then
// skipped), which coalesces bursts.
func (c *cableConn) snapshotFor(ctx context.Context, ev jobs.Event, last int64) (jobs.Job, bool, error) {
	if ev.Job != nil {
		return *ev.Job, ev.Job.Seq > last, nil
	}
	if ev.Seq <= last {
		return jobs.Job{}, false, nil
	}
	for i := 0; ; i++ {
		j, err := c.s.svc.Get(ctx, c.userID, ev.JobID)
		if err != nil {
			return jobs.Job{}, false, err
		}
		// The event is committed before it is published, so the read sees
		// it; a replica that lags is given a moment.
		if j.Seq >= ev.Seq || i == 3 {
			return j, j.Seq > last, nil
		}
		if !sleepCtx(ctx, time.Duration(i+1)*20*time.Millisecond) {
			return jobs.Job{}, false, ctx.Err()
		}
	}
}

func (c *cableConn) sendJob(sub *cableSub, j jobs.Job) error {
	msg, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return c.send(sub, cableDataFrame(sub.rawID, msg))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
