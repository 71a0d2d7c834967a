package aside

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestDoReturnsTheError(t *testing.T) {
	t.Parallel()
	want := errors.New("boom")
	if err := Do(func() error { return want }); err != want {
		t.Errorf("Do = %v, want %v", err, want)
	}
	if err := Do(func() error { return nil }); err != nil {
		t.Errorf("Do = %v, want nil", err)
	}
}

func TestDoRaisesAPanicInTheCaller(t *testing.T) {
	t.Parallel()
	defer func() {
		p := recover()
		if s, _ := p.(string); !strings.Contains(s, "kaputt") {
			t.Errorf("recovered %v, want the panic of f", p)
		}
	}()
	Do(func() error { panic("kaputt") })
	t.Error("Do returned after a panic")
}

// deep uses about n KiB of stack.
func deep(n int) int {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%1024])
}

// stackInUse is the runtime's total of goroutine stacks.
func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// TestDoKeepsTheCallersStackSmall: goroutines that ran a deep function
// through Do and then park hold far less stack than goroutines that ran
// it themselves.
func TestDoKeepsTheCallersStackSmall(t *testing.T) {
	const n = 200
	park := func(viaDo bool) uint64 {
		before := stackInUse()
		release, ready := make(chan struct{}), make(chan struct{}, n)
		for range n {
			go func() {
				if viaDo {
					Do(func() error { deep(100); return nil })
				} else {
					deep(100)
				}
				ready <- struct{}{}
				<-release
			}()
		}
		for range n {
			<-ready
		}
		after := stackInUse()
		close(release)
		return (after - min(before, after)) / n
	}
	direct, aside := park(false), park(true)
	t.Logf("stack per parked goroutine: %d bytes direct, %d bytes through Do", direct, aside)
	if aside*4 > direct {
		t.Errorf("through Do a parked goroutine holds %d bytes of stack, direct %d: want less than a quarter", aside, direct)
	}
}
