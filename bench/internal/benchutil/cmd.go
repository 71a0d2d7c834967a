package benchutil

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
)

// Check ends the program on a set-up error; the benchmark programs have no
// way to go on without what failed.
func Check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// AijobsFlag, BareFlag and WorkFlag define the -aijobs, -bare and -work flags
// the programs share (the binaries run.sh built, and where to put data and
// logs), with the same names and defaults in each.
func AijobsFlag() *string { return flag.String("aijobs", "./aijobs", "aijobs binary") }

// BareFlag defines -bare: the bareserver reference binary.
func BareFlag() *string { return flag.String("bare", "./bareserver", "bareserver binary") }

// WorkFlag defines -work: the working directory for data and logs.
func WorkFlag() *string { return flag.String("work", os.TempDir(), "working directory") }

// CountRunning estimates how many of the jobs are working: it reads about 50
// of them, evenly spaced, and scales the count to len(ids).
func CountRunning(ctx context.Context, c *http.Client, base string, tokens, ids []string) int {
	step := max(len(ids)/50, 1)
	n, seen := 0, 0
	for i := 0; i < len(ids); i += step {
		s, _, err := Get(ctx, c, base, tokens[i], ids[i])
		seen++
		if err == nil && s.Status == "working" {
			n++
		}
	}
	return n * len(ids) / max(seen, 1)
}
