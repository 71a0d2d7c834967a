package ai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keys used by the provider tests; both look like real keys so that the
// sk- token redaction is exercised as well as the exact one.
const (
	serverKey = "sk-server-0123456789abcdefghij"
	userKey   = "sk-user-9876543210zyxwvutsrqpo"
)

// fakeServer is a real HTTP server on loopback that speaks a provider's
// wire format and records what it was sent.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

// recorded is one request the fake server got.
type recorded struct {
	header http.Header
	body   map[string]any
}

// newFake starts a fake server answering path with handle; any other path
// fails the test.
func newFake(t *testing.T, path string, handle http.HandlerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			t.Errorf("fake server: request to %s %s, want POST %s", r.Method, r.URL.Path, path)
			http.NotFound(w, r)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("fake server: request body is not JSON: %v", err)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Header.Clone(), body})
		f.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// last is the last request the server got; it fails the test if none came.
func (f *fakeServer) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the fake server got no request")
	}
	return f.reqs[len(f.reqs)-1]
}

// sentKey is the API key a request carried, from x-api-key or a bearer
// Authorization header.
func (r recorded) sentKey() string {
	if k := r.header.Get("X-Api-Key"); k != "" {
		return k
	}
	return strings.TrimPrefix(r.header.Get("Authorization"), "Bearer ")
}

// writeEvent writes one server-sent event and flushes it; an empty event
// name writes only data, as OpenAI does.
func writeEvent(w http.ResponseWriter, event, data string) {
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

// startSSE sends the headers of an event stream.
func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// jsonString marshals v for a hand-written event.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// splitN cuts s into n nearly equal parts, for streaming it.
func splitN(s string, n int) []string {
	return splitChunks(s, n)
}

// wantError checks that err is an *Error with code and retryable, and
// returns it.
// statusCase is an HTTP error reply and how the provider must classify it.
type statusCase struct {
	name       string
	status     int
	header     map[string]string
	errType    string // the provider's error type or code in the body
	wantCode   string
	retryable  bool
	retryAfter time.Duration
}

// testStatusErrors runs each case against a provider, made by newProvider,
// whose server answers with reply: the error must be classified as the
// case wants and carry no key.
func testStatusErrors(t *testing.T, reply func(status int, header map[string]string, errType string) http.HandlerFunc,
	newProvider func(t *testing.T, handle http.HandlerFunc) Provider, tests []statusCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, reply(tt.status, tt.header, tt.errType))
			_, err := p.Generate(context.Background(), Request{Input: "hi", APIKey: userKey}, func(string) {})
			e := wantError(t, err, tt.wantCode, tt.retryable)
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			wantNoSecret(t, err, userKey, serverKey, "sk-user")
		})
	}
}

func wantError(t *testing.T, err error, code string, retryable bool) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an *Error with code %s", err, err, code)
	}
	if e.Code != code || e.Retryable != retryable {
		t.Fatalf("error = {Code:%s Retryable:%v Message:%q}, want Code %s Retryable %v",
			e.Code, e.Retryable, e.Message, code, retryable)
	}
	return e
}

// wantNoSecret fails if err's text or message contains a key.
func wantNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the key %q", err.Error(), s)
		}
	}
}

// collect returns an emit function and the chunks it received.
func collect() (func(string), *[]string) {
	var mu sync.Mutex
	var got []string
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, s)
	}, &got
}

// wantCancelledQuickly runs gen with a context cancelled as soon as the
// first chunk arrives and checks it returns context.Canceled within 1 s.
func wantCancelledQuickly(t *testing.T, gen func(ctx context.Context, emit func(string)) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- gen(ctx, func(string) {
			once.Do(func() { cancelledAt = time.Now(); cancel() })
		})
	}()
	select {
	case err := <-done:
		if cancelledAt.IsZero() {
			t.Fatalf("Generate returned %v before any chunk arrived", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want one wrapping context.Canceled", err)
		}
		if d := time.Since(cancelledAt); d > time.Second {
			t.Fatalf("Generate took %v after the cancellation, want under 1s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Generate did not return 10 s after its context was cancelled")
	}
}
