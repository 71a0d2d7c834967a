package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/jobs"
)

// FuzzSubmitBody: any body decodes into the submit request or fails with a
// client error (400, 413 or 422), never a panic or a 500.
func FuzzSubmitBody(f *testing.F) {
	for _, seed := range []string{`{"input":"hi"}`, `{"input":1}`, `{`, ``, `null`, `[]`, `{"input":"x","user_provided_key":null,"request_id":"r"}`, `{"input":"\ud800"}`, strings.Repeat("[", 1000)} {
		f.Add(seed)
	}
	s := New(nil, Config{MaxBody: 4096})
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/v1/ai/proxy", strings.NewReader(body))
		var v submitBody
		err := s.decodeBody(httptest.NewRecorder(), r, &v)
		if err == nil {
			return
		}
		p := jobs.ProblemOf(err)
		if p == nil || (p.Kind != jobs.KindMalformed && p.Kind != jobs.KindInvalid && p.Kind != jobs.KindTooLarge) {
			t.Fatalf("body %q: error %v is not a client error", body, err)
		}
	})
}

// FuzzLastEventID: a position is a non-negative integer or a 400.
func FuzzLastEventID(f *testing.F) {
	for _, seed := range []string{"0", "17", "-1", "", "abc", "9999999999999999999999", " 5 ", "1e3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r := httptest.NewRequest("GET", "/api/v1/events", nil)
		r.Header = http.Header{"Last-Event-Id": {id}}
		n, err := parsePosition(r)
		if err != nil {
			if p := jobs.ProblemOf(err); p == nil || p.Code != "invalid_last_event_id" {
				t.Fatalf("id %q: %v", id, err)
			}
			return
		}
		if n < -1 || (id != "" && n < 0) {
			t.Fatalf("id %q parsed to %d", id, n)
		}
	})
}

// FuzzETag: If-None-Match never panics and only matches its own seq.
func FuzzETag(f *testing.F) {
	for _, seed := range []string{`"3"`, `W/"3"`, `"3", "4"`, `*`, `"`, `""`, `"-1"`} {
		f.Add(seed, int64(3))
	}
	f.Fuzz(func(t *testing.T, inm string, seq int64) {
		if etagMatch(inm, seq) && seq < 0 {
			t.Fatalf("%q matched negative seq %d", inm, seq)
		}
	})
}
