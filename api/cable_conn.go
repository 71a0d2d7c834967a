package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/aside"
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

	// out queues the frames that are not a feed's: welcome and rejections.
	out          chan []byte
	writeTimeout time.Duration
	// ready wakes the writer: a feed has frames for the client.
	ready chan struct{}

	// granted frames of the user's budget may be sent from grantedAt.
	// Only the writer uses them.
	granted   int
	grantedAt time.Time

	mu    sync.Mutex
	subs  map[string]*cableSub  // by decoded identifier; guarded by mu
	feeds map[string]*cableFeed // by job id, "" for all the user's jobs; guarded by mu
	wg    sync.WaitGroup        // feed goroutines
}

// cableSub is one subscription of a connection.
type cableSub struct {
	rawID  json.RawMessage
	ctx    context.Context
	cancel context.CancelFunc
	// identifier is its key in cableConn.subs.
	identifier string
	// release gives back its stream slot; it may be called more than once.
	release func()
	// confirmed is set once its confirm_subscription is written, and sent
	// holds the seq of the last snapshot written per job; both guarded by
	// its feed's mu.
	confirmed bool
	sent      map[string]int64
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
		sub.release()
	}
	for _, f := range c.feeds {
		f.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	<-writerDone
	c.ws.CloseNow()
	if cause := context.Cause(c.ctx); errors.Is(cause, errCableSlow) {
		c.s.log.InfoContext(c.ctx, "cable client too slow, disconnected", slog.String("user", c.userID))
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
			c.s.log.DebugContext(c.ctx, "cable: malformed frame ignored", slog.String("error", err.Error()))
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

// writeLoop is the only writer of the socket: queued frames, the feeds'
// frames (within the user's frame budget), pings (first), and the
// disconnect on server shutdown or when the credential ends.
func (c *cableConn) writeLoop() {
	pings, leave := c.s.pings.Join() // one wheel for all connections
	defer leave()
	budget := time.NewTimer(time.Hour)
	budget.Stop()
	defer budget.Stop()
	var budgetC <-chan time.Time // set while waiting for the budget
	flush := func() bool {
		wait, ok := c.flushFeeds()
		if wait > 0 {
			budget.Reset(wait)
			budgetC = budget.C
		}
		return ok
	}
	for {
		// Pings go before queued frames.
		select {
		case <-pings:
			if !c.write(cablePingFrame(time.Now())) {
				return
			}
			continue
		default:
		}
		select {
		case <-pings:
			if !c.write(cablePingFrame(time.Now())) {
				return
			}
		case b := <-c.out:
			if !c.write(b) {
				return
			}
		case <-c.ready:
			if !flush() {
				return
			}
		case <-budgetC:
			budgetC = nil
			if !flush() {
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

// write sends one frame; on failure it ends the connection. The write runs
// aside, so that the writer, parked between frames, keeps a small stack.
func (c *cableConn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.writeTimeout)
	defer cancel()
	if err := aside.Do(func() error { return c.ws.Write(ctx, websocket.MessageText, b) }); err != nil {
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

// Reasons of a reject_subscription.
const (
	rejectInvalid       = "invalid_identifier"     // malformed, or an unknown channel
	rejectNotFound      = "not_found"              // no such job of this user
	rejectNotAllowed    = "not_allowed"            // a job-scoped stream token, another job
	rejectTooManySubs   = "too_many_subscriptions" // cableMaxSubs on this connection
	rejectTooManyStream = "too_many_streams"       // the user's --max-streams
)

// subscribe adds a subscription: it takes one of the user's stream slots and
// joins the connection's feed of its job (or of all the user's jobs),
// starting the feed if it is the first to ask.
func (c *cableConn) subscribe(fr cableFrame) {
	c.mu.Lock()
	if _, ok := c.subs[fr.Identifier]; ok {
		c.mu.Unlock()
		return // already subscribed (or being confirmed): no second confirm
	}
	reason := ""
	jobID, err := parseCableIdentifier(fr.Identifier)
	var release func()
	switch {
	case err != nil:
		reason = rejectInvalid
	case c.scope != "" && jobID != c.scope:
		reason = rejectNotAllowed
	case len(c.subs) >= cableMaxSubs:
		reason = rejectTooManySubs
	default:
		if release, err = c.s.openStream(c.userID, StreamCableSubs); err != nil {
			reason = rejectTooManyStream
		}
	}
	if reason != "" {
		c.mu.Unlock()
		c.enqueue(cableRejectFrame(fr.RawIdentifier, reason), c.ctx.Done())
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	sub := &cableSub{rawID: fr.RawIdentifier, ctx: ctx, cancel: cancel, identifier: fr.Identifier, release: release}
	c.subs[fr.Identifier] = sub
	f := c.feeds[jobID]
	if f == nil {
		f = c.newFeed(jobID)
		c.feeds[jobID] = f
		c.wg.Go(f.run)
	}
	f.attach(sub)
	c.mu.Unlock()
}

// unsubscribe removes a subscription: nothing more is sent for it, its slot
// is given back, and a feed left without subscriptions stops.
func (c *cableConn) unsubscribe(fr cableFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub, ok := c.subs[fr.Identifier]
	if !ok {
		return
	}
	delete(c.subs, fr.Identifier)
	sub.cancel()
	sub.release()
	for key, f := range c.feeds {
		if f.detach(sub) {
			f.cancel()
			delete(c.feeds, key)
		}
	}
}

// wake tells the writer that a feed has frames for it.
func (c *cableConn) wake() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// cableFrameBatch is the most snapshots the writer takes from the budget
// at once.
const cableFrameBatch = 64

// flushFeeds writes what the feeds have for the client: confirmations at
// once, snapshots as the user's frame budget allows. wait is how long until
// the budget allows the next ones (0: none are waiting, or the writer was
// woken to come back at once); ok is false once the connection is gone.
func (c *cableConn) flushFeeds() (wait time.Duration, ok bool) {
	c.mu.Lock()
	feeds := make([]*cableFeed, 0, len(c.feeds))
	for _, f := range c.feeds {
		feeds = append(feeds, f)
	}
	c.mu.Unlock()
	pending := 0
	for _, f := range feeds {
		pending += f.pending()
	}
	now := time.Now()
	if c.granted == 0 && pending > 0 {
		c.granted = min(pending, cableFrameBatch)
		c.grantedAt = now.Add(c.s.limits.reserveFrames(c.userID, c.granted))
	}
	allow := c.granted
	if now.Before(c.grantedAt) {
		allow = 0 // confirmations only
	}
	for _, f := range feeds {
		frames, sent := f.pull(allow)
		allow -= sent
		c.granted -= sent
		pending -= sent
		for _, b := range frames {
			if !c.write(b) {
				return 0, false
			}
		}
		f.finishIfDone()
	}
	switch {
	case c.granted > 0 && now.Before(c.grantedAt):
		return c.grantedAt.Sub(now), true
	case pending > 0:
		c.wake() // more: after a look at the pings
	}
	return 0, true
}
