package queue

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// workerLost is what a user sees when the node running the job's attempt
// stopped renewing its lease.
var workerLost = jobs.Error{Code: jobtype.CodeWorkerLost, Message: "the worker running this job stopped responding"}

// maintain renews this node's lease every Lease/5 and, while this node is
// the maintenance leader (the live node that started first), sweeps: it
// hands back the attempts of nodes whose lease lapsed and finishes jobs
// that nothing will finish. It returns when ctx ends.
func (q *Queue) maintain(ctx context.Context) {
	t := time.NewTicker(q.cfg.Lease / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := q.tick(ctx); err != nil && ctx.Err() == nil {
			q.cfg.Logger.WarnContext(ctx, "node maintenance", slog.String("node", q.cfg.Node), slog.String("error", err.Error()))
		}
	}
}

// tick is one round of maintain.
func (q *Queue) tick(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Lease/2)
	defer cancel()
	now := time.Now()
	ok, err := q.store.RenewNode(ctx, q.cfg.Node, now, now.Add(q.cfg.Lease))
	switch {
	case err != nil:
		q.cfg.Observer.LeaseRenewal(LeaseError)
		return err
	case ok:
		q.cfg.Observer.LeaseRenewal(LeaseRenewed)
	default:
		q.cfg.Observer.LeaseRenewal(LeaseLapsed)
	}
	if !ok {
		// Another node declared this one dead and handed its attempts back;
		// fencing keeps what still runs here from writing. Take a new lease
		// for the attempts to come.
		q.cfg.Logger.ErrorContext(ctx, "this node's lease lapsed: its running attempts were handed to other workers", slog.String("node", q.cfg.Node))
		if err := q.store.RegisterNode(ctx, q.cfg.Node, q.cfg.Workers, now, now.Add(q.cfg.Lease)); err != nil {
			return err
		}
	}
	live, lapsed, err := q.store.Nodes(ctx, now)
	if err == nil {
		q.cfg.Observer.Nodes(len(live), len(lapsed))
	}
	if err != nil || len(live) == 0 || live[0] != q.cfg.Node {
		return err
	}
	return q.sweep(ctx, now, live, lapsed)
}

// sweep hands back the River jobs running on nodes that are not live,
// finishes orphaned jobs, and forgets lapsed nodes.
func (q *Queue) sweep(ctx context.Context, now time.Time, live, lapsed []string) error {
	var back handBack
	err := q.forEachLost(ctx, live, []string{RunArgs{}.Kind()}, func(r *rivertype.JobRow) error {
		var args RunArgs
		if err := json.Unmarshal(r.EncodedArgs, &args); err != nil {
			q.cfg.Logger.ErrorContext(ctx, "decode River job args", slog.Int64("river_id", r.ID), slog.String("error", err.Error()))
			return nil
		}
		a := Attempt{JobID: args.JobID, Number: r.Attempt, Max: r.MaxAttempts}
		if err := q.runner.Abandon(ctx, a, a.Final(), workerLost); err != nil {
			return err
		}
		q.cfg.Observer.HandedBack(a.Final())
		// Available, not retryable: the job runs again at once, without
		// waiting for River's scheduler to promote it.
		if a.Final() {
			back.add(r, now, rivertype.JobStateDiscarded, r.ScheduledAt, &now)
		} else {
			back.add(r, now, rivertype.JobStateAvailable, now, nil)
		}
		q.cfg.Logger.InfoContext(ctx, "handed back an attempt of a lost node", slog.String("job_id", a.JobID),
			slog.Int("attempt", a.Number), slog.Bool("final", a.Final()), slog.Any("node", r.AttemptedBy))
		return nil
	})
	if err != nil {
		return err
	}
	// The jobs of the other kinds (Config.Kinds) are safe to run again and
	// need no Abandon: they are made available again at once.
	if kinds := q.kindNames(); len(kinds) > 0 {
		err := q.forEachLost(ctx, live, kinds, func(r *rivertype.JobRow) error {
			back.add(r, now, rivertype.JobStateAvailable, now, nil)
			q.cfg.Logger.InfoContext(ctx, "handed back a job of a lost node", slog.String("kind", r.Kind), slog.Int64("river_id", r.ID), slog.Any("node", r.AttemptedBy))
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(back.ID) > 0 {
		// Only jobs still running since before now are touched.
		back.StuckHorizon = time.Now()
		if _, err := q.exec.JobRescueMany(ctx, &back.JobRescueManyParams); err != nil {
			return err
		}
	}
	if err := q.finishOrphans(ctx, now); err != nil {
		return err
	}
	for _, node := range lapsed {
		if err := q.store.RemoveNode(ctx, node); err != nil {
			return err
		}
	}
	return nil
}

// forEachLost calls f with every River job of kinds that runs on a node
// that is not live, a page at a time.
func (q *Queue) forEachLost(ctx context.Context, live, kinds []string, f func(*rivertype.JobRow) error) error {
	params := river.NewJobListParams().Kinds(kinds...).States(rivertype.JobStateRunning).First(1000)
	for {
		res, err := q.client().JobList(ctx, params)
		if err != nil {
			return err
		}
		for _, r := range res.Jobs {
			if n := len(r.AttemptedBy); n > 0 && slices.Contains(live, r.AttemptedBy[n-1]) {
				continue
			}
			if err := f(r); err != nil {
				return err
			}
		}
		if len(res.Jobs) < 1000 {
			return nil
		}
		params = params.After(res.LastCursor)
	}
}

// kindNames are the River kinds of Config.Kinds.
func (q *Queue) kindNames() []string {
	var names []string
	for _, k := range q.cfg.Kinds {
		names = append(names, k.Name)
	}
	return names
}

// handBack collects the River jobs a sweep puts back, for one
// JobRescueMany.
type handBack struct {
	riverdriver.JobRescueManyParams
}

func (h *handBack) add(r *rivertype.JobRow, now time.Time, state rivertype.JobState, scheduled time.Time, finalized *time.Time) {
	errData, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: r.Attempt, Error: "handed back: the node's lease lapsed"})
	h.ID = append(h.ID, r.ID)
	h.Error = append(h.Error, errData)
	h.State = append(h.State, string(state))
	h.ScheduledAt = append(h.ScheduledAt, scheduled)
	h.FinalizedAt = append(h.FinalizedAt, finalized)
}

// finishOrphans fails the jobs whose River job ended or is gone while no
// live node runs them: nothing else would ever finish them.
func (q *Queue) finishOrphans(ctx context.Context, now time.Time) error {
	orphans, err := q.store.Orphans(ctx, now, 100)
	if err != nil {
		return err
	}
	for _, o := range orphans {
		why := jobs.Error{Code: jobtype.CodeWorkerLost, Message: "the job's queue entry ended before the job did"}
		if o.RiverState == string(rivertype.JobStateDiscarded) {
			why = internalError
		}
		q.cfg.Logger.WarnContext(ctx, "finishing an orphaned job", slog.String("job_id", o.JobID), slog.Int("attempt", o.Attempt),
			slog.String("river_state", o.RiverState))
		if err := q.runner.Abandon(ctx, Attempt{JobID: o.JobID, Number: o.Attempt}, true, why); err != nil {
			return err
		}
		q.cfg.Observer.OrphanFinished()
	}
	return nil
}
