package peer

import (
	"errors"
	"net/netip"
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
	if tb.seen(announce("self", "me", fpA, 1), now) {
		t.Error("the table would verify this peer itself")
	}
	if !tb.seen(announce("p1", "Alice", fpA, 1000), now) {
		t.Fatal("a new peer is not verified")
	}
	if tb.seen(announce("p1", "Alice", fpA, 1000), now) {
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
	if tb.seen(announce("p1", "Alice", fpA, 1000), now) {
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
	tb.seen(announce("p1", "Alice", fpA, 1000), now)
	tb.verified("p1", wire.Info{ID: "p1", Name: "Alice"}, testClient(t), now)
	if !tb.seen(announce("p1", "Alice", fpB, 1000), now) {
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
// after the allowed number of failures in a row; a success resets the
// count. A goodbye removes it at once.
func TestTableLivenessAndExpiry(t *testing.T) {
	tb := newTable("self")
	now := time.Now()
	tb.seen(announce("p1", "Alice", fpA, 1000), now)
	tb.verified("p1", wire.Info{ID: "p1", Name: "Alice"}, testClient(t), now)
	fail := errors.New("refused")

	probe := func(ri wire.Info, err error) (PeerInfo, bool, bool) {
		t.Helper()
		due := tb.due()
		if len(due) != 1 {
			t.Fatalf("%d peers due, want 1", len(due))
		}
		if len(tb.due()) != 0 {
			t.Fatal("a peer being probed is due again")
		}
		return tb.probed(due[0], ri, err, 2, now)
	}
	if _, _, removed := probe(wire.Info{}, fail); removed {
		t.Fatal("removed after one failure of two allowed")
	}
	info, changed, _ := probe(wire.Info{Name: "Alice's attic"}, nil)
	if !changed || info.Name != "Alice's attic" {
		t.Errorf("a new name is not picked up: %+v", info)
	}
	if _, _, removed := probe(wire.Info{}, fail); removed {
		t.Fatal("a success did not reset the failure count")
	}
	info, _, removed := probe(wire.Info{}, fail)
	if !removed || info.Online {
		t.Fatalf("not removed after two failures in a row: %+v", info)
	}
	if len(tb.list()) != 0 || len(tb.due()) != 0 {
		t.Error("an expired peer is still in the table")
	}

	tb.seen(announce("p2", "Bob", fpB, 1001), now)
	c := testClient(t)
	tb.verified("p2", wire.Info{ID: "p2", Name: "Bob"}, c, now)
	stale := tb.due()[0]
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
