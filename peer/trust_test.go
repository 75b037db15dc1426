package peer

import (
	"context"
	"errors"
	"sync"
	"testing"

	"porch/peer/wire"
)

// Pairing between two real engines: both show the same code, one asks the
// other to compare (at most every pairEvery), trust holds the key seen then
// and ends with Untrust or when the key changes; forgetting a changed key lets
// the neighbour in with its new one, untrusted.
func TestPairTrustAndForget(t *testing.T) {
	b := newBus()
	me := start(t, testOptions(t, b, "Me"))
	aliceOpts := testOptions(t, b, "Alice")
	alice := start(t, aliceOpts)
	waitFor(t, "both online", func() bool { return online(me.Engine, alice.ID()) && online(alice.Engine, me.ID()) })

	mine, err := me.PairingCode(alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	hers, err := alice.PairingCode(me.ID())
	if err != nil || hers != mine || len(mine) != 7 {
		t.Fatalf("codes %q and %q (%v), want the same ddd ddd", mine, hers, err)
	}

	var mu sync.Mutex
	var asked []PeerInfo
	defer alice.Subscribe(func(ev Event) {
		if ev.Kind == PairRequested {
			mu.Lock()
			asked = append(asked, ev.Peer)
			mu.Unlock()
		}
	})()
	if err := me.RequestPairing(context.Background(), alice.ID()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(asked) != 1 || asked[0].ID != me.ID() {
		t.Fatalf("alice was asked by %+v, want one request from me", asked)
	}
	mu.Unlock()
	if err := me.RequestPairing(context.Background(), alice.ID()); !errors.Is(err, wire.ErrBusy) {
		t.Errorf("a second request at once: %v, want it refused as busy", err)
	}

	if err := me.Trust(alice.ID()); err != nil {
		t.Fatal(err)
	}
	if ps := me.Peers(); len(ps) != 1 || !ps[0].Trusted {
		t.Fatalf("Peers() = %+v, want alice trusted", ps)
	}
	if ts, err := me.TrustedPeers(); err != nil || len(ts) != 1 || ts[0].Name != "Alice" || !ts[0].Online {
		t.Fatalf("TrustedPeers() = %+v, %v", ts, err)
	}
	if _, err := me.Untrust("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := me.Untrust("alice"); !errors.Is(err, ErrNotTrusted) {
		t.Errorf("untrusting twice: %v, want ErrNotTrusted", err)
	}
	if err := me.Trust(alice.ID()); err != nil {
		t.Fatal(err)
	}

	// Alice's machine comes back with the same id and another key.
	alice.stop(t)
	waitFor(t, "alice gone", func() bool { return len(me.Peers()) == 0 })
	again := sameIDNewKey(t, b, aliceOpts, "Alice")
	waitFor(t, "the changed key refused", func() bool {
		ps := me.Peers()
		return len(ps) == 1 && ps[0].KeyChanged
	})
	if ps := me.Peers(); ps[0].Trusted {
		t.Errorf("trust held for a changed key: %+v", ps[0])
	}
	if ts, _ := me.TrustedPeers(); len(ts) != 1 || !ts[0].KeyChanged {
		t.Errorf("TrustedPeers() = %+v, want the trust marked as not holding", ts)
	}
	if _, err := me.ForgetKey("nobody"); !errors.Is(err, ErrNoPeer) {
		t.Errorf("ForgetKey of no one: %v", err)
	}
	if _, err := me.ForgetKey("alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice accepted with her new key", func() bool { return online(me.Engine, again.ID()) })
	if ps := me.Peers(); len(ps) != 1 || ps[0].Trusted || ps[0].KeyChanged || ps[0].Fingerprint != again.id.Fingerprint {
		t.Errorf("after forgetting: %+v, want alice online with her new key, not trusted", ps)
	}
}
