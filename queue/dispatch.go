package queue

import (
	"context"
	"log/slog"
	"time"
)

// dispatchEvery is how often a worker process looks for room in River for
// jobs waiting their fair turn, besides whenever one of its attempts ends.
const dispatchEvery = 100 * time.Millisecond

// dispatch moves jobs waiting their fair turn to River (store.Dispatch),
// up to this process's free workers, until ctx ends. Every worker process
// does it, so none depends on another being alive: a claim in the database
// keeps two from moving the same job. Errors are logged at most every ten
// seconds: the next round tries again.
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
		free := q.cfg.Workers - int(q.work.running.Load())
		if free <= 0 {
			continue
		}
		if _, err := q.store.Dispatch(ctx, time.Now(), free); err != nil && ctx.Err() == nil && time.Since(logged) > 10*time.Second {
			logged = time.Now()
			q.cfg.Logger.WarnContext(ctx, "dispatch waiting jobs", slog.String("error", err.Error()))
		}
	}
}
