package peer

import (
	"sync"
	"testing"
	"time"
)

// quietOptions are testOptions on a quiet bus (announcements only on
// changes, as with known-answer suppression), with timing t.
func quietOptions(t *testing.T, b *bus, name string, timing probeTiming) Options {
	opts := testOptions(t, b, name)
	opts.probes = timing
	return opts
}

// A peer sends one probe per budget interval whatever the number of its
// neighbours: over any stretch, at most the stretch divided by the
// shortest jittered interval, plus the re-probes of none (all answer).
func TestProbesStayWithinTheBudget(t *testing.T) {
	b := newQuietBus()
	timing := fastProbes
	timing.every = 20 * time.Millisecond
	var rs []*runner
	for _, name := range []string{"A", "B", "C", "D", "E", "F"} {
		rs = append(rs, start(t, quietOptions(t, b, name, timing)))
	}
	waitFor(t, "all see all", func() bool {
		for _, r := range rs {
			if len(r.Peers()) != len(rs)-1 {
				return false
			}
		}
		return true
	})
	me := rs[0]
	t0, n0 := time.Now(), me.stats.probesSent.Load()
	waitFor(t, "some probes sent", func() bool { return me.stats.probesSent.Load() >= n0+10 })
	elapsed, sent := time.Since(t0), me.stats.probesSent.Load()-n0
	// The jittered interval is at least every/2; one more for the timer in flight.
	if most := uint64(elapsed/(timing.every/2)) + 1; sent > most {
		t.Errorf("%d probes in %v, want at most %d (one per budget interval, not one per neighbour)", sent, elapsed, most)
	}
}

// A neighbour that dies without a goodbye is noticed by whichever peer
// probes it first; that peer asks the others, who look for themselves, so
// every peer removes it even though each probes it only now and then. One
// that leaves cleanly is removed by its goodbye.
func TestSilentDeathIsNoticedByAll(t *testing.T) {
	b := newQuietBus()
	timing := fastProbes
	var rs []*runner
	for _, name := range []string{"A", "B", "C", "D"} {
		rs = append(rs, start(t, quietOptions(t, b, name, timing)))
	}
	opts := quietOptions(t, b, "Ghost", timing)
	opts.silent = true
	ghost := start(t, opts)
	waitFor(t, "all see the ghost", func() bool {
		for _, r := range rs {
			if !online(r.Engine, ghost.ID()) {
				return false
			}
		}
		return true
	})
	ghost.stop(t)
	waitFor(t, "every peer removed the ghost", func() bool {
		for _, r := range rs {
			if online(r.Engine, ghost.ID()) {
				return false
			}
		}
		return true
	})

	rs[3].stop(t) // with a goodbye
	waitFor(t, "every peer removed D after its goodbye", func() bool {
		for _, r := range rs[:3] {
			if online(r.Engine, rs[3].ID()) {
				return false
			}
		}
		return true
	})
	for _, r := range rs[:3] {
		if len(r.Peers()) != 2 {
			t.Errorf("%s lists %+v, want the two others", r.Name(), r.Peers())
		}
	}
}

// An announced new index version makes the others fetch the neighbour's
// info (PeerUpdated) without waiting for a probe: here probes never come.
func TestAnnouncedIndexRefreshesInfo(t *testing.T) {
	b := newQuietBus()
	timing := fastProbes
	timing.every = time.Hour
	me := start(t, quietOptions(t, b, "Me", timing))
	alice := start(t, quietOptions(t, b, "Alice", timing))
	waitFor(t, "alice online", func() bool { return online(me.Engine, alice.ID()) })
	before, _ := me.peers.get(alice.ID())
	var (
		mu     sync.Mutex
		latest PeerInfo
	)
	defer me.Subscribe(func(ev Event) {
		if ev.Kind == PeerUpdated && ev.Peer.ID == alice.ID() {
			mu.Lock()
			latest = ev.Peer
			mu.Unlock()
		}
	})()
	shareFile(t, alice.Engine, "one.txt", []byte("1"))
	waitFor(t, "a PeerUpdated with alice's new index", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return latest.Index != before.Index && latest.Index == alice.lib.Version() && latest.Files == 1
	})
}

// A peer that joins a network of many hears them all at once and verifies
// at most maxVerifying of them at a time (dozens of TLS handshakes side by
// side starve the goroutines reading mDNS), and still verifies every one.
func TestVerificationsAreBounded(t *testing.T) {
	b := newQuietBus()
	const others = 3 * maxVerifying
	for i := range others {
		start(t, quietOptions(t, b, "N"+string(rune('a'+i)), fastProbes))
	}
	var mu sync.Mutex
	running, peak := 0, 0
	opts := quietOptions(t, b, "me", fastProbes)
	opts.verifying = func() {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for every unbounded verification to overlap
		mu.Lock()
		running--
		mu.Unlock()
	}
	me := start(t, opts)
	waitFor(t, "me sees every other", func() bool { return len(me.Peers()) == others })
	mu.Lock()
	defer mu.Unlock()
	if peak > maxVerifying {
		t.Errorf("%d verifications ran at once, want at most %d", peak, maxVerifying)
	}
}
