package throttle_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them. No
// third-party goroutine needs ignoring: every store, pool, River client and
// hub the tests open is closed by their cleanups, and database/sql's
// connectionOpener, the pgx pool's health check, modernc sqlite and River's
// services all exit on Close/Stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
