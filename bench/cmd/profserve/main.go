// Command profserve is `aijobs` with a CPU profiler that signals switch on
// and off, for the benchmarks only (the server itself has no profiling
// flag):
//
//	profserve --cpuprofile PREFIX serve …
//
// SIGUSR1 starts a CPU profile into PREFIX.<n>.pprof (n counts from 1),
// SIGUSR2 stops it; SIGHUP writes a heap profile into PREFIX.heap.<n>.pprof
// (after a GC); SIGINT/SIGTERM stop the server as usual.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/aijobs/aijobs/cli"
)

func main() {
	args := os.Args[1:]
	prefix := "cpu"
	if len(args) >= 2 && args[0] == "--cpuprofile" {
		prefix, args = args[1], args[2:]
	}
	go profileOnSignal(prefix)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv(false), args)
	stop()
	os.Exit(code)
}

func profileOnSignal(prefix string) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	var f *os.File
	n, heaps := 0, 0
	for s := range sig {
		switch {
		case s == syscall.SIGHUP:
			heaps++
			runtime.GC()
			h, err := os.Create(fmt.Sprintf("%s.heap.%d.pprof", prefix, heaps))
			if err != nil {
				fmt.Fprintln(os.Stderr, "profserve:", err)
				continue
			}
			pprof.Lookup("heap").WriteTo(h, 0)
			h.Close()
		case s == syscall.SIGUSR1 && f == nil:
			n++
			var err error
			if f, err = os.Create(fmt.Sprintf("%s.%d.pprof", prefix, n)); err != nil {
				fmt.Fprintln(os.Stderr, "profserve:", err)
				continue
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "profserve:", err)
				f.Close()
				f = nil
			}
		case s == syscall.SIGUSR2 && f != nil:
			pprof.StopCPUProfile()
			f.Close()
			f = nil
		}
	}
}
