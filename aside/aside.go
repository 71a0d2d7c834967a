// Package aside runs a function on a goroutine of its own and waits for it,
// so that the stack the function needs (a database read, a JSON encoding)
// grows that goroutine's stack, which ends with it, and not the caller's.
// A stream's goroutine that then parks for hours keeps the few KiB a parked
// goroutine needs instead of the largest stack its set-up ever used: the
// runtime shrinks a stack only by half per garbage collection, and only
// while less than a quarter of it is in use.
package aside

import "fmt"

// Do runs f on a new goroutine and returns its error. A panic in f is
// raised again in the caller, so recovering handlers still see it.
func Do(f func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			done <- r
		}()
		r.err = f()
	}()
	r := <-done
	if r.panic != nil {
		panic(fmt.Sprintf("%v (in aside.Do)", r.panic))
	}
	return r.err
}
