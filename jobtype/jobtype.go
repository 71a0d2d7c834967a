// Package jobtype is a job as every client sees it: the snapshot of
// GET /api/v1/jobs/{id}, the events of its log, its statuses, the error
// codes, and Apply, the one fold of an event into a snapshot. It uses only
// the standard library, so the server, the Go client and the CLI share it
// without the client importing the server.
package jobtype

import (
	"encoding/json"
	"time"
)

// Status is where a job stands. The names are the original system's.
type Status string

// The statuses of a job. queued → working → completed | failed | cancelled,
// with working → retrying → working between attempts and queued → cancelled.
const (
	StatusQueued    Status = "queued"
	StatusWorking   Status = "working"
	StatusRetrying  Status = "retrying"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether a job in this status will never change again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusWorking, StatusRetrying, StatusCompleted, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Intent is what the user asked for, as classified by the AI step.
type Intent string

// The intents the AI step knows.
const (
	IntentSmartGoal      Intent = "smart_goal"
	IntentPrioritization Intent = "prioritization"
	IntentGeneral        Intent = "general"
)

// Job is the snapshot of one job: the JSON of GET /api/v1/jobs/{id}, of an
// ActionCable message and of an SSE snapshot.
type Job struct {
	ID       string          `json:"job_id"`
	Status   Status          `json:"status"`
	Terminal bool            `json:"terminal"`
	Progress int             `json:"progress"`
	Seq      int64           `json:"seq"`
	Intent   Intent          `json:"intent,omitempty"`
	Attempt  int             `json:"attempt"`
	Result   json.RawMessage `json:"result"`
	Error    *Error          `json:"error"`
	RetryAt  *time.Time      `json:"retry_at,omitempty"`
	// Reason says why a queued or retrying job waits, when it waits for the
	// provider rather than for a worker: ReasonWaitingForCapacity or
	// ReasonWaitingForProvider; RetryAt is then when it tries next.
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
}

// Error is a job's failure or cancellation reason; Code is one of the Code
// constants of this package.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result is a completed job's result, in the original system's shape.
type Result struct {
	Intent    Intent          `json:"intent"`
	Output    json.RawMessage `json:"output"`
	Text      string          `json:"text"`
	UsageInfo UsageInfo       `json:"usage_info"`
}

// UsageInfo is what a job cost and where the user stands with their quota.
type UsageInfo struct {
	Provider          string    `json:"provider"`
	Model             string    `json:"model"`
	TokensIn          int64     `json:"tokens_in"`
	TokensOut         int64     `json:"tokens_out"`
	UserKeyUsed       bool      `json:"user_key_used"`
	RequestsUsed      int64     `json:"requests_used"`
	RequestsLimit     int64     `json:"requests_limit"`
	RequestsRemaining int64     `json:"requests_remaining"`
	ResetsAt          time.Time `json:"resets_at"`
}

// Usage is a user's consumption for the current quota day.
type Usage struct {
	RequestsUsed      int64     `json:"requests_used"`
	RequestsLimit     int64     `json:"requests_limit"`
	RequestsRemaining int64     `json:"requests_remaining"`
	ResetsAt          time.Time `json:"resets_at"`
	TokensIn          int64     `json:"tokens_in"`
	TokensOut         int64     `json:"tokens_out"`
	UserKeyRequests   int64     `json:"user_key_requests"`
}

// EventType names what an event changed.
type EventType string

// The event types of the job log. EventSnapshot and EventResync are never
// stored: streams send them to start or to restart a client's view.
const (
	EventStatus    EventType = "status"
	EventProgress  EventType = "progress"
	EventOutput    EventType = "output"
	EventCompleted EventType = "completed"
	EventFailed    EventType = "failed"
	EventCancelled EventType = "cancelled"
	EventSnapshot  EventType = "snapshot"
	EventResync    EventType = "resync"
)

// Terminal reports whether an event of this type ends its job.
func (t EventType) Terminal() bool {
	return t == EventCompleted || t == EventFailed || t == EventCancelled
}

// Event is one change of a job, as stored in its log and sent on streams.
// Seq is the job's version after the change; UserSeq orders all events of
// one user and resumes the per-user stream.
type Event struct {
	JobID   string    `json:"job_id"`
	Seq     int64     `json:"seq"`
	UserSeq int64     `json:"user_seq,omitempty"`
	Type    EventType `json:"type"`
	// Terminal is true exactly on the job's last event (completed, failed,
	// cancelled) and on a snapshot of a finished job: a client stops on it.
	Terminal bool      `json:"terminal"`
	At       time.Time `json:"at"`
	Status   Status    `json:"status"`
	Progress int       `json:"progress"`
	Attempt  int       `json:"attempt,omitempty"`
	// Text is a chunk of model output (output events).
	Text string `json:"text,omitempty"`
	// Intent, once known.
	Intent  Intent          `json:"intent,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	RetryAt *time.Time      `json:"retry_at,omitempty"`
	// Reason is why the job waits (status events of a queued or retrying
	// job, see Job.Reason).
	Reason string `json:"reason,omitempty"`
	// Job is the full snapshot, on snapshot and resync events only.
	Job *Job `json:"job,omitempty"`
}

// Resets reports whether ev carries a whole snapshot that replaces what a
// client knows of the job (snapshot and resync events).
func (ev Event) Resets() bool {
	return (ev.Type == EventSnapshot || ev.Type == EventResync) && ev.Job != nil
}

// Apply folds ev into j, the snapshot a client holds, so that folding a
// job's log in order gives the job's snapshot at the last event's seq (the
// server's timestamps aside: created_at and expires_at come only with a
// snapshot). A snapshot or resync event replaces j. Progress never goes
// backwards except on a reset; a completed job shows 100.
func Apply(j *Job, ev Event) {
	if ev.Resets() {
		*j = *ev.Job
		return
	}
	if ev.JobID != "" {
		j.ID = ev.JobID
	}
	j.Seq = ev.Seq
	if ev.Status != "" {
		j.Status = ev.Status
	}
	j.Terminal = ev.Terminal
	j.Progress = max(j.Progress, ev.Progress)
	if ev.Attempt > 0 {
		j.Attempt = ev.Attempt
	}
	if ev.Intent != "" {
		j.Intent = ev.Intent
	}
	if ev.Type == EventStatus {
		j.RetryAt, j.Reason = ev.RetryAt, ev.Reason
		if ev.Status == StatusWorking && j.StartedAt == nil {
			at := ev.At
			j.StartedAt = &at
		}
	}
	if ev.Terminal {
		j.Result, j.Error, j.RetryAt, j.Reason = ev.Result, ev.Error, nil, ""
		if ev.Type == EventCompleted {
			j.Progress, j.Error = 100, nil
		}
		at := ev.At
		j.FinishedAt = &at
	}
}

// View is a job as a follower shows it: the snapshot folded from its events
// and the model output the current attempt has streamed so far.
type View struct {
	Job Job
	// Output is the text of the output events of the current attempt.
	Output string
	// attempt is the attempt Output belongs to.
	attempt int
}

// Apply folds ev into the view and reports whether the output started over:
// output belongs to one attempt, so a `status` event `working` of a new
// attempt, or of the same attempt with an error (the model was asked again
// after output that did not validate, error.code invalid_output), or a
// resync, clears it rather than glue two attempts' text together.
func (v *View) Apply(ev Event) (restart bool) {
	switch {
	case ev.Type == EventResync:
		restart = v.Output != ""
		v.Output = ""
	case ev.Type == EventStatus && ev.Status == StatusWorking && ev.Attempt > 0:
		restart = ev.Attempt != v.attempt || ev.Error != nil
		if restart {
			v.Output = ""
		}
		v.attempt = ev.Attempt
	case ev.Type == EventOutput:
		v.Output += ev.Text
	}
	Apply(&v.Job, ev)
	if ev.Resets() {
		v.attempt = ev.Job.Attempt
	}
	return restart
}
