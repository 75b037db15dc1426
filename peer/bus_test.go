package peer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"porch/peer/discovery"
	"porch/test/wait"
)

// bus is an in-memory network for Discoverers, standing in for mDNS: the
// announcement of every running, announcing member reaches every other
// running member at once when it joins or changes, and again every
// busEvery unless the bus is quiet (as with known-answer suppression, where
// known peers stay silent). A Check reaches every other member as a
// question, and the live members announce again, as answers. A member that
// stops running is simply no longer heard (departures are not reported).
// mu guards members; quiet is fixed.
type bus struct {
	quiet   bool
	mu      sync.Mutex
	members []*busMember
}

const busEvery = 50 * time.Millisecond

func newBus() *bus { return &bus{} }

// newQuietBus is a bus that announces only on joins, changes and checks.
func newQuietBus() *bus { return &bus{quiet: true} }

// join is an Options.Discovery.
func (b *bus) join(self discovery.Announcement, announce bool) (Discoverer, error) {
	return &busMember{b: b, self: self, announce: announce, kick: make(chan struct{}, 1)}, nil
}

// busMember is one engine's Discoverer on a bus. mu guards announce, name
// and running; self's other fields are fixed.
type busMember struct {
	b    *bus
	self discovery.Announcement
	kick chan struct{}

	mu       sync.Mutex
	announce bool
	running  bool
	name     string
	index    uint64
	asked    []string // questions heard, for Run to report
}

func (m *busMember) Run(ctx context.Context, found func(discovery.Announcement), asked func(string)) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("bus member already running")
	}
	m.running = true
	m.mu.Unlock()
	m.b.mu.Lock()
	m.b.members = append(m.b.members, m)
	m.b.mu.Unlock()
	m.b.wakeAll()
	defer func() {
		m.b.mu.Lock()
		m.b.members = slices.DeleteFunc(m.b.members, func(o *busMember) bool { return o == m })
		m.b.mu.Unlock()
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()
	t := time.NewTicker(busEvery)
	defer t.Stop()
	tick := t.C
	if m.b.quiet {
		tick = nil
	}
	for {
		m.mu.Lock()
		qs := m.asked
		m.asked = nil
		m.mu.Unlock()
		for _, id := range qs {
			if asked != nil {
				asked(id)
			}
		}
		for _, a := range m.b.heard(m) {
			found(a)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-m.kick:
		}
	}
}

func (m *busMember) SetIndex(v uint64) {
	m.mu.Lock()
	changed := m.index != v
	m.index = v
	m.mu.Unlock()
	if changed {
		m.b.wakeAll()
	}
}

// Check puts the question to every other member; wakeAll then makes every
// live member announce again, the live answer.
func (m *busMember) Check(id string) {
	m.b.mu.Lock()
	for _, o := range m.b.members {
		if o != m {
			o.mu.Lock()
			o.asked = append(o.asked, id)
			o.mu.Unlock()
		}
	}
	m.b.mu.Unlock()
	m.b.wakeAll()
}

// Forget makes m hear every member again at once, as a query would bring
// their answers.
func (m *busMember) Forget(string) {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *busMember) SetName(name string) {
	m.mu.Lock()
	m.name = name
	m.mu.Unlock()
	m.b.wakeAll()
}

func (m *busMember) SetAnnounce(on bool) {
	m.mu.Lock()
	m.announce = on
	m.mu.Unlock()
	m.b.wakeAll()
}

// announcement returns what m announces, and whether it announces.
func (m *busMember) announcement() (discovery.Announcement, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.self
	if m.name != "" {
		a.Name = m.name
	}
	a.Addrs = slices.Clone(a.Addrs)
	a.Index = m.index
	return a, m.running && m.announce && a.Port != 0
}

// heard returns the announcements every member other than m makes.
func (b *bus) heard(m *busMember) []discovery.Announcement {
	b.mu.Lock()
	others := slices.Clone(b.members)
	b.mu.Unlock()
	var out []discovery.Announcement
	for _, o := range others {
		if o == m {
			continue
		}
		if a, ok := o.announcement(); ok {
			out = append(out, a)
		}
	}
	return out
}

func (b *bus) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.members {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// fastProbes probes often and gives up soon, so that expiry takes a
// fraction of a second.
var fastProbes = probeTiming{every: 50 * time.Millisecond, timeout: time.Second, fails: 2,
	retry: 20 * time.Millisecond, grace: 100 * time.Millisecond}

// testOptions are the options of an engine on b: its own data folder,
// loopback only, the bus for discovery, fast probes. The download folder
// is the test's too, never the user's.
func testOptions(t *testing.T, b *bus, name string) Options {
	t.Helper()
	return Options{
		DataDir:     t.TempDir(),
		Name:        name,
		Listen:      "127.0.0.1:0",
		DownloadDir: t.TempDir(),
		Discovery:   b.join,
		probes:      fastProbes,
	}
}

// runner is an engine running in a test, with the means to stop it.
type runner struct {
	*Engine
	cancel context.CancelFunc
	done   chan error
}

// stop ends Run and fails the test if Run failed; it is idempotent.
func (r *runner) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err, ok := <-r.done; ok && err != nil {
		t.Errorf("%s: Run: %v", r.Name(), err)
	}
}

// start creates an engine with opts and runs it until the test ends (or
// stop is called).
func start(t *testing.T, opts Options) *runner {
	t.Helper()
	return run(t, mustNew(t, opts))
}

func mustNew(t *testing.T, opts Options) *Engine {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs e until the test ends (or stop is called).
func run(t *testing.T, e *Engine) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{Engine: e, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- e.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// shareFile writes data to a fresh folder as name and shares it on e.
func shareFile(t *testing.T, e *Engine, name string, data []byte) {
	t.Helper()
	if _, err := e.AddShares(writeFile(t, t.TempDir(), name, data)); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for what, bounded against a hung engine (see package wait).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, what, cond)
}

// online reports whether e sees the peer with id online.
func online(e *Engine, id string) bool {
	for _, p := range e.Peers() {
		if p.ID == id && p.Online {
			return true
		}
	}
	return false
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
