package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
)

const (
	fpA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	fpB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// testClient is a client that is never used to dial: the table only keeps
// and closes clients.
func testClient(t *testing.T) *wire.Client {
	t.Helper()
	id, err := identity.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return wire.NewClient(id, nil, wire.Remote{})
}

func announce(id, name, fp string, port int) discovery.Announcement {
	return discovery.Announcement{ID: id, Name: name, Fingerprint: fp, Port: port,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
}

// An announced peer is verified once, shown only once verified, and its
// addresses accumulate; this peer itself is never entered.
func TestTableAddsAndVerifies(t *testing.T) {
	tb := newTable("self")
	now := time.Now()
	seen := func(a discovery.Announcement, now time.Time) bool { v, _ := tb.seen(a, now); return v }
	if seen(announce("self", "me", fpA, 1), now) {
		t.Error("the table would verify this peer itself")
	}
	if !seen(announce("p1", "Alice", fpA, 1000), now) {
		t.Fatal("a new peer is not verified")
	}
	if seen(announce("p1", "Alice", fpA, 1000), now) {
		t.Error("a second verification started while one runs")
	}
	if len(tb.list()) != 0 {
		t.Error("an unverified peer is listed")
	}
	a := announce("p1", "Alice", fpA, 1000)
	a.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	tb.seen(a, now)
	c := testClient(t)
	info, ok := tb.verified("p1", wire.Info{ID: "p1", Name: "Alice", Files: 3, Bytes: 30}, c, now)
	if !ok || !info.Online || info.Files != 3 {
		t.Fatalf("verified: %+v %v", info, ok)
	}
	if got := info.Addrs; len(got) != 2 || got[0] != "192.0.2.2" || got[1] != "192.0.2.1" {
		t.Errorf("addresses %v, want the fresh one first, then the older", got)
	}
	if seen(announce("p1", "Alice", fpA, 1000), now) {
		t.Error("an online peer is verified again")
	}
	if got, _, err := tb.client("p1"); err != nil || got != c {
		t.Errorf("client: %v", err)
	}
	if p, ok := tb.at("192.0.2.1", 1000); !ok || p.ID != "p1" {
		t.Error("at does not find the peer by address")
	}
	if _, ok := tb.verified("gone", wire.Info{}, c, now); ok {
		t.Error("a peer not in the table was marked verified")
	}
}

// A changed key takes the peer offline, is reported once, and keeps it
// listed as refused; another announcement with the other key starts a new
// verification.
func TestTableKeyChange(t *testing.T) {
	tb := newTable("self")
	now := time.Now()
	seen := func(a discovery.Announcement, now time.Time) bool { v, _ := tb.seen(a, now); return v }
	tb.seen(announce("p1", "Alice", fpA, 1000), now)
	tb.verified("p1", wire.Info{ID: "p1", Name: "Alice"}, testClient(t), now)
	if !seen(announce("p1", "Alice", fpB, 1000), now) {
		t.Fatal("another fingerprint under a known id is not verified")
	}
	if _, _, err := tb.client("p1"); !errors.Is(err, ErrNoPeer) {
		t.Error("a peer with an unverified new key is still usable")
	}
	info, first := tb.keyChanged("p1")
	if !first || !info.KeyChanged || info.Online {
		t.Fatalf("keyChanged: %+v first=%v", info, first)
	}
	tb.seen(announce("p1", "Alice", fpB, 1000), now)
	if _, first := tb.keyChanged("p1"); first {
		t.Error("a changed key is reported twice")
	}
	l := tb.list()
	if len(l) != 1 || !l[0].KeyChanged {
		t.Errorf("list = %+v, want the refused peer", l)
	}
	if _, err := tb.resolve("alice"); !errors.Is(err, identity.ErrKeyChanged) {
		t.Errorf("resolve of a refused peer: %v", err)
	}
	// The same peer verified again (its old key restored) is accepted.
	tb.seen(announce("p1", "Alice", fpA, 1000), now)
	if info, ok := tb.verified("p1", wire.Info{ID: "p1", Name: "Alice"}, testClient(t), now); !ok || info.KeyChanged {
		t.Errorf("verified after a key change: %+v", info)
	}
}

// Probes keep a peer while it answers, pick up its new name, and remove it
// after the allowed number of failures in a row (the prober re-probing the
// peer it holds busy); a success resets the count. A goodbye removes it at
// once.
func TestTableLivenessAndExpiry(t *testing.T) {
	tb := newTable("self")
	now := time.Now()
	tb.seen(announce("p1", "Alice", fpA, 1000), now)
	tb.verified("p1", wire.Info{ID: "p1", Name: "Alice"}, testClient(t), now)
	fail := errors.New("refused")

	target := func() probeTarget {
		t.Helper()
		p, ok := tb.nextProbe(now, 0)
		if !ok {
			t.Fatal("no peer due")
		}
		if _, ok := tb.nextProbe(now, 0); ok {
			t.Fatal("a peer being probed is due again")
		}
		return p
	}
	p := target()
	if _, _, removed := tb.probed(p, wire.Info{}, fail, 2, now); removed {
		t.Fatal("removed after one failure of two allowed")
	}
	if _, ok := tb.nextProbe(now, 0); ok {
		t.Fatal("a peer that failed a probe is handed out again before its re-probe")
	}
	info, changed, _ := tb.probed(p, wire.Info{Name: "Alice's attic"}, nil, 2, now)
	if !changed || info.Name != "Alice's attic" {
		t.Errorf("a new name is not picked up: %+v", info)
	}
	p = target()
	if _, _, removed := tb.probed(p, wire.Info{}, fail, 2, now); removed {
		t.Fatal("a success did not reset the failure count")
	}
	info, _, removed := tb.probed(p, wire.Info{}, fail, 2, now)
	if !removed || info.Online {
		t.Fatalf("not removed after two failures in a row: %+v", info)
	}
	if _, ok := tb.nextProbe(now, 0); ok || len(tb.list()) != 0 {
		t.Error("an expired peer is still in the table")
	}

	tb.seen(announce("p2", "Bob", fpB, 1001), now)
	c := testClient(t)
	tb.verified("p2", wire.Info{ID: "p2", Name: "Bob"}, c, now)
	stale, _ := tb.nextProbe(now, 0)
	tb.seen(announce("p2", "Bob", fpA, 1001), now) // a new key: the probed client is replaced
	if _, _, removed := tb.probed(stale, wire.Info{}, fail, 1, now); removed {
		t.Error("a probe of a replaced connection removed the peer")
	}
	tb.verified("p2", wire.Info{ID: "p2", Name: "Bob"}, testClient(t), now)
	if gone := tb.goodbye(fpB); len(gone) != 0 {
		t.Error("a goodbye with another key removed the peer")
	}
	if gone := tb.goodbye(fpA); len(gone) != 1 || gone[0].ID != "p2" {
		t.Errorf("goodbye removed %+v", gone)
	}
	if len(tb.list()) != 0 {
		t.Error("a peer that said goodbye is listed")
	}
}

// The probe budget hands out one peer per call, one without a fresh proof of
// life, and none while every proof is fresher than minAge; an announcement
// and a request from the peer are proofs of life.
func TestTableProbeBudget(t *testing.T) {
	tb := newTable("self")
	t0 := time.Now()
	for i, id := range []string{"p1", "p2", "p3"} {
		fp := strings.Repeat(string(rune('a'+i)), 64)
		tb.seen(announce(id, id, fp, 1000+i), t0.Add(time.Duration(i)*time.Second))
		tb.verified(id, wire.Info{ID: id, Name: id}, testClient(t), t0)
	}
	// verified does not prove life beyond the announcement: p1 is the oldest.
	if _, ok := tb.nextProbe(t0.Add(2*time.Second), 10*time.Second); ok {
		t.Fatal("a probe while every proof of life is fresh")
	}
	now := t0.Add(time.Minute)
	tb.seen(announce("p1", "p1", strings.Repeat("a", 64), 1000), now) // p1 announces: fresh
	tb.aliveFP(strings.Repeat("b", 64), now)                          // p2 made a request: fresh
	p, ok := tb.nextProbe(now, 10*time.Second)
	if !ok || p.id != "p3" {
		t.Fatalf("nextProbe = %+v, %v; want p3, the only one without a fresh proof", p, ok)
	}
	if _, ok := tb.nextProbe(now, 10*time.Second); ok {
		t.Error("a second probe handed out while the others are fresh")
	}
	tb.probed(p, wire.Info{Name: "p3"}, nil, 2, now)
}

// A peer asked about is probed after grace unless it shows a sign of life
// first; a suspected peer is removed at its first failed probe.
func TestTableSuspects(t *testing.T) {
	tb := newTable("self")
	t0 := time.Now()
	fp1, fp2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, x := range []struct{ id, fp string }{{"p1", fp1}, {"p2", fp2}} {
		tb.seen(announce(x.id, x.id, x.fp, 1000), t0)
		tb.verified(x.id, wire.Info{ID: x.id, Name: x.id}, testClient(t), t0)
	}
	if tb.asked("nobody", t0) {
		t.Error("a question about an unknown peer was taken")
	}
	tb.asked("p1", t0.Add(time.Second))
	tb.asked("p2", t0.Add(time.Second))
	if got := tb.suspects(t0.Add(1500*time.Millisecond), time.Second); len(got) != 0 {
		t.Fatalf("suspects probed before grace: %+v", got)
	}
	tb.aliveFP(fp2, t0.Add(1200*time.Millisecond)) // p2 answers the question
	got := tb.suspects(t0.Add(3*time.Second), time.Second)
	if len(got) != 1 || got[0].id != "p1" || !got[0].suspected {
		t.Fatalf("suspects = %+v, want p1 only", got)
	}
	if again := tb.suspects(t0.Add(4*time.Second), time.Second); len(again) != 0 {
		t.Errorf("suspects handed out twice: %+v", again)
	}
	if _, _, removed := tb.probed(got[0], wire.Info{}, errors.New("timeout"), 2, t0.Add(4*time.Second)); !removed {
		t.Error("a suspected peer that failed its probe was kept")
	}
}

// resolve prefers names to id prefixes, needs four characters of an id,
// ignores case and refuses ambiguity.
func TestTableResolve(t *testing.T) {
	tb := newTable("self")
	now := time.Now()
	for _, p := range []struct{ id, name string }{
		{"abcd0001", "Bob"}, {"abcd0002", "bob"}, {"beef0003", "abcd0001"}, {"cafe0004", "Carol"},
	} {
		tb.seen(announce(p.id, p.name, fpA, 1000), now)
		tb.verified(p.id, wire.Info{ID: p.id, Name: p.name}, testClient(t), now)
	}
	for ref, want := range map[string]string{
		"carol": "cafe0004", "CAFE": "cafe0004", "abcd0002": "abcd0002",
		"abcd0001": "beef0003", // a display name wins over an id prefix
	} {
		if p, err := tb.resolve(ref); err != nil || p.ID != want {
			t.Errorf("resolve(%q) = %s, %v; want %s", ref, p.ID, err, want)
		}
	}
	for ref, want := range map[string]error{
		"bob": ErrAmbiguous, "abcd": ErrAmbiguous, "caf": ErrNoPeer, "dave": ErrNoPeer,
		"192.0.2.9:1000": ErrNoPeer,
	} {
		if _, err := tb.resolve(ref); !errors.Is(err, want) {
			t.Errorf("resolve(%q): %v, want %v", ref, err, want)
		}
	}
	if p, err := tb.resolve("192.0.2.1:1000"); err != nil || p.ID == "" {
		t.Errorf("resolve by address: %v", err)
	}
}

// tableOf returns a table holding n online peers "p0".."p(n-1)", verified
// in that order one millisecond apart, as a peer verifies its neighbours at
// start-up. They share one client c (probes are not sent).
func tableOf(t *testing.T, c *wire.Client, n int, t0 time.Time) *table {
	t.Helper()
	tb := newTable("self")
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		at := t0.Add(time.Duration(i) * time.Millisecond)
		tb.seen(announce(id, id, fmt.Sprintf("%064x", i+1), 1000+i), at)
		tb.verified(id, wire.Info{ID: id, Name: id}, c, at)
	}
	return tb
}

// A probe round visits every neighbour once before any is probed again.
func TestTableProbeRoundVisitsEveryone(t *testing.T) {
	t0 := time.Now()
	const n = 12
	c := testClient(t)
	tb := tableOf(t, c, n, t0)
	now := t0.Add(time.Minute)
	for round := range 3 {
		seen := map[string]bool{}
		for range n {
			p, ok := tb.nextProbe(now, time.Second)
			if !ok {
				t.Fatalf("round %d: no peer due after %d", round, len(seen))
			}
			if seen[p.id] {
				t.Fatalf("round %d: %s probed twice before %d others were", round, p.id, n-len(seen))
			}
			seen[p.id] = true
			tb.probed(p, wire.Info{ID: p.id, Name: p.id}, nil, 2, now.Add(-time.Hour)) // answered, but proves nothing fresh
		}
	}
}

// Peers that verified their neighbours in the same order at start-up do not
// probe them in that order: a neighbour that vanished is reached by some
// peer within a few probes of each, not only after a whole round. With the
// oldest proof first, every one of 40 peers would probe p39 last.
func TestTableProbeRoundsAreIndependent(t *testing.T) {
	t0 := time.Now()
	const n = 40
	now := t0.Add(time.Minute)
	const ticks = 15 // the chance that no peer picks a given one in 15 ticks is about e^-15
	reached := map[string]bool{}
	c := testClient(t)
	for range n {
		tb := tableOf(t, c, n, t0)
		for range ticks {
			p, ok := tb.nextProbe(now, time.Second)
			if !ok {
				t.Fatal("no peer due")
			}
			reached[p.id] = true
			tb.probed(p, wire.Info{ID: p.id, Name: p.id}, nil, 2, now.Add(-time.Hour))
		}
	}
	for i := range n {
		if id := fmt.Sprintf("p%d", i); !reached[id] {
			t.Errorf("no peer of %d probed %s within %d probes", n, id, ticks)
		}
	}
}
