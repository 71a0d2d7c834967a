package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aijobs/aijobs/jobtype"
)

// Options configures a Client. A nil *Options means all defaults.
type Options struct {
	// HTTPClient sends the requests. Defaults to a client without an overall
	// Timeout: Wait and Watch hold requests open for long-polls and streams,
	// and bound them themselves. A client with a Timeout shorter than about
	// 45 seconds breaks long-polls and streams.
	HTTPClient *http.Client
	// UserAgent is sent with every request. Defaults to "aijobs-go-client".
	UserAgent string
}

// Client talks to one aijobs server as one user. Create it with New.
type Client struct {
	base  string // scheme://host[/prefix], without a trailing slash
	token string
	hc    *http.Client
	ua    string

	// The knobs below are fixed by New; the package's tests shorten them.

	// pollWait is the ?wait= of a long-poll.
	pollWait time.Duration
	// minPoll is the shortest gap between two polls that saw no change,
	// unless the server's X-Poll-Interval asks for more.
	minPoll time.Duration
	// minBackoff and maxBackoff bound the exponential backoff between
	// retries; a longer Retry-After wins.
	minBackoff, maxBackoff time.Duration
	// maxNetRetries is how many requests in a row may fail at the network
	// level before Wait gives up.
	maxNetRetries int
	// requestTimeout bounds one plain request (not a long-poll, not a stream).
	requestTimeout time.Duration
	// firstByteTimeout is how long a stream may take to deliver its first
	// byte before Watch decides streaming is blocked and long-polls instead.
	firstByteTimeout time.Duration
	// idleTimeout is how long an open stream may stay silent (heartbeats
	// come every 15 s) before Watch reconnects.
	idleTimeout time.Duration
	// reconnectDelay is the wait before reconnecting a dropped stream until
	// the server sends its own retry: field.
	reconnectDelay time.Duration
	// maxEmptyDrops is how many streams in a row may end without an event
	// before Watch long-polls instead.
	maxEmptyDrops int
	// sleep waits for d or until ctx is done.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client of the aijobs server at baseURL (such as
// "http://127.0.0.1:8080"; a path prefix is kept) that authenticates with the
// API token. opts may be nil.
func New(baseURL, token string, opts *Options) *Client {
	if opts == nil {
		opts = &Options{}
	}
	c := &Client{
		base:             strings.TrimRight(baseURL, "/"),
		token:            token,
		hc:               opts.HTTPClient,
		ua:               opts.UserAgent,
		pollWait:         30 * time.Second,
		minPoll:          time.Second,
		minBackoff:       500 * time.Millisecond,
		maxBackoff:       30 * time.Second,
		maxNetRetries:    5,
		requestTimeout:   time.Minute,
		firstByteTimeout: 10 * time.Second,
		idleTimeout:      45 * time.Second,
		reconnectDelay:   time.Second,
		maxEmptyDrops:    5,
		sleep:            sleepCtx,
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.ua == "" {
		c.ua = "aijobs-go-client"
	}
	return c
}

// Job is a job snapshot as the owner sees it: the shared snapshot plus the
// stream token that the submit response and GET of one job carry.
type Job struct {
	jobtype.Job
	// StreamToken is a short-lived read-only token for this job's stream URLs
	// (?token=), for clients that cannot send headers (browsers). Empty in
	// lists and in snapshots built from events.
	StreamToken string `json:"stream_token,omitempty"`
}

// SubmitRequest is an AI request to run as a job.
type SubmitRequest struct {
	// Input is the user's text.
	Input string
	// UserProvidedKey is the user's own provider API key for this job; empty
	// means the server's key. The server stores it encrypted and never
	// returns it.
	UserProvidedKey string
	// RequestID makes submitting idempotent: the same id with the same body
	// returns the job created the first time; with a different body the
	// server answers ErrIdempotencyConflict. Empty means no idempotency.
	RequestID string
	// WebhookURL is where the server delivers the job's events (verify
	// them with VerifyWebhook); empty means the user's default webhook,
	// if an admin set one.
	WebhookURL string
	// WebhookEvents are the events delivered: completed, failed,
	// cancelled, status, progress. Empty means the terminal ones.
	WebhookEvents []string
}

// Submitted is the answer to Submit: the job's snapshot and the server's
// message.
type Submitted struct {
	Job
	// Message is the server's message, "AI request queued for processing".
	Message string `json:"message"`
	// Created is true when this call created the job (202) and false when
	// the request id named a job submitted before (200).
	Created bool `json:"-"`
}

// ListOptions filters and pages List. A nil *ListOptions lists the first
// page of all jobs.
type ListOptions struct {
	// Status keeps only jobs in this status; empty means any.
	Status jobtype.Status
	// Limit is the page size, 1–100; zero means the server's default (20).
	Limit int
	// Cursor is the NextCursor of the previous page; empty means the first.
	Cursor string
}

// JobPage is one page of List, newest job first.
type JobPage struct {
	// Jobs are the page's snapshots.
	Jobs []Job `json:"jobs"`
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string `json:"next_cursor"`
}

// StreamToken is a short-lived read-only token for all of the caller's
// streams (/api/v1/events, any of their jobs' /events, /cable).
type StreamToken struct {
	// Token goes in the stream URL as ?token=.
	Token string `json:"stream_token"`
	// ExpiresAt is when the token stops working.
	ExpiresAt time.Time `json:"expires_at"`
}

// Submit queues an AI request as a new job, or returns the existing job when
// req.RequestID was used before with the same body.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*Submitted, error) {
	body := struct {
		Input           string   `json:"input"`
		UserProvidedKey *string  `json:"user_provided_key"`
		RequestID       *string  `json:"request_id"`
		WebhookURL      *string  `json:"webhook_url,omitempty"`
		WebhookEvents   []string `json:"webhook_events,omitempty"`
	}{Input: req.Input, WebhookEvents: req.WebhookEvents}
	if req.WebhookURL != "" {
		body.WebhookURL = &req.WebhookURL
	}
	if req.UserProvidedKey != "" {
		body.UserProvidedKey = &req.UserProvidedKey
	}
	if req.RequestID != "" {
		body.RequestID = &req.RequestID
	}
	var sub Submitted
	status, err := c.call(ctx, http.MethodPost, "/api/v1/ai/proxy", body, &sub)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	sub.Created = status == http.StatusAccepted
	return &sub, nil
}

// Get returns the job's current snapshot.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	var job Job
	if _, err := c.call(ctx, http.MethodGet, jobPath(id), nil, &job); err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return &job, nil
}

// List returns one page of the caller's jobs, newest first. opts may be nil.
func (c *Client) List(ctx context.Context, opts *ListOptions) (*JobPage, error) {
	q := url.Values{}
	if opts != nil {
		if opts.Status != "" {
			q.Set("status", string(opts.Status))
		}
		if opts.Limit != 0 {
			q.Set("limit", strconv.Itoa(opts.Limit))
		}
		if opts.Cursor != "" {
			q.Set("cursor", opts.Cursor)
		}
	}
	path := "/api/v1/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page JobPage
	if _, err := c.call(ctx, http.MethodGet, path, nil, &page); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return &page, nil
}

// Cancel asks the server to cancel the job and returns its snapshot, now
// cancelled. A job that has already finished gives ErrTerminal.
func (c *Client) Cancel(ctx context.Context, id string) (*Job, error) {
	var job Job
	if _, err := c.call(ctx, http.MethodPost, jobPath(id)+"/cancel", nil, &job); err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return &job, nil
}

// Usage returns the caller's usage and quota for the current UTC day.
func (c *Client) Usage(ctx context.Context) (*jobtype.Usage, error) {
	var u jobtype.Usage
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/ai/usage", nil, &u); err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	return &u, nil
}

// StreamToken returns a new short-lived read-only token for all of the
// caller's streams, for handing to a browser's EventSource or WebSocket.
func (c *Client) StreamToken(ctx context.Context) (*StreamToken, error) {
	var st StreamToken
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/stream_tokens", nil, &st); err != nil {
		return nil, fmt.Errorf("stream token: %w", err)
	}
	return &st, nil
}

func jobPath(id string) string { return "/api/v1/jobs/" + url.PathEscape(id) }

// maxBody bounds what the client reads of one JSON answer.
const maxBody = 16 << 20

// call sends one plain request, decodes a 2xx JSON answer into out and turns
// anything else into an *Error. It returns the status code.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (int, error) {
	if _, ok := ctx.Deadline(); !ok && c.requestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.requestTimeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errorFrom(resp)
	}
	return resp.StatusCode, decodeJSON(resp, out)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func decodeJSON(resp *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer (HTTP %d, %s): %w", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	return nil
}

// errorFrom turns a non-2xx answer into an *Error, reading the aijobs error
// body when there is one and falling back to the status text.
func errorFrom(resp *http.Response) *Error {
	e := &Error{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Code, e.Message = body.Code, body.Error
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
		if e.Message == "" {
			e.Message = "unexpected answer"
		}
	}
	return e
}

// retryable reports whether a request that failed with err may succeed if
// sent again later, and how long the server asked to wait: 429, 502, 503
// and 504 answers, and network failures (isNet is true). Context errors, other
// API errors, a cancelled context and answers that cannot be decoded are
// final.
//
// The caller checks its own context first: a deadline here is the bound of
// one request, a dead connection.
func retryable(err error) (ok, isNet bool, after time.Duration) {
	var ae *Error
	if errors.As(err, &ae) {
		if errors.Is(ae, ErrUnavailable) || ae.Status == http.StatusTooManyRequests {
			return true, false, ae.RetryAfter
		}
		return false, false, 0
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true, true, 0
	}
	return false, false, 0
}

// backoff returns how long to wait before retry number n (0 for the first):
// an exponential backoff with jitter, or retryAfter when that is longer.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	d := c.maxBackoff
	if n < 30 {
		d = min(c.minBackoff<<n, c.maxBackoff)
	}
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	return max(d, retryAfter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
