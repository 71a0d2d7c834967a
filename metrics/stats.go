package metrics

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// Stats keeps the operator page's history (GET /api/v1/admin/stats) in
// memory: a ring of 10-second buckets over the last 30 minutes, filled by
// the Registry as this process writes events, runs attempts and calls the
// provider. It is per node: counts and latencies are what this process saw.
// Only the queue's depth is cluster-wide, read from the store by Run every
// 5 s. A restart starts it empty; Prometheus keeps the long view.
type Stats struct {
	r      *Registry
	bucket time.Duration
	now    func() time.Time
	start  time.Time // when the history begins

	// store counts unfinished jobs; set once by Registry.Observe, before
	// Run.
	store UnfinishedCounter

	mu   sync.Mutex
	ring []bucket // by (start / bucket) % len; guarded by mu
}

// UnfinishedCounter counts the unfinished jobs of the whole database, by
// status (store.Store implements it).
type UnfinishedCounter interface {
	Unfinished(ctx context.Context) (map[jobs.Status]int64, error)
}

// Buckets of the history: how wide, how many, and how many latency samples
// each keeps (a uniform sample of the bucket's attempts, so percentiles
// stay cheap however busy the node is).
const (
	statsBucket  = 10 * time.Second
	statsBuckets = 180
	statsSamples = 256
	// statsSampleEvery is how often Run samples the open streams and the
	// queue's depth into the current bucket.
	statsSampleEvery = 5 * time.Second
)

// bucket is one period of the history.
type bucket struct {
	start                                   time.Time // zero: never used
	submitted, completed, failed, cancelled int64
	providerErrors                          int64
	wait, run                               reservoir
	sampled                                 bool // streams below are set
	streams                                 map[string]int64
	depthSampled                            bool
	queued, working, retrying               int64
}

func newStats(r *Registry) *Stats {
	s := &Stats{r: r, bucket: statsBucket, now: time.Now, ring: make([]bucket, statsBuckets)}
	s.start = s.now().Truncate(s.bucket)
	return s
}

func (s *Stats) setStore(st UnfinishedCounter) { s.store = st }

// at returns the bucket of t, emptied if it last held an older period.
// s.mu must be held.
func (s *Stats) at(t time.Time) *bucket {
	start := t.Truncate(s.bucket)
	b := &s.ring[int(start.Unix()/int64(s.bucket/time.Second))%len(s.ring)]
	if !b.start.Equal(start) {
		*b = bucket{start: start}
	}
	return b
}

func (s *Stats) add(f func(b *bucket)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.at(s.now()))
}

func (s *Stats) submitted()     { s.add(func(b *bucket) { b.submitted++ }) }
func (s *Stats) providerError() { s.add(func(b *bucket) { b.providerErrors++ }) }
func (s *Stats) waited(d time.Duration) {
	s.add(func(b *bucket) { b.wait.add(d.Seconds()) })
}
func (s *Stats) ran(d time.Duration) { s.add(func(b *bucket) { b.run.add(d.Seconds()) }) }

func (s *Stats) finished(st jobs.Status) {
	s.add(func(b *bucket) {
		switch st {
		case jobs.StatusCompleted:
			b.completed++
		case jobs.StatusFailed:
			b.failed++
		case jobs.StatusCancelled:
			b.cancelled++
		}
	})
}

// sampleStreams records the streams open now in the current bucket.
func (s *Stats) sampleStreams() {
	open := make(map[string]int64, len(s.r.open))
	for k, n := range s.r.open {
		open[k] = n.Load()
	}
	s.add(func(b *bucket) { b.sampled, b.streams = true, open })
}

// sampleDepth reads the queue's depth from the store into the current
// bucket and the aijobs_jobs_unfinished gauge.
func (s *Stats) sampleDepth(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := s.store.Unfinished(ctx)
	if err != nil {
		return err
	}
	for _, st := range []jobs.Status{jobs.StatusQueued, jobs.StatusWorking, jobs.StatusRetrying} {
		s.r.unfinished.WithLabelValues(string(st)).Set(float64(n[st]))
	}
	s.add(func(b *bucket) {
		b.depthSampled = true
		b.queued, b.working, b.retrying = n[jobs.StatusQueued], n[jobs.StatusWorking], n[jobs.StatusRetrying]
	})
	return nil
}

// Run samples the open streams and the queue's depth every 5 s until ctx
// ends. A failing read of the depth is logged (at most once a minute) and
// leaves a gap in the chart.
func (s *Stats) Run(ctx context.Context, log *slog.Logger) error {
	t := time.NewTicker(statsSampleEvery)
	defer t.Stop()
	var lastLogged time.Time
	for {
		s.sampleStreams()
		if err := s.sampleDepth(ctx); err != nil && ctx.Err() == nil && time.Since(lastLogged) > time.Minute {
			lastLogged = time.Now()
			log.WarnContext(ctx, "stats: count unfinished jobs", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Snapshot is the operator page's data: the series described by the
// AdminStats schema of openapi.json, oldest bucket first, the last one
// still filling. It implements api.Stats.
func (s *Stats) Snapshot(context.Context) (any, error) {
	s.sampleStreams()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := now.Truncate(s.bucket)
	first := cur.Add(-time.Duration(len(s.ring)-1) * s.bucket)
	if first.Before(s.start) {
		first = s.start
	}
	out := newSnapshot(s.bucket)
	for t := first; !t.After(cur); t = t.Add(s.bucket) {
		b := s.at(t)
		// Rates per minute; the filling bucket over the time it has had
		// (at least half a bucket, so that its first second is not a spike).
		span := s.bucket
		if t.Equal(cur) {
			span = max(now.Sub(cur), s.bucket/2)
		}
		out.add(b, float64(time.Minute)/float64(span))
	}
	return out, nil
}

// snapshot is the JSON of Snapshot. A nil value is null: no sample.
type snapshot struct {
	Scope          string                `json:"scope"`
	BucketSeconds  int                   `json:"bucket_seconds"`
	Time           []int64               `json:"time"`
	JobsPerMinute  map[string][]*float64 `json:"jobs_per_minute"`
	QueueDepth     map[string][]*float64 `json:"queue_depth"`
	WaitSeconds    map[string][]*float64 `json:"wait_seconds"`
	RunSeconds     map[string][]*float64 `json:"run_seconds"`
	ProviderErrors []*float64            `json:"provider_errors_per_minute"`
	OpenStreams    map[string][]*float64 `json:"open_streams"`
}

func newSnapshot(bucket time.Duration) *snapshot {
	keys := func(ks ...string) map[string][]*float64 {
		m := make(map[string][]*float64, len(ks))
		for _, k := range ks {
			m[k] = []*float64{}
		}
		return m
	}
	return &snapshot{
		Scope: "node", BucketSeconds: int(bucket / time.Second), Time: []int64{},
		JobsPerMinute:  keys("submitted", "completed", "failed", "cancelled"),
		QueueDepth:     keys("queued", "working", "retrying"),
		WaitSeconds:    keys("p50", "p95"),
		RunSeconds:     keys("p50", "p95"),
		ProviderErrors: []*float64{},
		OpenStreams:    keys(append(slices.Clone(streamTransports), cableSubscription)...),
	}
}

func num(v float64) *float64 { return &v }

// add appends bucket b; perMinute turns its counts into rates.
func (o *snapshot) add(b *bucket, perMinute float64) {
	o.Time = append(o.Time, b.start.Unix())
	rate := func(key string, n int64) {
		o.JobsPerMinute[key] = append(o.JobsPerMinute[key], num(float64(n)*perMinute))
	}
	rate("submitted", b.submitted)
	rate("completed", b.completed)
	rate("failed", b.failed)
	rate("cancelled", b.cancelled)
	o.ProviderErrors = append(o.ProviderErrors, num(float64(b.providerErrors)*perMinute))
	depth := func(key string, n int64) {
		var v *float64
		if b.depthSampled {
			v = num(float64(n))
		}
		o.QueueDepth[key] = append(o.QueueDepth[key], v)
	}
	depth("queued", b.queued)
	depth("working", b.working)
	depth("retrying", b.retrying)
	o.WaitSeconds["p50"] = append(o.WaitSeconds["p50"], b.wait.quantile(0.5))
	o.WaitSeconds["p95"] = append(o.WaitSeconds["p95"], b.wait.quantile(0.95))
	o.RunSeconds["p50"] = append(o.RunSeconds["p50"], b.run.quantile(0.5))
	o.RunSeconds["p95"] = append(o.RunSeconds["p95"], b.run.quantile(0.95))
	for k := range o.OpenStreams {
		var v *float64
		if b.sampled {
			v = num(float64(b.streams[k]))
		}
		o.OpenStreams[k] = append(o.OpenStreams[k], v)
	}
}

// reservoir is a uniform sample of at most statsSamples values (Vitter's
// algorithm R).
type reservoir struct {
	seen int
	vals []float64
}

func (r *reservoir) add(v float64) {
	r.seen++
	if len(r.vals) < statsSamples {
		r.vals = append(r.vals, v)
		return
	}
	if i := rand.IntN(r.seen); i < statsSamples {
		r.vals[i] = v
	}
}

// quantile is the nearest-rank q-quantile of the sample (nil when empty).
func (r *reservoir) quantile(q float64) *float64 {
	if len(r.vals) == 0 {
		return nil
	}
	v := slices.Clone(r.vals)
	slices.Sort(v)
	i := int(float64(len(v))*q+0.999999) - 1
	return num(v[min(max(i, 0), len(v)-1)])
}
