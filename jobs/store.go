package jobs

import (
	"context"
	"time"
)

// User is someone who submits jobs.
type User struct {
	ID   string
	Name string
	// DailyQuota is how many server-key requests the user may make per UTC day.
	DailyQuota int64
	// Weight is the user's share of the workers when the queue is
	// contended, against the others' (default 1).
	Weight int64
}

// NewJob is what Store.Create writes: the job, its first event and, in the
// same transaction, its place in the queue.
type NewJob struct {
	Job   Job
	First Event
	Input string
	// RequestKey and BodyHash make the submit idempotent (empty: not).
	RequestKey string
	BodyHash   string
	// SealedKey is the user's provider key, already sealed (nil: none).
	SealedKey []byte
	// Day is the quota day; Quota the user's limit on it. Jobs on the user's
	// own key are counted but not limited.
	Day   string
	Quota int64
	// Webhook is the submit's own webhook; without one, DefaultWebhook
	// asks for the user's default (if any). A job with a webhook needs
	// its user's signing secret: without one Create returns
	// ErrWebhookSecret.
	Webhook        *Webhook
	DefaultWebhook bool
}

// ListFilter selects and pages a user's jobs, newest first.
type ListFilter struct {
	Status Status
	Limit  int
	// Before is the cursor: jobs created strictly before this one.
	BeforeCreated time.Time
	BeforeID      string
}

// UserView is where a user's event stream stands at one instant.
type UserView struct {
	// Oldest is the lowest user seq still kept (Newest+1 when none is).
	Oldest int64
	// Newest is the position of a reader that has read every event of the
	// user that UserEvents hands out now.
	Newest int64
	// Unfinished are the user's jobs that are not terminal, newest first,
	// as of Newest or later: on PostgreSQL a job may already reflect an
	// event that UserEvents will hand out after Newest, with a job seq at
	// most the job's Seq.
	Unfinished []Job
}

// Store is what the service needs from the database. Implementations turn
// "no rows" into ErrNotFound and an unreachable database into ErrUnavailable.
type Store interface {
	// Create writes a new job and returns it with its first event as
	// stored (seq and user seq set), or returns the existing job and no
	// event when RequestKey was used before with the same BodyHash. A
	// different body is ErrIdempotency; a user over quota gets a
	// KindLimited problem.
	Create(ctx context.Context, nj NewJob) (job Job, first *Event, err error)
	// Job reads one job by id, whoever owns it.
	Job(ctx context.Context, id string) (Job, error)
	// UserJob reads the user's job by id: another user's job is
	// ErrNotFound, missed by the same query that misses an unknown id.
	UserJob(ctx context.Context, userID, id string) (Job, error)
	// List reads a user's jobs.
	List(ctx context.Context, userID string, f ListFilter) ([]Job, error)
	// Update changes one job in a transaction: fn sees the current row and
	// either returns an error (nothing is written) or the event describing
	// its change, which is appended with the next seq and user seq. A job
	// that becomes terminal loses its sealed key in the same transaction.
	Update(ctx context.Context, id string, fn func(*Job) (*Event, error)) (Job, Event, error)
	// Events reads a job's events with seq > after, oldest first.
	Events(ctx context.Context, jobID string, after int64, limit int) ([]Event, error)
	// UserEvents reads a user's events with user_seq > after, oldest first:
	// those it may hand out now, so that no event committed later has a
	// lower user seq. User seqs increase but need not be consecutive.
	UserEvents(ctx context.Context, userID string, after int64, limit int) ([]Event, error)
	// UserView reads, in one consistent snapshot, the range of the user's
	// event sequence still kept and up to limit unfinished jobs.
	UserView(ctx context.Context, userID string, limit int) (UserView, error)
	// Input reads what the worker needs: the input and the sealed key (nil
	// if none or already deleted).
	Input(ctx context.Context, jobID string) (input string, sealedKey []byte, err error)
	// Usage reads the user's usage of the day: requests counted at submit,
	// tokens summed over the jobs submitted that day (every attempt's
	// tokens are on its job's row).
	Usage(ctx context.Context, userID, day string) (Usage, error)
	// Requests reads the requests counted on the user's day, without the
	// tokens (whose sum reads every job of the day).
	Requests(ctx context.Context, userID, day string) (Usage, error)
	// UserByID reads one user.
	UserByID(ctx context.Context, id string) (User, error)
	// DeleteExpired deletes up to limit finished jobs whose expires_at has
	// passed, with their events, and says how many went.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}
