// Package wait is the one polling helper of Porch's tests: wait until a
// condition holds, with a generous bound that catches a hang, never a
// deadline a slow machine could miss. Tests never assert on how long
// something took.
//
// It polls, first every 10 ms and then less often up to every 100 ms, so
// that cheap conditions are seen at once and costly ones (running a command
// in a namespace) do not load the machine.
package wait

import (
	"testing"
	"time"
)

// For polls cond until it holds (true) or timeout passes (false).
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Until polls cond like For and fails t, naming what it waited for, when
// cond does not hold within timeout. It returns how long the wait took, for
// a test that logs it.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !For(timeout, cond) {
		t.Fatalf("gave up after %v waiting for %s", timeout, what)
	}
	return time.Since(start)
}
