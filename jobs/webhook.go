package jobs

import (
	"fmt"
	"slices"
	"time"

	"github.com/aijobs/aijobs/jobtype"
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

// The wire side of deliveries is package jobtype's.
type (
	// DeliveryState is where a webhook delivery stands.
	DeliveryState = jobtype.DeliveryState
	// DeliveryAttempt is one try of a delivery.
	DeliveryAttempt = jobtype.DeliveryAttempt
)

// The states of a delivery, as in package jobtype.
const (
	DeliveryPending   = jobtype.DeliveryPending
	DeliveryDelivered = jobtype.DeliveryDelivered
	DeliveryFailed    = jobtype.DeliveryFailed
	DeliveryDead      = jobtype.DeliveryDead
)

// Delivery is one webhook message as the server holds it: what
// GET /api/v1/jobs/{id}/deliveries shows, and what only the worker needs.
type Delivery struct {
	jobtype.Delivery

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
