package ai

import (
	"context"
	"strings"
	"testing"
	"time"
)

type callLog struct{ calls []string }

func (c *callLog) ProviderCall(provider, model string, _ time.Duration, in, out int64, code string) {
	c.calls = append(c.calls, strings.Join([]string{provider, model, code}, "/"))
}

func TestObservedReportsCallsAndKeepsTheServerKey(t *testing.T) {
	t.Parallel()
	const key = "sk-server-0123456789abcdef"
	p, err := New(Config{Provider: "openai", OpenAIAPIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if got := RedactorFor(Observed(p, &callLog{}), "").String("echo " + key); strings.Contains(got, key) {
		t.Fatalf("the wrapped provider's server key is not redacted: %q", got)
	}

	var log callLog
	off := Observed(NewOffline(0), &log)
	if _, err := off.Generate(context.Background(), Request{Input: "a goal", Intent: "general"}, nil); err != nil {
		t.Fatal(err)
	}
	off.Generate(context.Background(), Request{Input: "[[offline:fatal]] x", Intent: "general"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	off.Generate(ctx, Request{Input: "a goal", Intent: "general"}, nil)
	want := []string{"offline/offline-1/", "offline/offline-1/bad_request", "offline/offline-1/cancelled"}
	if strings.Join(log.calls, " ") != strings.Join(want, " ") {
		t.Errorf("calls %v, want %v", log.calls, want)
	}
}
