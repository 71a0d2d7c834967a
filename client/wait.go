package client

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Wait follows the job by long-polling (GET /api/v1/jobs/{id}?wait=30 with
// If-None-Match) until the snapshot says terminal, and returns it.
//
// onChange, when not nil, is called from Wait's goroutine with every new
// version of the job that Wait sees, the first and the terminal one
// included; versions that changed between two polls are not seen.
//
// Wait never polls in a busy loop: an answer without a change that comes back
// early is followed by a pause of at least the server's X-Poll-Interval (or a
// second). 429, 502, 503 and 504 answers and network failures are retried
// after the server's Retry-After or an exponential backoff, whichever is
// longer; a few network failures in a row, any other API error or the end of
// ctx end Wait with that error.
func (c *Client) Wait(ctx context.Context, id string, onChange func(*Job)) (*Job, error) {
	var (
		last     *Job
		etag     string
		failures int // requests in a row that failed
		netFails int // of which network failures
	)
	for {
		start := time.Now()
		job, tag, interval, err := c.poll(ctx, id, etag)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for job %s: %w", id, ctx.Err())
			}
			retry, isNet, after := retryable(err)
			if !retry || (isNet && netFails >= c.maxNetRetries) {
				return nil, fmt.Errorf("wait for job %s: %w", id, err)
			}
			if isNet {
				netFails++
			}
			if err := c.sleep(ctx, c.backoff(failures, after)); err != nil {
				return nil, fmt.Errorf("wait for job %s: %w", id, err)
			}
			failures++
			continue
		}
		failures, netFails = 0, 0
		if job != nil && (last == nil || job.Seq > last.Seq) {
			last, etag = job, tag
			if onChange != nil {
				onChange(job)
			}
			if job.Terminal {
				return job, nil
			}
			continue // a change: ask for the next one at once
		}
		// No change. A long-poll that ran its course has waited enough; one
		// that came back early (a proxy, a server that ignores ?wait) must
		// not turn into a busy loop.
		if err := c.sleep(ctx, max(c.minPoll, interval)-time.Since(start)); err != nil {
			return nil, fmt.Errorf("wait for job %s: %w", id, err)
		}
	}
}

// poll sends one long-poll. It returns the job and its ETag on 200, a nil job
// on 304, and the server's suggested poll interval either way.
func (c *Client) poll(ctx context.Context, id, etag string) (job *Job, tag string, interval time.Duration, err error) {
	wait := min(max(int(c.pollWait/time.Second), 0), 60)
	// The server answers within wait seconds; the margin covers a slow
	// network, and the bound keeps a dead connection from hanging Wait.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second+30*time.Second)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, jobPath(id)+"?wait="+strconv.Itoa(wait), nil)
	if err != nil {
		return nil, "", 0, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, "", 0, err
	}
	defer resp.Body.Close()
	interval = parsePollInterval(resp.Header.Get("X-Poll-Interval"))
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, etag, interval, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, "", interval, errorFrom(resp)
	}
	job = new(Job)
	if err := decodeJSON(resp, job); err != nil {
		return nil, "", interval, err
	}
	tag = resp.Header.Get("ETag")
	if tag == "" {
		tag = `"` + strconv.FormatInt(job.Seq, 10) + `"`
	}
	return job, tag, interval, nil
}

// parsePollInterval reads X-Poll-Interval (seconds, possibly fractional),
// bounded to a minute; zero when absent or unreadable.
func parsePollInterval(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 || f != f {
		return 0
	}
	return time.Duration(min(f, 60) * float64(time.Second))
}
