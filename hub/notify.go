package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aijobs/aijobs/jobs"
)

// channel is the PostgreSQL NOTIFY channel of aijobs events.
const channel = "aijobs_events"

// maxPayload keeps a NOTIFY payload under PostgreSQL's 8,000-byte limit.
const maxPayload = 7000

// EventLog is where the notifier reads the events a notification points at.
type EventLog interface {
	Events(ctx context.Context, jobID string, after int64, limit int) ([]jobs.Event, error)
}

// Notifier links the hubs of several nodes through PostgreSQL: events
// published here go to the local hub at once and, batched every FlushEvery,
// to other nodes as one small NOTIFY naming the jobs and seqs that changed;
// notifications from other nodes are read back from the event log and
// published to the local hub. NOTIFY takes a global lock at commit, hence
// the batching. A node that lost its listener catches up from the log.
type Notifier struct {
	hub  *Hub
	pool *pgxpool.Pool
	log  EventLog
	lg   *slog.Logger
	node string

	// FlushEvery is how often pending notifications are sent. 20 ms.
	flushEvery time.Duration
	// cache is told of other nodes' changes and of the listener's state;
	// set by Keep before Run, then only read.
	cache jobs.LiveCache

	mu      sync.Mutex
	pending map[string][2]int64 // job id → [first, last] seq; guarded by mu
	userOf  map[string]string   // job id → user id of pending; guarded by mu
	// seen is the last seq published here per unfinished job, for catching
	// up after the listener reconnects. Guarded by mu.
	seen map[string]int64
}

var _ jobs.Broker = (*Notifier)(nil)

// NewNotifier returns a Notifier around h. Run must be running for other
// nodes to hear this one and the other way round.
func NewNotifier(h *Hub, pool *pgxpool.Pool, log EventLog, lg *slog.Logger) *Notifier {
	return &Notifier{hub: h, pool: pool, log: log, lg: lg, node: rand.Text()[:10], flushEvery: 20 * time.Millisecond,
		cache: noCache{}, pending: map[string][2]int64{}, userOf: map[string]string{}, seen: map[string]int64{}}
}

// Keep links c, a node's live state (jobs.Service), to the other nodes: it
// is told of every change another node commits, before the change is
// published here, and it is untrusted (Trust(false)) from now until the
// listener is up and whenever the listener is lost, since changes made
// meanwhile go unheard. Call it before Run.
func (n *Notifier) Keep(c jobs.LiveCache) {
	c.Trust(false)
	n.cache = c
}

// noCache is the LiveCache of a Notifier that keeps none.
type noCache struct{}

func (noCache) Changed(string, int64) {}
func (noCache) Trust(bool)            {}

// Subscribe implements jobs.Broker.
func (n *Notifier) Subscribe(userID, jobID string) jobs.Subscription {
	return n.hub.Subscribe(userID, jobID)
}

// Publish implements jobs.Broker.
func (n *Notifier) Publish(evs ...jobs.Event) {
	n.hub.Publish(evs...)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ev := range evs {
		r, ok := n.pending[ev.JobID]
		if !ok {
			r[0] = ev.Seq
		}
		r[0], r[1] = min(r[0], ev.Seq), max(r[1], ev.Seq)
		n.pending[ev.JobID] = r
		n.userOf[ev.JobID] = ev.UserID
	}
}

// Subscribers says how many local subscriptions are open.
func (n *Notifier) Subscribers() int { return n.hub.Subscribers() }

// Run sends batched notifications and listens for other nodes' until ctx
// ends, reconnecting its listener when the connection drops.
func (n *Notifier) Run(ctx context.Context) error {
	go n.flushLoop(ctx)
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := n.listen(ctx, !first)
		first = false
		if ctx.Err() != nil {
			break
		}
		n.lg.Warn("event listener lost its connection; reconnecting", slog.String("error", err.Error()), slog.Duration("backoff", backoff))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (n *Notifier) flushLoop(ctx context.Context) {
	t := time.NewTicker(n.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.flush(ctx)
		case <-ctx.Done():
			n.flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// flush sends the pending notifications as few NOTIFYs as fit.
func (n *Notifier) flush(ctx context.Context) {
	n.mu.Lock()
	pending := n.pending
	if len(pending) == 0 {
		n.mu.Unlock()
		return
	}
	users := n.userOf
	n.pending, n.userOf = map[string][2]int64{}, map[string]string{}
	n.mu.Unlock()
	var b strings.Builder
	send := func() {
		if b.Len() == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := n.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, b.String()); err != nil {
			// Other nodes' watchers will see the gap at the next event, and
			// their long-polls time out into a fresh read; nothing is lost.
			n.lg.Warn("send event notification", slog.String("error", err.Error()))
		}
		b.Reset()
	}
	for id, r := range pending {
		item := fmt.Sprintf("%s:%s:%d:%d", id, users[id], r[0], r[1])
		if b.Len()+len(item)+len(n.node)+2 > maxPayload {
			send()
		}
		if b.Len() == 0 {
			b.WriteString(n.node)
		}
		b.WriteString("|" + item)
	}
	send()
}

// listen holds one dedicated connection listening for notifications.
func (n *Notifier) listen(ctx context.Context, catchUp bool) error {
	pc, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // dedicated: never returned to the pool
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	// Every change committed from now on is heard, and the live state
	// holds nothing from before.
	n.cache.Trust(true)
	defer n.cache.Trust(false)
	if catchUp {
		n.catchUp(ctx)
	}
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.receive(ctx, note)
	}
}

func (n *Notifier) receive(ctx context.Context, note *pgconn.Notification) {
	node, items, _ := strings.Cut(note.Payload, "|")
	if node == n.node {
		return // our own, already published locally
	}
	for _, item := range strings.Split(items, "|") {
		parts := strings.Split(item, ":")
		if len(parts) != 4 {
			continue
		}
		from, err1 := strconv.ParseInt(parts[2], 10, 64)
		to, err2 := strconv.ParseInt(parts[3], 10, 64)
		if err1 != nil || err2 != nil || to < from {
			continue
		}
		n.cache.Changed(parts[0], to)
		if !n.hub.hasSubscribers(parts[0], parts[1]) {
			continue
		}
		n.load(ctx, parts[0], from-1, int(to-from+1))
	}
}

// load reads events of a job from the log and publishes them locally.
func (n *Notifier) load(ctx context.Context, jobID string, after int64, limit int) {
	evs, err := n.log.Events(ctx, jobID, after, limit)
	if err != nil {
		n.lg.Warn("read notified events", slog.String("job_id", jobID), slog.String("error", err.Error()))
		return
	}
	if len(evs) > 0 {
		last := evs[len(evs)-1]
		n.mu.Lock()
		if last.Type.Terminal() {
			delete(n.seen, jobID) // nothing will follow
		} else {
			n.seen[jobID] = max(n.seen[jobID], last.Seq)
		}
		n.mu.Unlock()
	}
	n.hub.Publish(evs...)
}

// catchUp republishes, for every job followed here, what the log holds past
// what was last published: the notifications missed while disconnected.
// Watchers drop what they already have.
func (n *Notifier) catchUp(ctx context.Context) {
	followed := n.hub.jobIDs()
	n.mu.Lock()
	seen := n.seen
	n.seen = make(map[string]int64, len(followed)) // forget jobs no longer followed
	n.mu.Unlock()
	for _, id := range followed {
		n.load(ctx, id, seen[id], 1000)
	}
}
