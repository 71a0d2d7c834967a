package queue

import "time"

// Observer is told what the queue does (metrics.Registry implements it).
// Its methods must not block.
type Observer interface {
	// AttemptStarted reports an attempt (1-based) that a worker of this
	// node took, and how long it waited since it became available (its
	// job was created, its retry came due, or it was handed back).
	AttemptStarted(attempt int, wait time.Duration)
	// AttemptEnded reports how the attempt ended and how long it ran; see
	// the Attempt… results.
	AttemptEnded(result string, ran time.Duration)
	// LeaseRenewal reports one renewal of this node's lease: LeaseRenewed,
	// LeaseLapsed (another node had declared this one dead) or LeaseError.
	LeaseRenewal(result string)
	// Nodes reports, after each renewal, the worker processes whose lease
	// is live and those whose lease lapsed and is not yet swept.
	Nodes(live, lapsed int)
	// HandedBack reports an attempt of a lost node handed back by this
	// node (final: it was the job's last, which failed with worker_lost).
	HandedBack(final bool)
	// OrphanFinished reports a job finished by reconciliation: its River
	// job had ended or was gone while no live node ran it.
	OrphanFinished()
}

// How an attempt ended, as AttemptEnded reports it.
const (
	// AttemptOK: the attempt wrote the job's outcome (completed), or found
	// it no longer needed (cancelled meanwhile, or taken over).
	AttemptOK = "ok"
	// AttemptFailed: the attempt wrote failed; no attempt follows.
	AttemptFailed = "failed"
	// AttemptRetry: the attempt failed in a way a later one may not.
	AttemptRetry = "retry"
	// AttemptInterrupted: this process was stopping; the same attempt
	// resumes later.
	AttemptInterrupted = "interrupted"
	// AttemptAbandoned: the attempt panicked or could not record its
	// outcome; the queue recorded it instead.
	AttemptAbandoned = "abandoned"
)

// The results of a lease renewal.
const (
	LeaseRenewed = "renewed"
	LeaseLapsed  = "lapsed"
	LeaseError   = "error"
)

type nopObserver struct{}

func (nopObserver) AttemptStarted(int, time.Duration)  {}
func (nopObserver) AttemptEnded(string, time.Duration) {}
func (nopObserver) LeaseRenewal(string)                {}
func (nopObserver) Nodes(int, int)                     {}
func (nopObserver) HandedBack(bool)                    {}
func (nopObserver) OrphanFinished()                    {}
