package ai

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs"
)

// offlineInputs are inputs of every intent, and odd ones.
func offlineInputs() []string {
	return []string{
		"I want to learn Spanish so I can talk to my in-laws",
		"Help me set a SMART goal: run a half marathon in under 2 hours",
		"Help me prioritize: taxes due Friday, laundry, call mom, fix the bike someday",
		"- pay rent today\n- book dentist\n- finish slides for the client\n- buy milk",
		"What is the capital of France?",
		"",
		"¿Cómo aprendo a programar en Go? 日本語も勉強したい",
		strings.Repeat("a very long input with many words ", 500),
		`quotes "inside" and <html> & back\slashes`,
	}
}

func TestOfflineAnswersAreValid(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	for _, input := range offlineInputs() {
		for _, intent := range append(allIntents(), Classify(input), "") {
			emit, got := collect()
			resp, err := p.Generate(context.Background(), Request{Input: input, Intent: intent}, emit)
			if err != nil {
				t.Fatalf("Generate(%.40q, %s): %v", input, intent, err)
			}
			if _, err := Validate(intent, resp.Text); err != nil {
				t.Errorf("Generate(%.40q, %s) is invalid: %v\n%s", input, intent, err, resp.Text)
			}
			if n := len(*got); n < 20 || n > 40 {
				t.Errorf("Generate(%.40q, %s) streamed %d chunks, want 20 to 40", input, intent, n)
			}
			if joined := strings.Join(*got, ""); joined != resp.Text {
				t.Errorf("Generate(%.40q, %s): the chunks do not add up to Text", input, intent)
			}
			if resp.TokensIn <= 0 || resp.TokensOut != approxTokens(resp.Text) || resp.Model != "offline-1" {
				t.Errorf("Generate(%.40q, %s): usage in %d out %d model %q, want in > 0, out = len/4, offline-1",
					input, intent, resp.TokensIn, resp.TokensOut, resp.Model)
			}
		}
	}
}

func TestOfflineUsesTheInput(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	tests := []struct {
		intent jobs.Intent
		input  string
		want   []string
	}{
		{jobs.IntentSmartGoal, "I want to learn Spanish for travelling", []string{`"Learn Spanish for travelling, within 12 weeks."`, `\"spanish\"`, `"milestones"`}},
		{jobs.IntentPrioritization, "Prioritize: buy milk, taxes due today, call mom", []string{
			`"title": "Taxes due today",` + "\n      \"priority\": 1", `"title": "Call mom",` + "\n      \"priority\": 2", `"priority": 3`}},
		{jobs.IntentGeneral, "Explain photosynthesis", []string{"photosynthesis", `"key_points"`}},
	}
	for _, tt := range tests {
		resp, err := p.Generate(context.Background(), Request{Input: tt.input, Intent: tt.intent}, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(resp.Text, w) {
				t.Errorf("%s answer to %q lacks %q:\n%s", tt.intent, tt.input, w, resp.Text)
			}
		}
	}
}

func TestOfflineIsDeterministic(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	req := Request{Input: offlineInputs()[2], Intent: jobs.IntentPrioritization}
	first, err1 := p.Generate(context.Background(), req, func(string) {})
	second, err2 := NewOffline(0).Generate(context.Background(), req, func(string) {})
	if err1 != nil || err2 != nil {
		t.Fatalf("Generate: %v, %v", err1, err2)
	}
	if first != second {
		t.Errorf("two runs differ:\n%+v\n%+v", first, second)
	}
}

func TestOfflinePaceAndCancellation(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if _, err := NewOffline(5*time.Millisecond).Generate(context.Background(), Request{Input: "hi"}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < (offlineChunks-1)*5*time.Millisecond {
		t.Errorf("30 chunks 5ms apart took %v, want at least %v", d, (offlineChunks-1)*5*time.Millisecond)
	}

	p := NewOffline(time.Hour)
	wantCancelledQuickly(t, func(ctx context.Context, emit func(string)) error {
		_, err := p.Generate(ctx, Request{Input: "hi"}, emit)
		return err
	})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewOffline(0).Generate(ctx, Request{Input: "hi"}, func(string) { t.Error("emitted after cancellation") }); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestOfflineMarkers(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	tests := []struct {
		name      string
		req       Request
		code      string // empty: success
		retryable bool
		after     time.Duration
		emitted   bool
	}{
		{"rate limited", Request{Input: "hi [[offline:rate_limited]]"}, "rate_limited", true, time.Second, false},
		{"fatal", Request{Input: "[[offline:fatal]] hi"}, "bad_request", false, 0, false},
		{"refuse", Request{Input: "hi [[offline:refuse]]"}, "refused", false, 0, false},
		{"flaky, attempt 1", Request{Input: "hi [[offline:flaky]]", Attempt: 1}, "provider_error", true, 0, true},
		{"flaky, attempt unknown", Request{Input: "hi [[offline:flaky]]"}, "provider_error", true, 0, true},
		{"flaky, attempt 2", Request{Input: "hi [[offline:flaky]]", Attempt: 2}, "", false, 0, true},
		{"unknown marker ignored", Request{Input: "hi [[offline:nonsense]]"}, "", false, 0, true},
	}
	for _, tt := range tests {
		emit, got := collect()
		resp, err := p.Generate(context.Background(), tt.req, emit)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v, want success", tt.name, err)
			} else if strings.Contains(resp.Text, "[[offline:") {
				t.Errorf("%s: the marker leaked into the answer", tt.name)
			}
		} else if e := wantError(t, err, tt.code, tt.retryable); e.RetryAfter != tt.after {
			t.Errorf("%s: RetryAfter = %v, want %v", tt.name, e.RetryAfter, tt.after)
		} else if tt.emitted && (e.Usage.Text == "" || e.Usage.Text != strings.Join(*got, "")) {
			t.Errorf("%s: Usage.Text %q, want the %d chunks emitted before the failure", tt.name, e.Usage.Text, len(*got))
		}
		if (len(*got) > 0) != tt.emitted {
			t.Errorf("%s: emitted %d chunks, want some: %v", tt.name, len(*got), tt.emitted)
		}
	}
}

func TestOfflineInvalidMarkerNeedsFeedback(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	req := Request{Input: "I want to run [[offline:invalid]]", Intent: jobs.IntentSmartGoal}
	resp, err := p.Generate(context.Background(), req, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Validate(req.Intent, resp.Text)
	e := wantError(t, err, "invalid_output", false)

	req.Feedback = e.Message
	resp, err = p.Generate(context.Background(), req, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(req.Intent, resp.Text); err != nil {
		t.Errorf("with feedback the answer is still invalid: %v", err)
	}
}

func TestOfflineSlowMarker(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if _, err := NewOffline(time.Millisecond).Generate(context.Background(), Request{Input: "[[offline:slow]]"}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if d, want := time.Since(start), (offlineChunks-1)*10*time.Millisecond; d < want {
		t.Errorf("slow: 30 chunks took %v, want at least %v (10 × 1ms apart)", d, want)
	}
}

func TestOfflineIdentity(t *testing.T) {
	t.Parallel()
	p := NewOffline(0)
	if p.Name() != "offline" || p.Model() != "offline-1" || p.NeedsKey() || !p.HasServerKey() {
		t.Errorf("Name %q Model %q NeedsKey %v HasServerKey %v, want offline, offline-1, false, true",
			p.Name(), p.Model(), p.NeedsKey(), p.HasServerKey())
	}
}
