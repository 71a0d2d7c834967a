package jobs

import (
	"cmp"
	"container/list"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Snapshot is one version of a job as this node holds it, shared by every
// request it answers: its JSON encoding is made at most once. Its Job must
// not be modified.
type Snapshot struct {
	// Job is the job at this version.
	Job Job

	once sync.Once
	body []byte // written once by JSON
	err  error  // written once by JSON
}

// NewSnapshot returns a snapshot of j.
func NewSnapshot(j Job) *Snapshot { return &Snapshot{Job: j} }

// JSON returns the job's encoding (json.Marshal of Job, no newline), made
// on the first call. The bytes are shared: never modify them.
func (s *Snapshot) JSON() ([]byte, error) {
	s.once.Do(func() {
		s.body, s.err = json.Marshal(s.Job)
		if s.err != nil {
			s.err = fmt.Errorf("encode job %s: %w", s.Job.ID, s.err)
		}
	})
	return s.body[:len(s.body):len(s.body)], s.err // an append copies
}

// LiveCache is what a Broker that links several nodes keeps true in a
// Service's live state (see Service.Changed and Service.Trust).
type LiveCache interface {
	// Changed says that another node committed seq of jobID.
	Changed(jobID string, seq int64)
	// Trust says whether other nodes' changes are being heard.
	Trust(ok bool)
}

var _ LiveCache = (*Service)(nil)

// Defaults of the live state (Config.LiveJobs, Config.LiveFor).
const (
	DefaultLiveJobs = 10000
	DefaultLiveFor  = time.Second
)

// live is a node's latest snapshots of unfinished jobs, fed by the changes
// this node commits and by other nodes' notifications: it answers polls and
// long-polls of running jobs without a read. At most max entries, least
// recently used dropped first; a snapshot is trusted for ttl after it was
// stored, the bound on staleness should a notification be lost.
type live struct {
	max int
	ttl time.Duration

	mu sync.Mutex
	// trusted is false while other nodes' changes may go unheard: nothing
	// is cached or answered then. Guarded by mu.
	trusted bool
	// gen changes whenever trust is lost or regained: a read that began
	// before is not cached. Guarded by mu.
	gen uint64
	// byID indexes lru (of *liveEntry, most recently used first). Both
	// guarded by mu.
	byID map[string]*list.Element
	lru  *list.List
}

// liveEntry is one job's newest version known here. snap is nil when a
// newer version than the one held is known (a tombstone): the next read
// goes to the store, and a read of an older version is not kept.
type liveEntry struct {
	id   string
	seq  int64
	snap *Snapshot
	at   time.Time
}

func newLive(maxJobs int, ttl time.Duration) *live {
	return &live{max: cmp.Or(max(maxJobs, 0), 1), ttl: ttl, trusted: true, byID: map[string]*list.Element{}, lru: list.New()}
}

// get returns the job's snapshot if it is held, trusted and fresh at now.
func (l *live) get(id string, now time.Time) *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byID[id]
	if !ok || !l.trusted {
		return nil
	}
	le := e.Value.(*liveEntry)
	if le.snap == nil || now.Sub(le.at) >= l.ttl {
		return nil
	}
	l.lru.MoveToFront(e)
	return le.snap
}

// generation is the token a read takes before it goes to the store, for put.
func (l *live) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// put keeps snap, read or committed at now, unless trust changed since
// gen was taken or a newer version is known. A terminal snapshot ends the
// job's entry (the finished cache holds it).
func (l *live) put(snap *Snapshot, gen uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.trusted || gen != l.gen {
		return
	}
	e, ok := l.byID[snap.Job.ID]
	if ok && e.Value.(*liveEntry).seq > snap.Job.Seq {
		return
	}
	if snap.Job.Terminal {
		if ok {
			l.remove(e)
		}
		return
	}
	l.set(snap.Job.ID, snap.Job.Seq, snap, now)
}

// changed notes that seq of id exists: an older snapshot held is dropped.
func (l *live) changed(id string, seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.trusted {
		return
	}
	if e, ok := l.byID[id]; ok && e.Value.(*liveEntry).seq >= seq {
		return
	}
	l.set(id, seq, nil, time.Time{})
}

// trust starts (ok) or stops trusting; either way every entry goes.
func (l *live) trust(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trusted = ok
	l.gen++
	clear(l.byID)
	l.lru.Init()
}

// set stores an entry in front, evicting the least recently used one
// beyond max. Must be called with mu held.
func (l *live) set(id string, seq int64, snap *Snapshot, at time.Time) {
	le := &liveEntry{id: id, seq: seq, snap: snap, at: at}
	if e, ok := l.byID[id]; ok {
		e.Value = le
		l.lru.MoveToFront(e)
		return
	}
	l.byID[id] = l.lru.PushFront(le)
	for l.lru.Len() > l.max {
		l.remove(l.lru.Back())
	}
}

// remove drops e. Must be called with mu held.
func (l *live) remove(e *list.Element) {
	delete(l.byID, e.Value.(*liveEntry).id)
	l.lru.Remove(e)
}
