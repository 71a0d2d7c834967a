// Package jobs is the heart of aijobs: the job model, its statuses and
// transitions, the event log, and the Service that submits, reads, cancels,
// runs and watches jobs. Every transport goes through it; it knows nothing of
// HTTP or SQL.
package jobs

import (
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// The job as clients see it is package jobtype's; these names keep the
// server's code in its own terms.
type (
	// Status is where a job stands.
	Status = jobtype.Status
	// Intent is what the user asked for.
	Intent = jobtype.Intent
	// Error is a job's failure or cancellation reason.
	Error = jobtype.Error
	// Result is a completed job's result.
	Result = jobtype.Result
	// UsageInfo is what a job cost, in its result.
	UsageInfo = jobtype.UsageInfo
	// Usage is a user's consumption for the current quota day.
	Usage = jobtype.Usage
	// EventType names what an event changed.
	EventType = jobtype.EventType
)

// The statuses, intents and event types, as in package jobtype.
const (
	StatusQueued    = jobtype.StatusQueued
	StatusWorking   = jobtype.StatusWorking
	StatusRetrying  = jobtype.StatusRetrying
	StatusCompleted = jobtype.StatusCompleted
	StatusFailed    = jobtype.StatusFailed
	StatusCancelled = jobtype.StatusCancelled

	IntentSmartGoal      = jobtype.IntentSmartGoal
	IntentPrioritization = jobtype.IntentPrioritization
	IntentGeneral        = jobtype.IntentGeneral

	EventStatus    = jobtype.EventStatus
	EventProgress  = jobtype.EventProgress
	EventOutput    = jobtype.EventOutput
	EventCompleted = jobtype.EventCompleted
	EventFailed    = jobtype.EventFailed
	EventCancelled = jobtype.EventCancelled
	EventSnapshot  = jobtype.EventSnapshot
	EventResync    = jobtype.EventResync
)

// Job is a job as the server holds it: the snapshot every client sees
// (GET /api/v1/jobs/{id}, ActionCable messages, SSE snapshots) and what
// only the server knows. Only the snapshot is encoded.
type Job struct {
	jobtype.Job

	// UserID owns the job.
	UserID string `json:"-"`
	// Node is the worker process that runs the current attempt ("" before
	// one starts).
	Node string `json:"-"`
	// UserKey is set when the job runs on the user's own provider key.
	UserKey bool `json:"-"`
	// TokensIn and TokensOut add up every attempt that reached the provider.
	TokensIn  int64 `json:"-"`
	TokensOut int64 `json:"-"`
	// Webhook is where the job's changes are delivered (nil: nowhere). It
	// is never sent to clients.
	Webhook *Webhook `json:"-"`
	// WaitingSince is when the job began to wait for its provider (capacity
	// or an outage), nil if it never did: past the provider wait it fails
	// with provider_unavailable.
	WaitingSince *time.Time `json:"-"`
}

// Event is one change of a job as the server holds it: the event every
// client sees, the user it belongs to, which routes it to that user's
// streams, and, on events this node wrote, the snapshot the change made.
// Neither of the last two is encoded.
type Event struct {
	jobtype.Event

	UserID string `json:"-"`
	// After is the job's snapshot at this event's seq, set by the Service
	// on the events it writes (the write returns it), nil on events read
	// from the log: a follower that keeps snapshots (/cable) then needs no
	// read. It must not be modified.
	After *Snapshot `json:"-"`
}
