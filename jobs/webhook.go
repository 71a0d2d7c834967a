package jobs

import (
	"fmt"
	"slices"
	"time"
)

// Webhook is where a job's changes are delivered: a URL and the event types
// that are sent to it. The webhook package delivers them.
type Webhook struct {
	URL string `json:"url"`
	// Events are the webhook event types sent: completed, failed,
	// cancelled, status and progress. Defaults to DefaultWebhookEvents.
	Events []EventType `json:"events"`
}

// DefaultWebhookEvents are the events a webhook gets when it names none:
// the terminal ones.
var DefaultWebhookEvents = []EventType{EventCompleted, EventFailed, EventCancelled}

// webhookEvents are the event types a webhook may ask for. Output events
// count as progress (they move it).
var webhookEvents = []EventType{EventCompleted, EventFailed, EventCancelled, EventStatus, EventProgress}

// ProgressEvery is the least time between two progress deliveries of one
// job: progress is coalesced to at most one delivery a second.
const ProgressEvery = time.Second

// Wants says whether an event of type t is delivered, and as which webhook
// event type (output events are delivered as progress).
func (w *Webhook) Wants(t EventType) (EventType, bool) {
	if w == nil {
		return "", false
	}
	if t == EventOutput {
		t = EventProgress
	}
	return t, slices.Contains(w.Events, t)
}

// ParseWebhookEvents checks the event types a submit names; none is
// DefaultWebhookEvents.
func ParseWebhookEvents(names []string) ([]EventType, error) {
	if len(names) == 0 {
		return slices.Clone(DefaultWebhookEvents), nil
	}
	var out []EventType
	for _, n := range names {
		t := EventType(n)
		if !slices.Contains(webhookEvents, t) {
			return nil, Errorf(KindInvalid, "invalid_field", "webhook_events: %q is not one of completed, failed, cancelled, status, progress", n)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// DeliveryState is where a webhook delivery stands.
type DeliveryState string

// The states of a delivery: pending until it is delivered (a 2xx answer),
// failed at once on an answer no retry can change (a 4xx other than 429, a
// redirect, a target that is not allowed), dead after its last try.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed"
	DeliveryDead      DeliveryState = "dead"
)

// Delivery is one webhook message: one event of one job, sent (and retried)
// with one webhook-id until it is delivered, failed or dead.
type Delivery struct {
	// ID is the webhook-id of every try ("msg_…").
	ID    string        `json:"id"`
	JobID string        `json:"job_id"`
	Seq   int64         `json:"seq"`
	Event EventType     `json:"event"`
	URL   string        `json:"url"`
	State DeliveryState `json:"state"`
	// StatusCode is the last try's HTTP status (0: no answer).
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	// Attempts are the tries so far, oldest first.
	Attempts      []DeliveryAttempt `json:"attempts"`
	CreatedAt     time.Time         `json:"created_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at"`
	FinishedAt    *time.Time        `json:"finished_at"`

	UserID string `json:"-"`
	// Body is the signed payload: the job snapshot at the event.
	Body []byte `json:"-"`
	// Tries counts the tries started (Attempts may be left unread).
	Tries int `json:"-"`
	// Secret is the user's sealed webhook secret (nil: none), and WaitFor
	// when an earlier pending delivery of the same job is due (nil: none
	// is pending): what the worker needs, read with the delivery.
	Secret  []byte     `json:"-"`
	WaitFor *time.Time `json:"-"`
}

// DeliveryAttempt is one try of a delivery.
type DeliveryAttempt struct {
	N  int       `json:"attempt"`
	At time.Time `json:"at"`
	// DurationMS is how long the try took (absent: it never finished, its
	// worker died).
	DurationMS *int64 `json:"duration_ms"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// TryResult is how one try of a delivery ended.
type TryResult struct {
	N          int
	Duration   time.Duration
	StatusCode int
	Error      string
	// State is the delivery's state after the try; Next is when it is
	// tried again (pending).
	State DeliveryState
	Next  time.Time
	// At is when the try ended.
	At time.Time
}

// ErrWebhookSecret refuses a submit with a webhook when its user has no
// signing secret yet.
var ErrWebhookSecret = Errorf(KindInvalid, "webhook_secret_required",
	"webhooks are signed with your webhook secret: create it first with POST /api/v1/webhooks/secret")

func webhookProblem(format string, args ...any) *Problem {
	return Errorf(KindInvalid, "invalid_webhook_url", "webhook_url: %s", fmt.Sprintf(format, args...))
}
