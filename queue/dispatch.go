package queue

import (
	"context"
	"log/slog"
	"time"
)

// dispatchEvery is how often the leader looks for room in River for jobs
// waiting their fair turn, besides whenever one of its own attempts ends.
const dispatchEvery = 100 * time.Millisecond

// dispatch moves jobs waiting their fair turn to River (store.Dispatch)
// while this node is the maintenance leader, until ctx ends. Errors are
// logged at most every ten seconds: the next round tries again.
func (q *Queue) dispatch(ctx context.Context) {
	t := time.NewTicker(dispatchEvery)
	defer t.Stop()
	var logged time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.work.freed:
		}
		if !q.leader.Load() {
			continue
		}
		if _, err := q.store.Dispatch(ctx, time.Now()); err != nil && ctx.Err() == nil && time.Since(logged) > 10*time.Second {
			logged = time.Now()
			q.cfg.Logger.WarnContext(ctx, "dispatch waiting jobs", slog.String("error", err.Error()))
		}
	}
}

// checkLeader sets whether this node is the maintenance leader now, before
// the first round of maintain.
func (q *Queue) checkLeader(ctx context.Context, now time.Time) {
	live, _, err := q.store.Nodes(ctx, now)
	q.leader.Store(err == nil && len(live) > 0 && live[0] == q.cfg.Node)
}
