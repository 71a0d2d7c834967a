// Package jobs is the heart of aijobs: the job model, its statuses and
// transitions, the event log, and the Service that submits, reads, cancels,
// runs and watches jobs. Every transport goes through it; it knows nothing of
// HTTP or SQL.
package jobs

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

// Job is the snapshot of one job that every client sees: the JSON of
// GET /api/v1/jobs/{id}, of an ActionCable message and of an SSE snapshot.
type Job struct {
	ID         string          `json:"job_id"`
	Status     Status          `json:"status"`
	Terminal   bool            `json:"terminal"`
	Progress   int             `json:"progress"`
	Seq        int64           `json:"seq"`
	Intent     Intent          `json:"intent,omitempty"`
	Attempt    int             `json:"attempt"`
	Result     json.RawMessage `json:"result"`
	Error      *Error          `json:"error"`
	RetryAt    *time.Time      `json:"retry_at,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	ExpiresAt  time.Time       `json:"expires_at"`

	// UserID owns the job. It is never sent to clients.
	UserID string `json:"-"`
	// Node is the worker process that runs the current attempt ("" before
	// one starts). It is never sent to clients.
	Node string `json:"-"`
	// UserKey is set when the job runs on the user's own provider key.
	UserKey bool `json:"-"`
	// TokensIn and TokensOut add up every attempt that reached the provider.
	TokensIn  int64 `json:"-"`
	TokensOut int64 `json:"-"`
	// Webhook is where the job's changes are delivered (nil: nowhere). It
	// is never sent to clients.
	Webhook *Webhook `json:"-"`
}

// Error is a job's failure or cancellation reason.
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
	// Job is the full snapshot, on snapshot and resync events only.
	Job *Job `json:"job,omitempty"`

	UserID string `json:"-"`
}
