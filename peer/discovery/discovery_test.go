package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"porch/test/netns"
	"porch/test/wait"
)

// seenWithin is the generous deadline for "A sees B": it normally takes
// about a second; the deadline only guards against hangs.
const seenWithin = 10 * time.Second

// testPeer is one Discovery running on loopback in the test's namespace,
// with everything it has seen.
type testPeer struct {
	d    *Discovery
	self Announcement

	mu    sync.Mutex
	seen  map[string]Announcement
	calls map[string]int
	asked map[string]int

	cancel context.CancelFunc
	done   chan error
}

func randomFingerprint(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func testLogger(t *testing.T, name string) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", name)
}

// newTestPeer makes a Discovery on loopback; configure, if given, runs
// before Run starts.
func newTestPeer(t *testing.T, name string, announce bool, configure func(*Discovery)) *testPeer {
	t.Helper()
	self := Announcement{
		ID:          uuid.NewString(),
		Name:        name,
		Fingerprint: randomFingerprint(t),
		Port:        40000 + len(name),
	}
	d, err := New(Options{Self: self, Ifaces: []string{"lo"}, Announce: announce, Logger: testLogger(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(d)
	}
	p := &testPeer{d: d, self: self, seen: map[string]Announcement{}, calls: map[string]int{}, asked: map[string]int{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- d.Run(ctx, p.found, p.wasAsked) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *testPeer) wasAsked(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked[id]++
}

func (p *testPeer) askedAbout(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked[id]
}

func (p *testPeer) found(a Announcement) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[a.ID] = a
	p.calls[a.ID]++
}

func (p *testPeer) lookup(id string) (Announcement, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[id], p.calls[id]
}

// stop cancels Run and waits for it; safe to call twice.
func (p *testPeer) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s: Run returned %v", p.self.Name, err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s: Run did not return 15 s after cancel", p.self.Name)
	}
}

// waitFor waits for what within a bound and says how long it took (see
// package wait).
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return wait.Until(t, within, what, cond)
}

func (p *testPeer) waitSees(t *testing.T, other *testPeer, cond func(Announcement) bool) time.Duration {
	t.Helper()
	return waitFor(t, seenWithin, p.self.Name+" sees "+other.self.Name, func() bool {
		_, n := p.lookup(other.self.ID)
		a, _ := p.lookup(other.self.ID)
		return n > 0 && (cond == nil || cond(a))
	})
}

func TestPeersSeeEachOther(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	time.Sleep(500 * time.Millisecond)
	bob := newTestPeer(t, "Bob", true, nil)
	carol := newTestPeer(t, "Carol ☀", true, nil)

	t.Logf("alice saw bob after %v", alice.waitSees(t, bob, nil))
	bob.waitSees(t, alice, nil)
	carol.waitSees(t, alice, nil)
	carol.waitSees(t, bob, nil)
	alice.waitSees(t, carol, nil)

	got, _ := alice.lookup(carol.self.ID)
	if got.ID != carol.self.ID || got.Name != "Carol ☀" || got.Fingerprint != carol.self.Fingerprint || got.Port != carol.self.Port {
		t.Errorf("alice saw carol as %+v, want %+v", got, carol.self)
	}
	if !slices.Contains(got.Addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("carol's addresses %v lack 127.0.0.1", got.Addrs)
	}
	for _, p := range []*testPeer{alice, bob, carol} {
		if _, n := p.lookup(p.self.ID); n != 0 {
			t.Errorf("%s reported itself", p.self.Name)
		}
	}
}

func TestSetNameReannounces(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	bob := newTestPeer(t, "Bob", true, nil)
	alice.waitSees(t, bob, nil)

	bob.d.SetName("Robert\x07 the\tBuilder")
	d := alice.waitSees(t, bob, func(a Announcement) bool { return a.Name != "Bob" })
	if a, _ := alice.lookup(bob.self.ID); a.Name != "Robert theBuilder" {
		t.Errorf("alice sees bob's new name as %q, want the cleaned %q", a.Name, "Robert theBuilder")
	}
	t.Logf("new name seen after %v", d)

	// A second change soon after the first (inside zeroconf's unsafe
	// window) must still arrive, and not race.
	bob.d.SetName("Bobby")
	bob.d.SetName("Rob")
	alice.waitSees(t, bob, func(a Announcement) bool { return a.Name == "Rob" })
}

func TestSetAnnounceOffHides(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	bob := newTestPeer(t, "Bob", true, nil)
	hidden := newTestPeer(t, "Hidden", false, nil)
	alice.waitSees(t, bob, nil)
	hidden.waitSees(t, alice, nil) // a hidden peer still browses
	bob.d.SetAnnounce(false)
	time.Sleep(time.Second)

	carol := newTestPeer(t, "Carol", true, nil)
	carol.waitSees(t, alice, nil)
	time.Sleep(3 * time.Second) // Bob, if he answered, would have by now
	if _, n := carol.lookup(bob.self.ID); n != 0 {
		t.Error("carol sees bob after he stopped announcing")
	}
	for _, p := range []*testPeer{alice, bob, carol} {
		if _, n := p.lookup(hidden.self.ID); n != 0 {
			t.Errorf("%s sees the peer that never announced", p.self.Name)
		}
	}

	bob.d.SetAnnounce(true)
	carol.waitSees(t, bob, nil)
}

// Once known, a peer is listed as a known answer and does not answer the
// periodic browse queries; forgotten, it is asked for and reported again.
func TestKnownAnswersAndForget(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, func(d *Discovery) { d.rebrowse = 300 * time.Millisecond })
	bob := newTestPeer(t, "Bob", true, nil)
	alice.waitSees(t, bob, nil)
	// Bob's own announcements (at most three, the last about 3.6 s after he
	// registered) end; then nothing more is reported while alice queries.
	time.Sleep(announceLinger + time.Second)
	_, before := alice.lookup(bob.self.ID)
	time.Sleep(2 * time.Second) // several queries at the 300 ms cap
	if _, after := alice.lookup(bob.self.ID); after != before {
		t.Errorf("bob reported %d more times while known; known-answer suppression should keep him silent", after-before)
	}
	alice.d.Forget(bob.self.ID)
	waitFor(t, seenWithin, "alice reports bob again after Forget", func() bool {
		_, n := alice.lookup(bob.self.ID)
		return n > before
	})
}

// A new index version is announced and reported with the announcement.
func TestIndexIsAnnounced(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	bob := newTestPeer(t, "Bob", true, nil)
	alice.waitSees(t, bob, nil)
	bob.d.SetIndex(17)
	alice.waitSees(t, bob, func(a Announcement) bool { return a.Index == 17 })
}

// Check asks the link about a peer: the others hear the question, and the
// peer's answer reaches them as a report.
func TestCheckIsHeardAndAnswered(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	bob := newTestPeer(t, "Bob", true, nil)
	carol := newTestPeer(t, "Carol", false, nil)
	carol.waitSees(t, bob, nil)
	time.Sleep(announceLinger)
	_, before := carol.lookup(bob.self.ID)
	alice.d.Check(bob.self.ID)
	waitFor(t, seenWithin, "carol hears alice's question about bob", func() bool { return carol.askedAbout(bob.self.ID) > 0 })
	waitFor(t, seenWithin, "carol hears bob's answer", func() bool {
		_, n := carol.lookup(bob.self.ID)
		return n > before
	})
}

func TestRunStopsCleanly(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	before := runtime.NumGoroutine()
	alice := newTestPeer(t, "Alice", true, func(d *Discovery) { d.rebrowse = 300 * time.Millisecond })
	bob := newTestPeer(t, "Bob", true, nil)
	alice.waitSees(t, bob, nil)

	if err := alice.d.Run(context.Background(), nil, nil); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: got %v, want ErrRunning", err)
	}
	// Churn right before shutdown: registrations that are milliseconds old
	// when the context ends.
	for i := range 5 {
		bob.d.SetName("Bob " + string(rune('A'+i)))
		bob.d.SetAnnounce(i%2 == 0)
	}
	alice.stop(t)
	bob.stop(t)

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left running, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A stopped Discovery can run again.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := alice.d.Run(ctx, nil, nil); err != nil {
		t.Errorf("Run after Run: %v", err)
	}
}

func TestAddressChangeReannounces(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	alice := newTestPeer(t, "Alice", true, nil)
	bob := newTestPeer(t, "Bob", true, func(d *Discovery) { d.addrCheck = 200 * time.Millisecond })
	alice.waitSees(t, bob, nil)

	added := netip.MustParseAddr("10.77.0.2")
	if out, err := exec.Command("ip", "addr", "add", added.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	alice.waitSees(t, bob, func(a Announcement) bool { return slices.Contains(a.Addrs, added) })
}

func TestInterfacesInNamespace(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	got, err := Interfaces(nil)
	if err != nil || len(got) != 1 || got[0].Name != "lo" {
		t.Fatalf("Interfaces(nil) = %v, %v; want only lo when nothing else is up", got, err)
	}
	if got, err := Interfaces([]string{"lo", "lo"}); err != nil || len(got) != 1 {
		t.Errorf("Interfaces(lo, lo) = %v, %v; want lo once", got, err)
	}
	if _, err := Interfaces([]string{"porch-none0"}); err == nil {
		t.Error("Interfaces of a missing interface: no error")
	}
	if addrs := localAddrs(got); !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("loopback addresses to announce: %v, want 127.0.0.1 among them", addrs)
	}
}

func TestHostNamesDistinctOnOneMachine(t *testing.T) {
	machine, _ := os.Hostname()
	hosts := map[string]bool{}
	for range 3 {
		d, err := New(Options{Self: Announcement{ID: uuid.NewString(), Fingerprint: randomFingerprint(t), Port: 1}})
		if errors.Is(err, ErrNoInterface) {
			t.Skip("no usable interface on this machine")
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.host == machine || hosts[d.host] {
			t.Errorf("host name %q is the machine's or another instance's", d.host)
		}
		hosts[d.host] = true
	}
}
