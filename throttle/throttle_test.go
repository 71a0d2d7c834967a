package throttle_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aijobs/aijobs/jobs/jobstest"
	"github.com/aijobs/aijobs/store"
	"github.com/aijobs/aijobs/throttle"
)

// nodes opens n stores on one fresh database of kind db: n nodes of a
// fleet sharing the limiter's rows.
func nodes(t *testing.T, db string, n int) []*store.Store {
	t.Helper()
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "aijobs.db")
	if db == "postgres" {
		url = jobstest.PostgresURL(t)
	}
	var out []*store.Store
	for i := range n {
		st, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if i == 0 {
			if err := st.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, st)
	}
	return out
}

func forEachDB(t *testing.T, f func(t *testing.T, db string)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			f(t, db)
		})
	}
}

// TestSlotsAreSpacedFleetWide: callers on two nodes, all at once, each get
// their own slot, one request interval apart — none lost, none shared. At
// 1 request a minute the slots are 0, 60, 120 … s away.
func TestSlotsAreSpacedFleetWide(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		sts := nodes(t, db, 2)
		const callers = 12
		var (
			mu    sync.Mutex
			slots []int
			wg    sync.WaitGroup
		)
		for i := range callers {
			th := throttle.New(sts[i%2], throttle.Config{RPM: 1})
			wg.Add(1)
			go func() {
				defer wg.Done()
				turn, err := th.Take(context.Background(), throttle.Call{Key: "openai/m"})
				if err != nil {
					t.Error(err)
					return
				}
				if !turn.Go || (turn.Wait > 0) != (turn.Reason == throttle.ReasonCapacity) {
					t.Errorf("turn %+v: want a slot, with the capacity reason when it waits", turn)
				}
				mu.Lock()
				slots = append(slots, int((turn.Wait+30*time.Second)/time.Minute))
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(slots)
		for i, s := range slots {
			if s != i {
				t.Fatalf("slots in minutes %v, want 0..%d each once", slots, callers-1)
			}
		}
	})
}

// TestTokensReservedAndSettled: a call reserves its estimate of tokens; the
// next waits for the estimate's share of the minute, and settling with
// less usage gives the difference back.
func TestTokensReservedAndSettled(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		ctx := context.Background()
		th := throttle.New(nodes(t, db, 1)[0], throttle.Config{TPM: 600}) // 100 ms a token
		call := throttle.Call{Key: "anthropic/m", Tokens: 100}            // 10 s
		first, err := th.Take(ctx, call)
		if err != nil || !first.Go || first.Wait != 0 || first.Tokens != 100 {
			t.Fatalf("first turn %+v, %v: want to go at once with 100 tokens reserved", first, err)
		}
		second, _ := th.Take(ctx, call)
		if second.Wait < 9*time.Second || second.Wait > 10*time.Second {
			t.Fatalf("second turn waits %v, want the first call's 10 s", second.Wait)
		}
		// The first call used 20 tokens: 8 s come back.
		if _, err := th.Done(ctx, call, first, throttle.Outcome{Tokens: 20}); err != nil {
			t.Fatal(err)
		}
		third, _ := th.Take(ctx, call)
		if want := 12 * time.Second; third.Wait < want-time.Second || third.Wait > want {
			t.Fatalf("third turn waits %v, want about %v (2 s for the first call's 20 tokens, 10 s for the second's 100)", third.Wait, want)
		}
		// A call on the user's own key is not held by the server's budget.
		if own, _ := th.Take(ctx, throttle.Call{Key: call.Key, Tokens: 100, OwnKey: true}); !own.Go || own.Wait != 0 {
			t.Fatalf("own-key turn %+v: want to go at once", own)
		}
	})
}

// TestPauseBackoffAndCircuit: a 429 with Retry-After pauses the provider for
// everyone for that long; repeated failures open the circuit, which lets
// exactly one probe through once the backoff passes; the probe's success
// closes it.
func TestPauseBackoffAndCircuit(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		ctx := context.Background()
		sts := nodes(t, db, 2)
		cfg := throttle.Config{OpenAfter: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Poll: 10 * time.Millisecond}
		a, b := throttle.New(sts[0], cfg), throttle.New(sts[1], cfg)
		call := throttle.Call{Key: "openai/m"}

		turn, _ := a.Take(ctx, call)
		after, err := a.Done(ctx, call, turn, throttle.Outcome{Failed: true, RateLimited: true, RetryAfter: 2 * time.Second})
		if err != nil || after.Pause < 1900*time.Millisecond || after.Open {
			t.Fatalf("after a 429 with Retry-After 2 s: %+v, %v; want a 2 s pause, the circuit closed", after, err)
		}
		other, _ := b.Take(ctx, call)
		if other.Go || other.Wait < 1500*time.Millisecond || other.Reason != throttle.ReasonCapacity {
			t.Fatalf("the other node's turn during the pause: %+v, want to wait ~2 s for capacity", other)
		}
		// A 429 on a user's own key is that user's limit only.
		own := throttle.Call{Key: "openai/own", OwnKey: true}
		ot, _ := a.Take(ctx, own)
		if p, _ := a.Done(ctx, own, ot, throttle.Outcome{Failed: true, RateLimited: true, RetryAfter: time.Minute}); p.Pause != 0 {
			t.Fatalf("a 429 on the user's own key paused the fleet for %v", p.Pause)
		}

		// Outage: three failures open the circuit.
		key := throttle.Call{Key: "openai/down"}
		for range 3 {
			turn, _ := takeWhenDue(t, a, key)
			if _, err := a.Done(ctx, key, turn, throttle.Outcome{Failed: true}); err != nil {
				t.Fatal(err)
			}
		}
		if st, _ := a.Peek(ctx, key.Key); !st.Open || st.Failures != 3 {
			t.Fatalf("after 3 failures: %+v, want the circuit open", st)
		}
		// Once the backoff passed, callers on both nodes at once: one probe.
		time.Sleep(60 * time.Millisecond)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			probes []throttle.Turn
			waits  int
		)
		for i := range 8 {
			th := []*throttle.Throttle{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				turn, err := th.Take(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case turn.Probe && turn.Go && turn.Open:
					probes = append(probes, turn)
				case !turn.Go && turn.Reason == throttle.ReasonProvider && turn.Open:
					waits++
				default:
					t.Errorf("turn behind an open circuit: %+v", turn)
				}
			}()
		}
		wg.Wait()
		if len(probes) != 1 || waits != 7 {
			t.Fatalf("%d probes and %d waits, want 1 probe and 7 waits", len(probes), waits)
		}
		if after, err := b.Done(ctx, key, probes[0], throttle.Outcome{}); err != nil || after.Open {
			t.Fatalf("after the probe succeeded: %+v, %v; want the circuit closed", after, err)
		}
		if turn, _ := a.Take(ctx, key); !turn.Go || turn.Probe || turn.Wait != 0 {
			t.Fatalf("after the probe succeeded: %+v, want to go at once", turn)
		}
		if st, _ := a.Peek(ctx, key.Key); st.Open || st.Failures != 0 {
			t.Fatalf("after the probe succeeded: %+v, want the circuit closed", st)
		}
	})
}

// takeWhenDue takes turns until one may go.
func takeWhenDue(t *testing.T, th *throttle.Throttle, c throttle.Call) (throttle.Turn, error) {
	t.Helper()
	for {
		turn, err := th.Take(context.Background(), c)
		if err != nil || turn.Go {
			time.Sleep(turn.Wait)
			return turn, err
		}
		time.Sleep(turn.Wait)
	}
}
