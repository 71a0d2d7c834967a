package jobtype

import "time"

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

// Delivery is one webhook message, as GET /api/v1/jobs/{id}/deliveries
// shows it: one event of one job, sent (and retried) with one webhook-id
// until it is delivered, failed or dead.
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
