package api

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzCableFrame feeds arbitrary client frames to the ActionCable frame and
// identifier parsers: they never panic, and whatever they accept is echoed
// in frames that are valid JSON and carry the identifier the client sent.
//
//	go test ./api/ -run '^$' -fuzz FuzzCableFrame -fuzztime 30s
func FuzzCableFrame(f *testing.F) {
	for _, seed := range []string{
		`{"command":"subscribe","identifier":"{\"channel\":\"AiJobChannel\",\"job_id\":\"job_01\"}"}`,
		`{"command":"subscribe","identifier":"{\"channel\":\"AiJobChannel\"}"}`,
		`{"command":"unsubscribe","identifier":"{\"channel\":\"AiJobChannel\",\"job_id\":\"job_01\"}"}`,
		`{"command":"message","identifier":"{\"channel\":\"AiJobChannel\"}","data":"{\"action\":\"speak\"}"}`,
		`{"command":"subscribe","identifier":"{\"channel\":\"AiJobChannel\",\"job_id\":7}"}`,
		`{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\"}"}`,
		`{"command":"subscribe","identifier":"\ud800\u00e9\/"}`,
		`{"command":"subscribe","identifier":{"channel":"AiJobChannel"}}`,
		`{"command":"subscribe","identifier":"{\"channel\":\"AiJobChannel\",\"job_id\":null}","data":null}`,
		`{"command":"subscribe","identifier":"not json"}`,
		"{\"command\":\"subscribe\",\"identifier\":\"\xff\xfe\"}",
		`{"command":null}`,
		`{}`, `[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseCableFrame(b)
		if err != nil {
			return
		}
		var decoded string
		if err := json.Unmarshal(fr.RawIdentifier, &decoded); err != nil || decoded != fr.Identifier {
			t.Fatalf("raw identifier %q decodes to %q (%v), parsed %q", fr.RawIdentifier, decoded, err, fr.Identifier)
		}
		for _, out := range [][]byte{
			cableTypeFrame(fr.RawIdentifier, "reject_subscription"),
			cableDataFrame(fr.RawIdentifier, []byte(`{"job_id":"job_01","seq":1}`)),
		} {
			if !utf8.Valid(out) {
				t.Fatalf("frame %q is not valid UTF-8", out)
			}
			var v struct {
				Identifier *string `json:"identifier"`
			}
			if err := json.Unmarshal(out, &v); err != nil || v.Identifier == nil || *v.Identifier != fr.Identifier {
				t.Fatalf("frame %q: identifier %v (%v), want %q", out, v.Identifier, err, fr.Identifier)
			}
		}
		if job, err := parseCableIdentifier(fr.Identifier); err == nil && job == "" {
			var m map[string]any
			if json.Unmarshal([]byte(fr.Identifier), &m) != nil || m["channel"] != cableChannel {
				t.Fatalf("accepted identifier %q", fr.Identifier)
			}
		}
	})
}
