package jobs

import (
	"github.com/aijobs/aijobs/jobtype"

	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/beat"
	"github.com/aijobs/aijobs/secret"
)

// Broker fans events out to watchers once they are committed. The hub
// package has the in-process implementation and its PostgreSQL notifier.
type Broker interface {
	// Publish delivers committed events to subscribers; it never blocks.
	Publish(evs ...Event)
	// Subscribe follows one job (jobID set) or all of a user's jobs.
	Subscribe(userID, jobID string) Subscription
}

// Subscription is a live feed of events. A subscriber that falls behind is
// dropped: Dropped is closed and it must resume from the log.
type Subscription interface {
	// Events delivers the events, each shared with the node's other
	// subscribers: read-only.
	Events() <-chan *Shared
	Dropped() <-chan struct{}
	Close()
}

// Config configures the Service. Zero values take the defaults given.
type Config struct {
	// Retention is how long a finished job stays readable. Defaults to 7 days.
	Retention time.Duration
	// MaxInput is the input size limit in bytes. Defaults to 32 KiB.
	MaxInput int
	// RequireUserKey is set when the provider needs a key and the server has
	// none: a submit without user_provided_key is refused.
	RequireUserKey bool
	// ValidKey checks a user-provided key's shape (the provider package
	// knows what a key looks like). Defaults to accepting any key.
	ValidKey func(string) bool
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// CheckWebhookURL checks a submit's webhook_url before it is accepted
	// (the webhook package's Targets.CheckURL). Defaults to refusing every
	// webhook.
	CheckWebhookURL func(string) error
	// LiveJobs bounds how many unfinished jobs this node keeps the latest
	// snapshot of, to answer polls without a read. Defaults to
	// DefaultLiveJobs (10,000).
	LiveJobs int
	// LiveFor is how long a kept snapshot of an unfinished job answers
	// before it is read again, the bound on its staleness should another
	// node's change go unheard (a lost notification, or nodes sharing an
	// SQLite file without a notifier). Defaults to DefaultLiveFor (1 s).
	LiveFor time.Duration
}

// Defaults of Config, also the defaults of `aijobs serve`'s flags.
const (
	DefaultRetention = 7 * 24 * time.Hour
	DefaultMaxInput  = 32 << 10
)

func (c Config) withDefaults() Config {
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.MaxInput = cmp.Or(c.MaxInput, DefaultMaxInput)
	c.LiveJobs = cmp.Or(c.LiveJobs, DefaultLiveJobs)
	c.LiveFor = cmp.Or(c.LiveFor, DefaultLiveFor)
	if c.ValidKey == nil {
		c.ValidKey = func(string) bool { return true }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CheckWebhookURL == nil {
		c.CheckWebhookURL = func(string) error { return errors.New("this server sends no webhooks") }
	}
	return c
}

// Service is the one way in to jobs for every transport and for the worker.
type Service struct {
	store  Store
	broker Broker
	keys   *secret.Keys
	// bodyKey keys the hash of an idempotent submit's body.
	bodyKey []byte
	cfg     Config

	// live holds the latest snapshots of unfinished jobs (live.go).
	live *live

	mu sync.Mutex
	// finished caches snapshots of terminal jobs, which never change again:
	// a client polling a finished job costs no read. Guarded by mu.
	finished map[string]*Snapshot
	// beats are the heartbeats of the streams, one wheel per interval
	// shared by all streams of that interval. Guarded by mu.
	beats map[time.Duration]*beat.Wheel
}

// cacheSize bounds the cache; a full cache is simply emptied.
const cacheSize = 10000

// NewService returns a Service on store, publishing to broker.
func NewService(store Store, broker Broker, keys *secret.Keys, cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{store: store, broker: broker, keys: keys, bodyKey: keys.Derive("aijobs request body v1"),
		cfg: cfg, live: newLive(cfg.LiveJobs, cfg.LiveFor), finished: map[string]*Snapshot{}, beats: map[time.Duration]*beat.Wheel{}}
}

// SubmitRequest is a new AI request.
type SubmitRequest struct {
	Input string
	// UserKey is the user's own provider key ("" for the server's).
	UserKey string
	// RequestID makes the submit idempotent ("" for none).
	RequestID string
	// WebhookURL is where the job's changes are delivered: nil for the
	// user's default webhook, "" for none.
	WebhookURL *string
	// WebhookEvents are the event types delivered (none: the terminal ones).
	WebhookEvents []string
}

// Submit creates a job and queues it. created is false when RequestID was
// seen before with the same body: the existing job is returned.
func (s *Service) Submit(ctx context.Context, u User, req SubmitRequest) (job Job, created bool, err error) {
	switch {
	case strings.TrimSpace(req.Input) == "":
		return Job{}, false, Errorf(KindInvalid, "invalid_input", "input must not be empty")
	case len(req.Input) > s.cfg.MaxInput:
		return Job{}, false, Errorf(KindTooLarge, "input_too_large", "input is %d bytes; the limit is %d", len(req.Input), s.cfg.MaxInput)
	// Text the database would reject (PostgreSQL refuses NUL and invalid
	// UTF-8) never reaches it, on either driver.
	case !utf8.ValidString(req.Input) || strings.IndexByte(req.Input, 0) >= 0:
		return Job{}, false, Errorf(KindInvalid, "invalid_input", "input must be valid UTF-8 text without NUL bytes")
	case len(req.RequestID) > 200:
		return Job{}, false, Errorf(KindInvalid, "invalid_field", "request_id is longer than 200 characters")
	case !utf8.ValidString(req.RequestID) || strings.IndexByte(req.RequestID, 0) >= 0:
		return Job{}, false, Errorf(KindInvalid, "invalid_field", "request_id (or Idempotency-Key) must be valid UTF-8 text without NUL bytes")
	case !utf8.ValidString(req.UserKey) || strings.IndexByte(req.UserKey, 0) >= 0:
		return Job{}, false, Errorf(KindInvalid, "invalid_key", "user_provided_key must be valid UTF-8 text without NUL bytes")
	case req.UserKey != "" && !s.cfg.ValidKey(req.UserKey):
		return Job{}, false, Errorf(KindInvalid, "invalid_key", "user_provided_key does not look like an API key")
	case req.UserKey == "" && s.cfg.RequireUserKey:
		return Job{}, false, Errorf(KindInvalid, "no_server_key", "this server has no provider key configured: send user_provided_key")
	}
	hook, err := s.webhook(req)
	if err != nil {
		return Job{}, false, err
	}
	now := s.cfg.Now().UTC()
	id := "job_" + strings.ToLower(rand.Text()) // 128 random bits
	nj := NewJob{
		Job: Job{
			Job:    jobtype.Job{ID: id, Status: StatusQueued, CreatedAt: now, ExpiresAt: now.Add(s.cfg.Retention)},
			UserID: u.ID, UserKey: req.UserKey != "",
		},
		First: Event{Event: jobtype.Event{Type: EventStatus, At: now, Status: StatusQueued}},
		Input: req.Input,
		Day:   day(now), Quota: u.DailyQuota,
		Webhook: hook, DefaultWebhook: req.WebhookURL == nil,
	}
	if req.RequestID != "" {
		// Keyed, so that the stored hash cannot confirm a guessed user key
		// offline.
		mac := hmac.New(sha256.New, s.bodyKey)
		mac.Write([]byte(req.Input + "\x00" + req.UserKey))
		nj.RequestKey, nj.BodyHash = req.RequestID, hex.EncodeToString(mac.Sum(nil))
	}
	if req.UserKey != "" {
		nj.SealedKey = s.keys.Seal([]byte(req.UserKey), id)
	}
	gen := s.live.generation()
	job, first, err := s.store.Create(ctx, nj)
	if err != nil {
		return Job{}, false, fmt.Errorf("submit: %w", err)
	}
	if first != nil {
		snap := NewSnapshot(job)
		s.keep(snap, gen)
		first.After = snap
		s.broker.Publish(*first)
	}
	return job, first != nil, nil
}

// webhook checks a submit's webhook; nil when it names none.
func (s *Service) webhook(req SubmitRequest) (*Webhook, error) {
	if req.WebhookURL == nil || *req.WebhookURL == "" {
		if len(req.WebhookEvents) > 0 {
			return nil, Errorf(KindInvalid, "invalid_field", "webhook_events needs a webhook_url")
		}
		return nil, nil
	}
	u := *req.WebhookURL
	if len(u) > 2000 || !utf8.ValidString(u) {
		return nil, webhookProblem("must be a URL of at most 2000 bytes")
	}
	if err := s.cfg.CheckWebhookURL(u); err != nil {
		return nil, webhookProblem("%v", err)
	}
	events, err := ParseWebhookEvents(req.WebhookEvents)
	if err != nil {
		return nil, err
	}
	return &Webhook{URL: u, Events: events}, nil
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Get returns the user's job; another user's job is ErrNotFound, and
// costs what an unknown id costs: the node's caches answer only the job's
// owner, and the store reads by id and owner in one query, so that neither
// finds a row.
func (s *Service) Get(ctx context.Context, userID, jobID string) (Job, error) {
	snap, err := s.Snapshot(ctx, userID, jobID)
	if err != nil {
		return Job{}, err
	}
	return snap.Job, nil
}

// Snapshot is Get sharing the node's snapshot, with its encoding: a
// finished job, or an unfinished one whose latest version this node holds
// (see Config.LiveJobs), costs no read.
func (s *Service) Snapshot(ctx context.Context, userID, jobID string) (*Snapshot, error) {
	if snap := s.cached(jobID); snap != nil && snap.Job.UserID == userID {
		return snap, nil
	}
	gen := s.live.generation()
	j, err := s.store.UserJob(ctx, userID, jobID)
	if err != nil {
		return nil, err
	}
	snap := NewSnapshot(j)
	s.keep(snap, gen)
	return snap, nil
}

// Find returns a job whoever owns it, for the admin API: never answer a
// user's request with it (Get checks the owner).
func (s *Service) Find(ctx context.Context, jobID string) (Job, error) {
	if snap := s.cached(jobID); snap != nil {
		return snap.Job, nil
	}
	gen := s.live.generation()
	j, err := s.store.Job(ctx, jobID)
	if err != nil {
		return j, err
	}
	s.keep(NewSnapshot(j), gen)
	return j, nil
}

// cached returns the job's snapshot from the finished cache or the live
// state, nil when neither holds a version it can vouch for.
func (s *Service) cached(jobID string) *Snapshot {
	now := s.cfg.Now()
	s.mu.Lock()
	snap, ok := s.finished[jobID]
	s.mu.Unlock()
	if ok && now.Before(snap.Job.ExpiresAt) {
		return snap
	}
	return s.live.get(jobID, now)
}

// keep caches snap, read or committed after gen was taken: a finished job
// in the finished cache, an unfinished one in the live state.
func (s *Service) keep(snap *Snapshot, gen uint64) {
	s.live.put(snap, gen, s.cfg.Now())
	if !snap.Job.Terminal {
		return
	}
	s.mu.Lock()
	if len(s.finished) >= cacheSize {
		clear(s.finished)
	}
	s.finished[snap.Job.ID] = snap
	s.mu.Unlock()
}

// Changed implements LiveCache: the live state drops what it holds of
// jobID older than seq, which another node committed.
func (s *Service) Changed(jobID string, seq int64) { s.live.changed(jobID, seq) }

// Trust implements LiveCache: when a Broker cannot vouch that other nodes'
// changes reach this one (its listener is down), it calls Trust(false) and
// the live state empties and stops answering until Trust(true) (after which
// it fills again from reads made since).
func (s *Service) Trust(ok bool) { s.live.trust(ok) }

// ListRequest pages through a user's jobs.
type ListRequest struct {
	Status Status
	Limit  int
	Cursor string
}

// List returns a page of the user's jobs, newest first, and the cursor of
// the next page ("" at the end).
func (s *Service) List(ctx context.Context, userID string, req ListRequest) ([]Job, string, error) {
	if req.Status != "" && !req.Status.Valid() {
		return nil, "", Errorf(KindInvalid, "invalid_field", "status must be one of queued, working, retrying, completed, failed, cancelled")
	}
	if req.Limit == 0 {
		req.Limit = 20
	}
	if req.Limit < 1 || req.Limit > 100 {
		return nil, "", Errorf(KindInvalid, "invalid_field", "limit must be between 1 and 100")
	}
	f := ListFilter{Status: req.Status, Limit: req.Limit + 1}
	if req.Cursor != "" {
		j, err := s.Get(ctx, userID, req.Cursor)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, "", Errorf(KindInvalid, "invalid_field", "cursor is not valid (its job may have expired)")
		case err != nil:
			return nil, "", err
		}
		f.BeforeCreated, f.BeforeID = j.CreatedAt, j.ID
	}
	list, err := s.store.List(ctx, userID, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > req.Limit {
		list = list[:req.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// Cancel cancels the user's job. A terminal job is ErrTerminal. The worker
// notices within moments (its next write is refused and the broker tells it).
func (s *Service) Cancel(ctx context.Context, userID, jobID string) (Job, error) {
	if _, err := s.Get(ctx, userID, jobID); err != nil {
		return Job{}, err
	}
	return s.update(ctx, jobID, func(j *Job, now time.Time) (*Event, error) {
		if j.Terminal {
			return nil, ErrTerminal
		}
		s.finish(j, StatusCancelled, now)
		j.Error = &Error{Code: jobtype.CodeCancelled, Message: "cancelled by the user"}
		return &Event{Event: jobtype.Event{Type: EventCancelled, Error: j.Error, Intent: j.Intent}}, nil
	})
}

// Usage returns the user's usage for the current UTC day.
func (s *Service) Usage(ctx context.Context, u User) (Usage, error) {
	return s.usage(ctx, u, s.store.Usage)
}

// usage returns the user's usage for the current UTC day as read reads it.
func (s *Service) usage(ctx context.Context, u User, read func(ctx context.Context, userID, day string) (Usage, error)) (Usage, error) {
	now := s.cfg.Now().UTC()
	usage, err := read(ctx, u.ID, day(now))
	if err != nil {
		return Usage{}, err
	}
	usage.RequestsLimit = u.DailyQuota
	usage.RequestsRemaining = max(u.DailyQuota-usage.RequestsUsed, 0)
	usage.ResetsAt = time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return usage, nil
}

// update runs fn on the job in one transaction, then publishes its event.
// fn gets the time of the change, which is also the event's: at the
// store's precision, so the event log folds to the stored snapshot.
func (s *Service) update(ctx context.Context, jobID string, fn func(j *Job, now time.Time) (*Event, error)) (Job, error) {
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	gen := s.live.generation()
	j, ev, err := s.store.Update(ctx, jobID, func(j *Job) (*Event, error) {
		ev, err := fn(j, now)
		if err != nil {
			return nil, err
		}
		ev.At, ev.Status, ev.Progress = now, j.Status, j.Progress
		return ev, nil
	})
	if err != nil {
		return j, err
	}
	// Before publishing: whoever hears of the event finds this version.
	snap := NewSnapshot(j)
	s.keep(snap, gen)
	ev.After = snap
	s.broker.Publish(ev)
	return j, nil
}

// finish moves j to a terminal status at now and starts its retention clock.
func (s *Service) finish(j *Job, status Status, now time.Time) {
	j.Status, j.Terminal, j.FinishedAt, j.RetryAt, j.Reason = status, true, &now, nil, ""
	j.ExpiresAt = now.Add(s.cfg.Retention)
}

// Cleanup deletes finished jobs past their expiry, in batches, and says how
// many went.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.DeleteExpired(ctx, s.cfg.Now(), 500)
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
}
