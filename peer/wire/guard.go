package wire

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds a client keeps, as variables so that tests can lower them.
var (
	bodyStall = BodyStallTimeout
	listBytes = int64(MaxListBytes)
	treeBytes = int64(MaxTreeBytes)
)

// ErrStalled is wrapped by the error of a response body that sent nothing
// for BodyStallTimeout.
var ErrStalled = errors.New("peer: stopped sending")

// stallGuard wraps a response body so that a read waiting longer than
// timeout for the next byte fails with ErrStalled: the peer is cut off
// instead of holding the caller for ever. Safe for one reader at a time,
// as bodies are.
type stallGuard struct {
	body    io.ReadCloser
	timeout time.Duration

	mu      sync.Mutex
	stalled bool
	timer   *time.Timer
}

func guardBody(body io.ReadCloser, timeout time.Duration) *stallGuard {
	return &stallGuard{body: body, timeout: timeout}
}

func (g *stallGuard) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.timer == nil {
		g.timer = time.AfterFunc(g.timeout, g.expire)
	} else {
		g.timer.Reset(g.timeout)
	}
	g.mu.Unlock()
	n, err := g.body.Read(p)
	g.mu.Lock()
	g.timer.Stop()
	stalled := g.stalled
	g.mu.Unlock()
	if stalled && err != nil {
		return n, fmt.Errorf("%w for %v", ErrStalled, g.timeout)
	}
	return n, err
}

// expire closes the body under a read that waits too long, which makes
// that read return.
func (g *stallGuard) expire() {
	g.mu.Lock()
	g.stalled = true
	g.mu.Unlock()
	g.body.Close()
}

func (g *stallGuard) Close() error {
	g.mu.Lock()
	if g.timer != nil {
		g.timer.Stop()
	}
	g.mu.Unlock()
	return g.body.Close()
}

// maxQuoted is how much of a string from the network an error message
// repeats.
const maxQuoted = 80

// Quote quotes a string that came from the network for an error message,
// cut to maxQuoted bytes, so a hostile 4 KB name does not fill the
// terminal. The engine words its own messages about remote names with it
// too.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}
