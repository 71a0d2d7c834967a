package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aijobs/aijobs/aside"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// cableRetry is the pause before a feed that failed on a store error
// follows again.
const cableRetry = time.Second

// cableFeed follows one job, or all of the user's jobs, for every
// subscription of its connection that asks for it: one watch, at most one
// store read per change (none for output and progress, whose events say all
// that changed) and one JSON encoding per snapshot sent, however many
// subscriptions share it. It keeps the latest snapshot of each job; a job
// that changed is queued for a round of the subscriptions, and the writer
// sends each the latest snapshot when its turn comes, so changes that come
// faster than the client reads, or than the user's frame budget allows,
// coalesce (seq only rises) instead of piling up. A change costs the same
// however many subscriptions share the feed; only what is sent costs per
// subscription.
type cableFeed struct {
	c      *cableConn
	jobID  string // "" for all the user's jobs
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// subs are the subscriptions, in the order they came.
	subs []*cableSub
	// checked is set once the subscriptions may be confirmed: at once for
	// all the user's jobs, once the job is found for a job feed.
	checked bool
	// ended is set when the watch is over for good: the job ended (job
	// feed), or the feed was rejected.
	ended bool
	jobs  map[string]*feedJob
	// queue holds, from head on, the jobs with a round of the
	// subscriptions to go.
	queue []*feedJob
	head  int
}

// feedJob is the latest snapshot of one job of a feed, and where its round
// of the subscriptions stands.
type feedJob struct {
	job jobs.Job
	// msg is job's JSON once encoded (at seq msgSeq).
	msg    []byte
	msgSeq int64
	queued bool
	// cursor is the next subscription (an index into subs) to visit;
	// visits is how many the round has left: a subscription whose sent
	// seq is older than job's is sent the snapshot.
	cursor, visits int
}

func (c *cableConn) newFeed(jobID string) *cableFeed {
	ctx, cancel := context.WithCancel(c.ctx)
	return &cableFeed{c: c, jobID: jobID, ctx: ctx, cancel: cancel, checked: jobID == "", jobs: map[string]*feedJob{}}
}

// attach adds a subscription; it is owed the snapshot of each unfinished
// job the feed knows (a job feed: of its job, finished or not).
func (f *cableFeed) attach(sub *cableSub) {
	f.mu.Lock()
	sub.sent = map[string]int64{}
	f.subs = append(f.subs, sub)
	for _, fj := range f.jobs {
		if fj.queued || f.jobID != "" || !fj.job.Terminal {
			f.owe(fj)
		}
	}
	f.mu.Unlock()
	f.c.wake()
}

// detach removes a subscription and reports whether none is left.
func (f *cableFeed) detach(sub *cableSub) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.subs)
	f.subs = slices.DeleteFunc(f.subs, func(s *cableSub) bool { return s == sub })
	if len(f.subs) != n {
		for _, fj := range f.queue[f.head:] {
			f.owe(fj) // indexes moved: go round again (the sent seqs skip)
		}
	}
	return len(f.subs) == 0
}

// owe starts a round of the subscriptions for fj. f.mu must be held.
func (f *cableFeed) owe(fj *feedJob) {
	fj.visits = len(f.subs)
	if !fj.queued {
		fj.queued = true
		f.queue = append(f.queue, fj)
	}
}

// pending says at most how many snapshots the feed owes.
func (f *cableFeed) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fj := range f.queue[f.head:] {
		n += fj.visits
	}
	return n
}

// pull takes the frames the feed has for the writer: the confirmations due
// and up to n snapshots (sent says how many it took). Jobs take turns: one
// snapshot each, round-robin.
func (f *cableFeed) pull(n int) (frames [][]byte, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.checked {
		return nil, 0
	}
	for _, sub := range f.subs {
		if !sub.confirmed && sub.ctx.Err() == nil {
			sub.confirmed = true
			frames = append(frames, cableTypeFrame(sub.rawID, "confirm_subscription"))
		}
	}
	for sent < n && f.head < len(f.queue) {
		fj := f.queue[f.head]
		f.queue[f.head] = nil
		f.head++
		if b := f.visit(fj); b != nil {
			frames = append(frames, b)
			sent++
		}
		if fj.visits > 0 && len(f.subs) > 0 {
			f.queue = append(f.queue, fj) // its next turn
			continue
		}
		fj.queued = false
		if fj.job.Terminal && f.jobID == "" {
			// Sent to everyone: keep only what deduplicates a late event.
			for _, sub := range f.subs {
				delete(sub.sent, fj.job.ID)
			}
			fj.job, fj.msg = jobs.Job{Job: jobtype.Job{ID: fj.job.ID, Seq: fj.job.Seq, Terminal: true}}, nil
		}
	}
	if f.head == len(f.queue) {
		clear(f.queue)
		f.queue, f.head = f.queue[:0], 0
	} else if f.head > len(f.queue)/2 {
		f.queue, f.head = append(f.queue[:0], f.queue[f.head:]...), 0
	}
	return frames, sent
}

// visit visits fj's subscriptions until one is owed its snapshot (or the
// round is over) and returns the frame for it (nil: none). f.mu must be
// held.
func (f *cableFeed) visit(fj *feedJob) []byte {
	for ; fj.visits > 0 && len(f.subs) > 0; fj.visits-- {
		sub := f.subs[fj.cursor%len(f.subs)]
		fj.cursor = (fj.cursor + 1) % len(f.subs)
		if sub.ctx.Err() != nil || !sub.confirmed {
			continue
		}
		if seq, ok := sub.sent[fj.job.ID]; ok && seq >= fj.job.Seq {
			continue
		}
		if fj.msg == nil || fj.msgSeq != fj.job.Seq {
			msg, err := json.Marshal(fj.job)
			if err != nil {
				f.c.s.log.ErrorContext(f.ctx, "cable: encode snapshot", slog.String("job", fj.job.ID), slog.String("error", err.Error()))
				fj.visits = 0
				return nil
			}
			fj.msg, fj.msgSeq = msg, fj.job.Seq
		}
		sub.sent[fj.job.ID] = fj.job.Seq
		fj.visits--
		return cableDataFrame(sub.rawID, fj.msg)
	}
	return nil
}

// update records a newer snapshot and starts a round for it. msg is its
// JSON when already encoded (shared by the node's feeds), else nil.
func (f *cableFeed) update(j jobs.Job, msg []byte) {
	f.mu.Lock()
	fj := f.jobs[j.ID]
	if fj != nil && j.Seq <= fj.job.Seq {
		f.mu.Unlock()
		return
	}
	if fj == nil {
		if len(f.jobs) >= cableMaxJobs {
			// Bound the memory of a very long connection: forget finished
			// jobs already sent (nothing new can come of them).
			for id, old := range f.jobs {
				if old.job.Terminal && !old.queued {
					delete(f.jobs, id)
				}
			}
		}
		fj = &feedJob{}
		f.jobs[j.ID] = fj
	}
	fj.job = j
	if msg != nil {
		fj.msg, fj.msgSeq = msg, j.Seq
	}
	if f.checked {
		f.owe(fj)
	}
	f.mu.Unlock()
	f.c.wake()
}

// latest returns the feed's snapshot of a job.
func (f *cableFeed) latest(jobID string) (jobs.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fj := f.jobs[jobID]
	if fj == nil {
		return jobs.Job{}, false
	}
	return fj.job, true
}

// absorb turns an event into the job's snapshot: the one it carries (an
// event this node wrote carries the snapshot after it, encoded once for all
// the node's feeds), the one it implies (jobs.Job.Next), or one read from
// the store, which covers the events still queued up to the seq it finds
// (they are then skipped, which coalesces bursts). Only an event of
// another node's, or one replayed from the log, can need a read.
func (f *cableFeed) absorb(ev *jobs.Shared) error {
	if ev.After != nil {
		msg, err := ev.SnapshotJSON()
		if err != nil {
			return err
		}
		f.update(ev.After.Job, msg)
		return nil
	}
	if ev.Job != nil {
		f.update(jobs.Job{Job: *ev.Job, UserID: ev.UserID}, nil)
		return nil
	}
	prev, known := f.latest(ev.JobID)
	if known && ev.Seq <= prev.Seq {
		return nil
	}
	if next, ok := prev.Next(ev.Event); known && ok {
		f.update(next, nil)
		return nil
	}
	j, err := f.c.readJob(f.ctx, ev.Event)
	if errors.Is(err, jobs.ErrNotFound) && f.jobID == "" {
		return nil // expired meanwhile
	}
	if err != nil {
		return err
	}
	f.update(j, nil)
	return nil
}

// readJob reads the job of ev, at least as new as ev. The event is
// committed before it is published, so the read sees it; a replica that
// lags is given a moment. The feeds of all the user's connections on this
// node get one event at the same moment: they share one read.
func (c *cableConn) readJob(ctx context.Context, ev jobs.Event) (jobs.Job, error) {
	key := c.userID + "/" + ev.JobID + "/" + strconv.FormatInt(ev.Seq, 10)
	ch := c.s.limits.reads.DoChan(key, func() (any, error) {
		ctx := context.WithoutCancel(ctx) // shared: not ended by one caller
		for i := 0; ; i++ {
			j, err := c.s.svc.Get(ctx, c.userID, ev.JobID)
			if err != nil || j.Seq >= ev.Seq || i == 3 {
				return j, err
			}
			time.Sleep(time.Duration(i+1) * 20 * time.Millisecond)
		}
	})
	select {
	case r := <-ch:
		j, _ := r.Val.(jobs.Job)
		return j, r.Err
	case <-ctx.Done():
		return jobs.Job{}, ctx.Err()
	}
}

// run follows the feed's job, or the user's jobs, until the feed is
// cancelled (or its job has ended).
func (f *cableFeed) run() {
	defer f.cancel()
	if f.jobID == "" {
		f.followUser()
	} else {
		f.followJob()
	}
}

// followJob checks that the job is the user's (else the subscriptions are
// rejected), then follows it until it ends.
func (f *cableFeed) followJob() {
	c := f.c
	if !validJobID(f.jobID) {
		f.reject() // cannot exist: no need to ask the store
		return
	}
	// Aside, so that this goroutine keeps a small stack while it follows.
	// A store that cannot answer is not a missing job: the subscription
	// waits, unconfirmed, until it can.
	for {
		err := aside.Do(func() error { _, err := c.s.svc.Get(f.ctx, c.userID, f.jobID); return err })
		if err == nil {
			break
		}
		if f.ctx.Err() != nil {
			return
		}
		if p := jobs.ProblemOf(err); p != nil && p.Kind == jobs.KindNotFound {
			f.reject()
			return
		}
		c.s.log.WarnContext(f.ctx, "cable subscribe failed, retrying", slog.String("job", f.jobID), slog.String("error", err.Error()))
		if !sleepCtx(f.ctx, cableRetry) {
			return
		}
	}
	f.mu.Lock()
	f.checked = true // the writer confirms; the snapshots come from Watch
	f.mu.Unlock()
	c.wake()
	for {
		// Without a position Watch starts with the current snapshot: after
		// a fall-behind this catches up in one.
		err := c.s.svc.Watch(f.ctx, c.userID, f.jobID, jobs.WatchOptions{After: -1}, f.absorb)
		switch {
		case f.ctx.Err() != nil:
			return
		case err == nil, errors.Is(err, jobs.ErrNotFound):
			f.end()
			return
		case errors.Is(err, jobs.ErrSlow):
			continue
		}
		c.s.log.WarnContext(f.ctx, "cable follow failed, retrying", slog.String("job", f.jobID), slog.String("error", err.Error()))
		if !sleepCtx(f.ctx, cableRetry) {
			return
		}
	}
}

// followUser follows all of the user's jobs: first the snapshot of each
// unfinished one, then every change of any of them.
func (f *cableFeed) followUser() {
	c := f.c
	var pos int64 = -1 // user seq reached
	handle := func(ev *jobs.Shared) error {
		pos = max(pos, ev.UserSeq)
		return f.absorb(ev)
	}
	for {
		// First without a position (snapshots of the unfinished jobs); after
		// a fall-behind from the user seq reached, so that no job's change,
		// its end included, is skipped.
		err := c.s.svc.WatchUser(f.ctx, c.userID, jobs.WatchOptions{After: pos}, handle)
		switch {
		case f.ctx.Err() != nil:
			return
		case errors.Is(err, jobs.ErrSlow):
			continue
		}
		if err != nil {
			c.s.log.WarnContext(f.ctx, "cable follow failed, retrying", slog.String("user", c.userID), slog.String("error", err.Error()))
		}
		if !sleepCtx(f.ctx, cableRetry) {
			return
		}
	}
}

// end marks a job feed whose job has ended: once its last snapshots are
// written it goes, and its subscriptions give back their slots (they stay
// subscribed: nothing more will come).
func (f *cableFeed) end() {
	f.mu.Lock()
	f.ended = true
	f.mu.Unlock()
	f.finishIfDone()
	f.c.wake()
}

// finishIfDone removes an ended feed that owes nothing more.
func (f *cableFeed) finishIfDone() {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ended || f.head < len(f.queue) || c.feeds[f.jobID] != f {
		return
	}
	delete(c.feeds, f.jobID)
	for _, sub := range f.subs {
		sub.release()
	}
}

// reject rejects every subscription of a job feed whose job is not the
// user's: they are removed (the client may subscribe again), and their
// slots given back.
func (f *cableFeed) reject() {
	c := f.c
	c.mu.Lock()
	f.mu.Lock()
	f.ended = true
	var rejected []*cableSub
	for _, sub := range f.subs {
		if c.subs[sub.identifier] == sub && sub.ctx.Err() == nil {
			delete(c.subs, sub.identifier)
			rejected = append(rejected, sub)
		}
		sub.release()
	}
	if c.feeds[f.jobID] == f {
		delete(c.feeds, f.jobID)
	}
	f.mu.Unlock()
	c.mu.Unlock()
	for _, sub := range rejected {
		c.send(sub, cableRejectFrame(sub.rawID, rejectNotFound))
		sub.cancel()
	}
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
