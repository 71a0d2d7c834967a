package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	// ID is the stream's last event ID when the event was dispatched: the
	// latest id: field, which persists across events as the standard says.
	ID string
	// Type is the event: field, "message" when absent.
	Type string
	// Data is the data: lines joined with "\n".
	Data string
}

// errSSETooLarge ends a stream whose line or event exceeds the reader's
// bound.
var errSSETooLarge = errors.New("server-sent event too large")

// sseReader parses a text/event-stream as the HTML standard's "event stream
// interpretation" says: lines end in CRLF, LF or CR; a blank line dispatches
// the event; lines starting with ":" are comments; "field: value" with one
// optional space after the colon; unknown fields are ignored; an event that
// the stream's end cuts off is discarded. It is not safe for concurrent use.
type sseReader struct {
	r   *bufio.Reader
	max int // bound on one line and on one event's data, in bytes

	started bool // the leading byte-order mark has been looked for
	skipLF  bool // the last line ended in CR: a following LF belongs to it
	line    []byte

	lastID    string
	eventType string
	data      bytes.Buffer
	hasData   bool

	// retry is the latest valid retry: field, or -1 when none was seen.
	retry time.Duration
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096), max: max, retry: -1}
}

// Retry returns the reconnection time the stream asked for with retry:, or
// -1 if it sent none.
func (s *sseReader) Retry() time.Duration { return s.retry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (or the reader's error), discarding an event not yet dispatched.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if ev, ok := s.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment, such as the heartbeat ": hb"
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			s.eventType = string(value)
		case "data":
			if s.data.Len()+len(value)+1 > s.max {
				return sseEvent{}, errSSETooLarge
			}
			s.data.Write(value)
			s.data.WriteByte('\n')
			s.hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = string(value)
			}
		case "retry":
			if ms, ok := parseDigits(value); ok {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// dispatch ends the event being read. It reports false when the event had no
// data, which the standard says is not dispatched.
func (s *sseReader) dispatch() (sseEvent, bool) {
	defer func() {
		s.data.Reset()
		s.eventType = ""
		s.hasData = false
	}()
	if !s.hasData {
		return sseEvent{}, false
	}
	ev := sseEvent{ID: s.lastID, Type: s.eventType, Data: string(bytes.TrimSuffix(s.data.Bytes(), []byte("\n")))}
	if ev.Type == "" {
		ev.Type = "message"
	}
	return ev, true
}

// parseDigits parses a retry: value, which must be ASCII digits only; values
// past a minute are capped there.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > 60_000 {
		n = 60_000 // only overflow makes ParseInt fail here
	}
	return n, true
}

// readLine returns the next line without its end. The slice is valid until
// the next call. A line the stream's end cuts off is not a line: it gives
// io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	if !s.started {
		// A byte-order mark may open the stream, once. Peek's error, if
		// any, comes back from the reads below.
		s.started = true
		if b, _ := s.r.Peek(3); bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
			_, _ = s.r.Discard(3)
		}
	}
	for {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := s.r.Peek(s.r.Buffered())
		if s.skipLF {
			s.skipLF = false
			if buf[0] == '\n' {
				_, _ = s.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(s.line)+len(buf) > s.max {
				return nil, errSSETooLarge
			}
			s.line = append(s.line, buf...)
			_, _ = s.r.Discard(len(buf))
			continue
		}
		if len(s.line)+i > s.max {
			return nil, errSSETooLarge
		}
		s.line = append(s.line, buf[:i]...)
		s.skipLF = buf[i] == '\r'
		_, _ = s.r.Discard(i + 1)
		return s.line, nil
	}
}
