package client

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parseAll reads every event of a stream, and the reader's retry and error.
func parseAll(r io.Reader, max int) ([]sseEvent, time.Duration, error) {
	sr := newSSEReader(r, max)
	var evs []sseEvent
	for {
		ev, err := sr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return evs, sr.Retry(), err
		}
		evs = append(evs, ev)
	}
}

func TestSSEParse(t *testing.T) {
	t.Parallel()
	msg := func(id, data string) sseEvent { return sseEvent{ID: id, Type: "message", Data: data} }
	tests := []struct {
		name      string
		in        string
		want      []sseEvent
		wantRetry time.Duration
	}{
		{"aijobs stream", "retry: 2000\n\nid: 1\ndata: {\"seq\":1}\n\n: hb\n\nid: 2\ndata: {\"seq\":2}\n\n",
			[]sseEvent{msg("1", `{"seq":1}`), msg("2", `{"seq":2}`)}, 2 * time.Second},
		{"CRLF line ends", "id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n", []sseEvent{msg("1", "a"), msg("2", "b")}, -1},
		{"CR line ends", "id: 1\rdata: a\r\rdata: b\r\r", []sseEvent{msg("1", "a"), msg("1", "b")}, -1},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []sseEvent{msg("", "a\nb\nc")}, -1},
		{"multi-line data", "data: line one\ndata: line two\ndata:\ndata:  indented\n\n", []sseEvent{msg("", "line one\nline two\n\n indented")}, -1},
		{"no space after colon", "id:7\ndata:x\n\n", []sseEvent{msg("7", "x")}, -1},
		{"field without colon", "data\n\ndata\ndata\n\n", []sseEvent{msg("", ""), msg("", "\n")}, -1},
		{"event type", "event: status\ndata: x\n\ndata: y\n\n", []sseEvent{{Type: "status", Data: "x"}, msg("", "y")}, -1},
		{"comments only", ": hello\n: hb\n\n:\n\n", nil, -1},
		{"id without data is remembered, not dispatched", "id: 5\n\ndata: x\n\n", []sseEvent{msg("5", "x")}, -1},
		{"empty id resets", "id: 5\ndata: a\n\nid\ndata: b\n\n", []sseEvent{msg("5", "a"), msg("", "b")}, -1},
		{"id with NUL ignored", "id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\n", []sseEvent{msg("5", "a"), msg("5", "b")}, -1},
		{"unknown fields ignored", "foo: bar\nID: 9\nData: q\ndata: x\n\n", []sseEvent{msg("", "x")}, -1},
		{"bad retry ignored", "retry: 1500\n\nretry: 15s\n\nretry: -1\n\nretry:\n\n", nil, 1500 * time.Millisecond},
		{"huge retry capped", "retry: 99999999999999999999999\n\n", nil, time.Minute},
		{"byte-order mark once", "\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n", []sseEvent{msg("", "a")}, -1},
		{"event cut off by the end is dropped", "data: a\n\ndata: b\n", []sseEvent{msg("", "a")}, -1},
		{"line cut off by the end is dropped", "data: a\n\ndata: b", []sseEvent{msg("", "a")}, -1},
		{"colon in value", "data: {\"a\":\"b: c\"}\n\n", []sseEvent{msg("", `{"a":"b: c"}`)}, -1},
		{"empty stream", "", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tt.in))},
				{"half by half", iotest.HalfReader(strings.NewReader(tt.in))},
			} {
				got, retry, err := parseAll(r.r, 1<<20)
				if err != nil {
					t.Fatalf("%s: error %v", r.name, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: events\n got  %q\n want %q", r.name, got, tt.want)
				}
				wantEqual(t, r.name+": retry", retry, tt.wantRetry)
			}
		})
	}
}

// TestSSEParseLoneCRDoesNotWait checks that an event ended by CR CR is
// dispatched before the next byte arrives: the reader must not wait to see
// whether an LF follows.
func TestSSEParseLoneCRDoesNotWait(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	sr := newSSEReader(pr, 1<<20)
	go func() { _, _ = pw.Write([]byte("data: a\r\r")) }() // then silence
	done := make(chan sseEvent, 1)
	go func() {
		ev, err := sr.Next()
		if err == nil {
			done <- ev
		}
	}()
	select {
	case ev := <-done:
		wantEqual(t, "data", ev.Data, "a")
	case <-time.After(5 * time.Second):
		t.Fatal("the event ended by CR CR was not dispatched")
	}
}

func TestSSEParseBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"long line", "data: " + strings.Repeat("x", 200) + "\n\n"},
		{"long line without end", strings.Repeat("x", 200)},
		{"many data lines", strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 10) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := parseAll(strings.NewReader(tt.in), 100)
			if !errors.Is(err, errSSETooLarge) {
				t.Errorf("error = %v, want errSSETooLarge", err)
			}
		})
	}
}

// FuzzSSEParse checks that the parser never panics, never exceeds its bound,
// never yields an id with NUL, and does not depend on how the stream is cut
// into reads.
func FuzzSSEParse(f *testing.F) {
	for _, seed := range []string{
		"retry: 2000\n\nid: 1\ndata: {\"job_id\":\"job_x\",\"seq\":1,\"type\":\"snapshot\"}\n\n: hb\n\n",
		"id: 1\r\ndata: a\r\n\r\n",
		"id: 1\rdata: a\r\rdata: b\r\r",
		"data: a\ndata: b\n\n",
		"\xEF\xBB\xBFdata: x\n\n",
		"id: 5\x00\ndata: x\n\n",
		"retry: 99999999999999999999999\n\n",
		"data",
		":\n\n\n\r\r\n",
		"event: e\nid\ndata:\n\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 256
		whole, retry, err := parseAll(strings.NewReader(string(in)), max)
		for _, ev := range whole {
			if strings.IndexByte(ev.ID, 0) >= 0 {
				t.Errorf("id %q contains NUL", ev.ID)
			}
			if len(ev.Data) > max {
				t.Errorf("data of %d bytes, bound %d", len(ev.Data), max)
			}
		}
		cut, retry2, err2 := parseAll(&chunkReader{b: in, n: int(chunk%16) + 1}, max)
		if !slices.Equal(whole, cut) || retry != retry2 || fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Errorf("reads of %d bytes changed the result:\n whole %q %v %v\n cut   %q %v %v", chunk%16+1, whole, retry, err, cut, retry2, err2)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}
