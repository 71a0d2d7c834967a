package jobs

import (
	"github.com/aijobs/aijobs/jobtype"

	"context"
	"errors"
	"time"
)

// ErrSlow ends a stream whose client fell behind the live feed; the client
// resumes from its last event id and loses nothing.
var ErrSlow = errors.New("subscriber fell behind")

// Wait long-polls one job: it returns as soon as the job's seq passes since
// (or the job is terminal), or after timeout with the job as it is. It reads
// through the node's snapshots (Snapshot), so a long-poll of a job this
// node holds costs no read, however it ends.
func (s *Service) Wait(ctx context.Context, userID, jobID string, since int64, timeout time.Duration) (*Snapshot, error) {
	snap, err := s.Snapshot(ctx, userID, jobID)
	if err != nil || snap.Job.Seq > since || snap.Job.Terminal || timeout <= 0 {
		return snap, err
	}
	sub := s.broker.Subscribe(userID, jobID)
	defer sub.Close()
	// Look again now that we are subscribed: a change between the first
	// look and the subscription would otherwise be missed until the
	// timeout. A change is kept (or, from another node, its old version
	// dropped) before it is published, so this look finds it.
	if snap, err = s.Snapshot(ctx, userID, jobID); err != nil || snap.Job.Seq > since {
		return snap, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-sub.Events():
			if ev.Seq <= since {
				continue
			}
		case <-sub.Dropped():
		case <-t.C:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
		return s.Snapshot(ctx, userID, jobID)
	}
}

// WatchOptions tunes a watch.
type WatchOptions struct {
	// After is the client's position: the last seq (job stream) or user seq
	// (user stream) it has. Negative means none: start with snapshots.
	After int64
	// Heartbeat, when positive, calls Beat at that interval while idle.
	Heartbeat time.Duration
	Beat      func() error
}

const replayPage = 500

// Watch sends one job's events to send, in seq order, none twice and none
// missing: it subscribes first, then replays the log after opts.After, then
// follows live. A stream without a position (or a position the log cannot
// serve) starts with a snapshot or resync event. It returns nil after the
// terminal event, ErrSlow if the client fell behind, or the first error.
func (s *Service) Watch(ctx context.Context, userID, jobID string, opts WatchOptions, send func(Event) error) error {
	if _, err := s.Get(ctx, userID, jobID); err != nil {
		return err
	}
	sub := s.broker.Subscribe(userID, jobID)
	defer sub.Close()
	j, err := s.store.Job(ctx, jobID)
	if err != nil {
		return err
	}
	last := opts.After
	if last < 0 || last > j.Seq {
		typ := EventSnapshot
		if last > j.Seq {
			typ = EventResync // the client is ahead of this server's log
		}
		if err := send(snapshotEvent(typ, j)); err != nil {
			return err
		}
		last = j.Seq
	}
	done := j.Terminal && last >= j.Seq
	catchUp := func() error {
		for !done {
			evs, err := s.store.Events(ctx, jobID, last, replayPage)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if err := send(ev); err != nil {
					return err
				}
				last, done = ev.Seq, ev.Type.Terminal()
			}
			if len(evs) < replayPage {
				return nil
			}
		}
		return nil
	}
	if err := catchUp(); err != nil {
		return err
	}
	return s.follow(ctx, sub, opts, func(ev Event) error {
		switch {
		case ev.Seq <= last:
			return nil // replayed already
		case ev.Seq > last+1:
			return catchUp() // a gap (another node's batch): read it from the log
		}
		last, done = ev.Seq, ev.Type.Terminal()
		return send(ev)
	}, func() bool { return done })
}

// WatchUser sends all of a user's events, in user seq order. Without a
// position it starts with a snapshot event per unfinished job; with a
// position ahead of the log, with a resync event per unfinished job. It ends
// only with ctx, ErrSlow or an error.
//
// User seqs increase but need not be consecutive (on PostgreSQL they are
// transaction ids), so a live event one past the last is sent at once and
// any other is a hint to read the log up to it: UserEvents hands out an
// event only once nothing can commit before it, which takes a few
// milliseconds while older transactions end. A stream that cannot reach the
// event within visibleWait ends with ErrSlow and the client resumes.
func (s *Service) WatchUser(ctx context.Context, userID string, opts WatchOptions, send func(Event) error) error {
	sub := s.broker.Subscribe(userID, "")
	defer sub.Close()
	view, err := s.store.UserView(ctx, userID, 1000)
	if err != nil {
		return err
	}
	last := opts.After
	if last >= 0 && last < view.Oldest-1 { // not last+1: that overflows at the int64 limit
		// Events before Oldest belong only to jobs that expired and were
		// deleted with their whole log (a kept job keeps every event), so
		// replaying all that is kept loses nothing the client can still see.
		last = view.Oldest - 1
	}
	// shown holds the job seq of each snapshot sent: the snapshot may
	// already reflect events the log hands out after Newest.
	shown := map[string]int64{}
	if last < 0 || last > view.Newest {
		typ := EventSnapshot
		if last >= 0 {
			typ = EventResync // the client is ahead of this log
		}
		for _, j := range view.Unfinished {
			ev := snapshotEvent(typ, j)
			ev.UserSeq = view.Newest
			if err := send(ev); err != nil {
				return err
			}
			shown[j.ID] = j.Seq
		}
		last = view.Newest
	}
	deliver := func(ev Event) error {
		last = ev.UserSeq
		if seq, ok := shown[ev.JobID]; ok {
			if ev.Seq <= seq {
				return nil // in the snapshot already
			}
			delete(shown, ev.JobID)
		}
		return send(ev)
	}
	catchUp := func() error {
		for {
			evs, err := s.store.UserEvents(ctx, userID, last, replayPage)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if err := deliver(ev); err != nil {
					return err
				}
			}
			if len(evs) < replayPage {
				return nil
			}
		}
	}
	if err := catchUp(); err != nil {
		return err
	}
	// reach reads the log until the stream has passed pos.
	reach := func(pos int64) error {
		deadline := time.Now().Add(visibleWait)
		for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
			if err := catchUp(); err != nil || last >= pos {
				return err
			}
			if time.Now().After(deadline) {
				return ErrSlow
			}
			if !sleep(ctx, wait) {
				return ctx.Err()
			}
		}
	}
	return s.follow(ctx, sub, opts, func(ev Event) error {
		switch {
		case ev.UserSeq <= last:
			return nil
		case ev.UserSeq == last+1:
			// Nothing can come between; and nothing before: whatever is
			// below last was final when last was read.
			return deliver(ev)
		}
		return reach(ev.UserSeq)
	}, func() bool { return false })
}

// visibleWait bounds how long a user stream waits for the log to hand out
// an event it was told of (see WatchUser).
const visibleWait = 2 * time.Second

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// follow delivers live events from sub to handle until done, with heartbeats.
func (s *Service) follow(ctx context.Context, sub Subscription, opts WatchOptions, handle func(Event) error, done func() bool) error {
	var beat <-chan time.Time
	if opts.Heartbeat > 0 && opts.Beat != nil {
		t := time.NewTicker(opts.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	for !done() {
		select {
		case ev := <-sub.Events():
			if err := handle(ev); err != nil {
				return err
			}
		case <-beat:
			if err := opts.Beat(); err != nil {
				return err
			}
		case <-sub.Dropped():
			return ErrSlow
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func snapshotEvent(typ EventType, j Job) Event {
	snap := j.Job
	return Event{UserID: j.UserID, Event: jobtype.Event{JobID: j.ID, Seq: j.Seq, Type: typ, Terminal: j.Terminal, At: time.Now().UTC(), Status: j.Status, Progress: j.Progress, Attempt: j.Attempt, Intent: j.Intent, Job: &snap}}
}

// Next returns the snapshot after ev, given j, the snapshot just before it
// (ev.Seq is j.Seq+1), without reading the store, when ev carries all that
// changed: an output or progress event changes only the progress and the
// intent (Report), which the clients' fold (jobtype.Apply) applies. For any
// other event ok is false and the job must be read.
func (j Job) Next(ev Event) (next Job, ok bool) {
	if ev.JobID != j.ID || ev.Seq != j.Seq+1 || j.Terminal || (ev.Type != EventOutput && ev.Type != EventProgress) {
		return Job{}, false
	}
	jobtype.Apply(&j.Job, ev.Event)
	return j, true
}
