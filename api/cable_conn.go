package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/jobs"
)

// cableConn is one /cable connection.
type cableConn struct {
	s      *Server
	ws     *websocket.Conn
	userID string
	scope  string // the only job a job-scoped stream token allows, or ""

	// ctx ends the connection; its cause says why.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// authEnded is closed when the connection's credential is revoked or
	// expires (nil: never).
	authEnded <-chan struct{}

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
// and the disconnect on server shutdown or when the credential ends.
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
		case <-c.s.shutdown.Done():
			c.goodbye(cableServerRestart, websocket.StatusServiceRestart, "server restart")
			return
		case <-c.authEnded:
			c.goodbye(cableUnauthorized, websocket.StatusPolicyViolation, "unauthorized")
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// goodbye sends a disconnect frame, closes the socket and ends the
// connection.
func (c *cableConn) goodbye(frame []byte, code websocket.StatusCode, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
	err := c.ws.Write(ctx, websocket.MessageText, frame)
	cancel()
	if err == nil {
		c.ws.Close(code, reason)
	}
	c.cancel(context.Canceled)
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
	if !validJobID(jobID) {
		return errCableReject // cannot exist: no need to ask the store
	}
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
