package jobs

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Shared is an event as a Broker hands it to every subscriber on a node:
// one value, shared and read-only, whose JSON (and the JSON of the snapshot
// after it, when the event carries one) is encoded at most once, by the
// first subscriber that needs it, for all of them. Watch and WatchUser also
// wrap the events they replay from the log in one, so a stream writes every
// event the same way.
type Shared struct {
	Event

	eventOnce sync.Once
	event     []byte // guarded by eventOnce
	eventErr  error  // guarded by eventOnce
}

// Share wraps ev for subscribers. ev must not change afterwards.
func Share(ev Event) *Shared { return &Shared{Event: ev} }

// JSON returns the event's encoding, the same bytes for every caller. The
// caller must not modify them.
func (s *Shared) JSON() ([]byte, error) {
	s.eventOnce.Do(func() {
		s.event, s.eventErr = json.Marshal(s.Event)
		if s.eventErr != nil {
			s.eventErr = fmt.Errorf("encode event %s/%d: %w", s.JobID, s.Seq, s.eventErr)
		}
	})
	return s.event[:len(s.event):len(s.event)], s.eventErr // an append copies
}

// SnapshotJSON returns the encoding of the snapshot after the event
// (Event.After), the same bytes for every caller, or nil when the event
// carries none. The caller must not modify them.
func (s *Shared) SnapshotJSON() ([]byte, error) {
	if s.After == nil {
		return nil, nil
	}
	return s.After.JSON() // the poll's encoding of the same version
}
