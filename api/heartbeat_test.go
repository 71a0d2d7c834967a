package api

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDefaultHeartbeats: with the defaults users get, an idle SSE stream
// carries ": hb" within 15 s and a /cable connection is pinged every 3 s
// (other tests shorten both to run fast).
func TestDefaultHeartbeats(t *testing.T) {
	t.Parallel()
	e := newCableEnv(t, Config{})
	_, tok := e.user("hedda")
	t.Run("sse", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		start := time.Now()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), ": hb") {
				if took := time.Since(start); took > 16*time.Second {
					t.Fatalf("first heartbeat after %v, want within 15 s", took)
				}
				return
			}
		}
		t.Fatalf("no heartbeat on an idle stream within 20 s (%v)", sc.Err())
	})
	t.Run("cable", func(t *testing.T) {
		t.Parallel()
		c := e.mustDial("", bearerHeader(tok))
		c.welcome()
		var pings []time.Time
		timeout := time.After(10 * time.Second)
		for len(pings) < 3 {
			select {
			case f := <-c.frames:
				if f.Type == "ping" {
					pings = append(pings, time.Now())
				}
			case <-timeout:
				t.Fatalf("%d pings in 10 s, want one every 3 s", len(pings))
			}
		}
		if gap := pings[2].Sub(pings[1]); gap < 2*time.Second || gap > 4*time.Second {
			t.Fatalf("pings %v apart, want 3 s", gap)
		}
	})
}
