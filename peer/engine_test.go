package peer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/peer/identity"
	"porch/share"
	"porch/test/wait"
)

// withID writes identity.json with id into a fresh data folder of opts, so
// that the engine created from opts has that id (and a fresh key).
func withID(t *testing.T, opts Options, id string) Options {
	t.Helper()
	if err := os.WriteFile(filepath.Join(opts.DataDir, "identity.json"), []byte(`{"id":"`+id+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return opts
}

// Names resolve case-insensitively, id prefixes of four characters or more
// resolve, host:port resolves, and a name or prefix that several neighbours
// share is refused with ErrAmbiguous rather than guessed.
func TestResolveNamesAndIDPrefixes(t *testing.T) {
	b := newBus()
	alice := start(t, withID(t, testOptions(t, b, "Alice"), "0123abcd-0000-4000-8000-000000000000"))
	bob1 := start(t, withID(t, testOptions(t, b, "Bob"), "abcd1234-0000-4000-8000-000000000001"))
	bob2 := start(t, withID(t, testOptions(t, b, "bob"), "abcd1234-0000-4000-8000-000000000002"))
	opts := testOptions(t, b, "")
	opts.ClientOnly = true
	me := start(t, opts)
	waitFor(t, "all three neighbours online", func() bool {
		return online(me.Engine, alice.ID()) && online(me.Engine, bob1.ID()) && online(me.Engine, bob2.ID())
	})

	for ref, want := range map[string]string{
		"alice":                                alice.ID(),
		"ALICE":                                alice.ID(),
		"0123":                                 alice.ID(),
		"abcd1234-0000-4000-8000-000000000002": bob2.ID(),
		"ABCD1234-0000-4000-8000-000000000001": bob1.ID(),
		bob1.Addr():                            bob1.ID(),
	} {
		p, err := me.Resolve(ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
		} else if p.ID != want {
			t.Errorf("Resolve(%q) = %s, want %s", ref, p.ID, want)
		}
	}
	for _, ref := range []string{"bob", "BOB", "abcd", "abcd1234-0000"} {
		_, err := me.Resolve(ref)
		if !errors.Is(err, ErrAmbiguous) {
			t.Errorf("Resolve(%q): %v, want ErrAmbiguous", ref, err)
		} else if !strings.Contains(err.Error(), "abcd1234") {
			t.Errorf("Resolve(%q): %q does not name the candidates", ref, err)
		}
	}
	for _, ref := range []string{"carol", "012", "ffff", "127.0.0.1:1"} {
		if _, err := me.Resolve(ref); !errors.Is(err, ErrNoPeer) {
			t.Errorf("Resolve(%q): %v, want ErrNoPeer", ref, err)
		}
	}
	// A neighbour sees the others, never itself.
	waitFor(t, "alice sees both bobs", func() bool {
		return online(alice.Engine, bob1.ID()) && online(alice.Engine, bob2.ID())
	})
	if _, err := alice.Resolve("alice"); !errors.Is(err, ErrNoPeer) {
		t.Errorf("an engine resolved its own name: %v", err)
	}
}

// A peer id seen before that comes back with another key is refused: it is
// reported (PeerAdded with KeyChanged), listed as refused, and neither
// resolved nor browsed.
func TestChangedKeyIsRefusedAndReported(t *testing.T) {
	b := newBus()
	me := start(t, testOptions(t, b, "Me"))
	aliceOpts := testOptions(t, b, "Alice")
	alice := start(t, aliceOpts)
	waitFor(t, "alice online", func() bool { return online(me.Engine, alice.ID()) })

	var (
		mu      sync.Mutex
		refused []PeerInfo
	)
	defer me.Subscribe(func(ev Event) {
		if ev.Kind == PeerAdded && ev.Peer.KeyChanged {
			mu.Lock()
			refused = append(refused, ev.Peer)
			mu.Unlock()
		}
	})()

	alice.stop(t)
	waitFor(t, "alice gone after her goodbye", func() bool { return len(me.Peers()) == 0 })

	impostor := sameIDNewKey(t, b, aliceOpts, "Alice")
	if impostor.ID() != alice.ID() || impostor.id.Fingerprint == alice.id.Fingerprint {
		t.Fatal("the impostor should have alice's id and another key")
	}
	waitFor(t, "the changed key reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) > 0
	})
	mu.Lock()
	got := refused[0]
	mu.Unlock()
	if got.ID != alice.ID() || got.Online {
		t.Errorf("reported %+v, want alice's id, offline", got)
	}
	peers := me.Peers()
	if len(peers) != 1 || !peers[0].KeyChanged || peers[0].Online {
		t.Errorf("Peers() = %+v, want alice refused", peers)
	}
	_, err := me.Resolve("alice")
	if !errors.Is(err, identity.ErrKeyChanged) || !strings.Contains(err.Error(), "porch forget "+alice.ID()[:8]) {
		t.Errorf("Resolve of a changed key: %v, want ErrKeyChanged saying what to do", err)
	}
	if _, err := me.List(context.Background(), alice.ID(), ""); !errors.Is(err, ErrNoPeer) {
		t.Errorf("browsing a refused peer: %v, want ErrNoPeer", err)
	}
	if _, err := me.Download(alice.ID(), "x", ""); !errors.Is(err, ErrNoPeer) {
		t.Errorf("downloading from a refused peer: %v, want ErrNoPeer", err)
	}
}

// A neighbour that stops without a goodbye is removed once its probes
// have failed; a neighbour's new name reaches the others through the
// probes as well.
func TestNeighbourExpiresAfterFailedProbes(t *testing.T) {
	b := newBus()
	me := start(t, testOptions(t, b, "Me"))
	opts := testOptions(t, b, "Alice")
	opts.silent = true
	alice := start(t, opts)
	waitFor(t, "alice online", func() bool { return online(me.Engine, alice.ID()) })

	s := alice.Settings()
	s.Name = "Alice's attic"
	if err := alice.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new name seen", func() bool {
		p, err := me.Resolve("alice's attic")
		return err == nil && p.ID == alice.ID()
	})

	removed := make(chan PeerInfo, 1)
	defer me.Subscribe(func(ev Event) {
		if ev.Kind == PeerRemoved && ev.Peer.ID == alice.ID() {
			select {
			case removed <- ev.Peer:
			default:
			}
		}
	})()
	alice.stop(t)
	waitFor(t, "alice removed", func() bool { return !online(me.Engine, alice.ID()) })
	select {
	case p := <-removed:
		if p.Online {
			t.Errorf("removed peer reported online: %+v", p)
		}
	default:
		t.Error("no PeerRemoved event")
	}
	if len(me.Peers()) != 0 {
		t.Errorf("Peers() = %+v after expiry", me.Peers())
	}
}

// The same file on two neighbours is one search result naming both; files
// that differ are separate results.
func TestSearchMergesResultsFromSeveralEngines(t *testing.T) {
	b := newBus()
	song := bytes.Repeat([]byte("la "), 10_000)
	// Shared before Run, so that hashing starts at once.
	alice, bob := mustNew(t, testOptions(t, b, "Alice")), mustNew(t, testOptions(t, b, "Bob"))
	shareFile(t, alice, "song.mp3", song)
	shareFile(t, bob, "song.mp3", song)
	shareFile(t, bob, "other song.txt", []byte("another tune"))
	run(t, alice)
	run(t, bob)
	opts := testOptions(t, b, "")
	opts.ClientOnly = true
	me := start(t, opts)
	waitFor(t, "shares hashed and neighbours online", func() bool {
		return hashed(alice) && hashed(bob) && online(me.Engine, alice.ID()) && online(me.Engine, bob.ID())
	})

	res, err := me.Search(context.Background(), "song")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2: %+v", len(res), res)
	}
	if res[0].Entry.Name != "song.mp3" || len(res[0].Peers) != 2 ||
		res[0].Peers[0].ID != alice.ID() || res[0].Peers[1].ID != bob.ID() {
		t.Errorf("first result %+v, want song.mp3 from Alice and Bob", res[0])
	}
	if res[1].Entry.Name != "other song.txt" || len(res[1].Peers) != 1 || res[1].Peers[0].ID != bob.ID() {
		t.Errorf("second result %+v, want other song.txt from Bob", res[1])
	}

	// As the answers come in: one report per neighbour, growing, the last
	// one the final result.
	var reports [][]SearchResult
	final, err := me.SearchEach(context.Background(), "song", func(r []SearchResult, done, asked int) {
		if asked != 2 || done != len(reports)+1 {
			t.Errorf("report %d says %d of %d done", len(reports)+1, done, asked)
		}
		reports = append(reports, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Which holder's copy stands for a result depends on who answered
	// first; names and holders do not.
	summary := func(rs []SearchResult) []string {
		var out []string
		for _, r := range rs {
			ids := []string{r.Entry.Name}
			for _, p := range r.Peers {
				ids = append(ids, p.ID)
			}
			out = append(out, strings.Join(ids, " "))
		}
		return out
	}
	if len(reports) != 2 || len(reports[0]) == 0 || !reflect.DeepEqual(reports[1], final) ||
		!slices.Equal(summary(final), summary(res)) {
		t.Errorf("reports %v, final %v, want two reports ending in %v", reports, summary(final), summary(res))
	}
}

// hashed reports whether every share of e has a content id.
func hashed(e *Engine) bool {
	for _, s := range e.Shares() {
		if s.HashedBytes != s.Bytes {
			return false
		}
	}
	return true
}

// A file two neighbours share is drawn from both: the copy is identical and
// the download reports two sources.
func TestGetDrawsFromEveryHolder(t *testing.T) {
	b := newBus()
	data := make([]byte, 8*share.BlockSize+1234)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	holders := make([]*runner, 2)
	for i, name := range []string{"Alice", "Bob"} {
		opts := testOptions(t, b, name)
		// Slow uploads leave time for the second holder to join in.
		opts.MaxUpload = 4 << 20
		e := mustNew(t, opts)
		shareFile(t, e, "film.bin", data)
		holders[i] = run(t, e)
	}
	opts := testOptions(t, b, "")
	opts.ClientOnly = true
	me := start(t, opts)
	waitFor(t, "both holders hashed and online", func() bool {
		return hashed(holders[0].Engine) && hashed(holders[1].Engine) &&
			online(me.Engine, holders[0].ID()) && online(me.Engine, holders[1].ID())
	})

	dir := t.TempDir()
	maxSources := 0
	res, err := me.Get(context.Background(), holders[0].ID(), "film.bin", dir, func(p GetProgress) {
		maxSources = max(maxSources, p.Sources)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "film.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the downloaded file differs from the shared one")
	}
	if res.Sources < 2 || maxSources < 2 {
		t.Errorf("drawn from %d sources (progress said at most %d), want 2", res.Sources, maxSources)
	}
	if res.Files != 1 || res.Bytes != int64(len(data)) {
		t.Errorf("result %+v, want one file of %d bytes", res, len(data))
	}
}

// A neighbour's index version reaches the others through its info, and
// moves when what it shares changes: a file written into a shared folder
// (seen through change notifications) is told with a PeerUpdated event.
func TestIndexVersionFollowsShares(t *testing.T) {
	b := newBus()
	me := start(t, testOptions(t, b, "Me"))
	alice := start(t, testOptions(t, b, "Alice"))
	dir := t.TempDir()
	writeFile(t, dir, "one.txt", []byte("1"))
	if _, err := alice.AddShares(dir); err != nil {
		t.Fatal(err)
	}
	index := func() uint64 {
		p, ok := me.peers.get(alice.ID())
		if !ok || !p.Online {
			return 0
		}
		return p.Index
	}
	waitFor(t, "alice's index version seen", func() bool {
		return index() != 0 && index() == alice.lib.Version()
	})
	before := index()
	moved := make(chan PeerInfo, 8)
	defer me.Subscribe(func(ev Event) {
		if ev.Kind == PeerUpdated && ev.Peer.ID == alice.ID() && ev.Peer.Index != before {
			select {
			case moved <- ev.Peer:
			default:
			}
		}
	})()
	writeFile(t, dir, "two.txt", []byte("22"))
	waitFor(t, "a PeerUpdated with a new index version", func() bool { return len(moved) > 0 })
	p := <-moved
	entries, err := me.List(t.Context(), alice.ID(), filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("after version %d → %d, alice lists %d entries, want 2", before, p.Index, len(entries))
	}
}

// A neighbour added by address is remembered: after a restart, without
// being given again, it is reached at the address where it answered last,
// and when it calls from another address its remembered address follows.
func TestNeighbourByAddressRemembered(t *testing.T) {
	alone := newBus() // nobody hears anybody: only addresses connect them
	aliceOpts := testOptions(t, alone, "Alice")
	alice := start(t, aliceOpts)
	meOpts := testOptions(t, newBus(), "Me")
	me := start(t, meOpts)
	if _, err := me.AddPeer(context.Background(), alice.Addr()); err != nil {
		t.Fatal(err)
	}
	me.stop(t)

	again := start(t, Options{DataDir: meOpts.DataDir, Name: "Me", Listen: "127.0.0.1:0", DownloadDir: meOpts.DownloadDir,
		Discovery: newBus().join, probes: fastProbes})
	waitFor(t, "alice reached again from what was remembered", func() bool { return online(again.Engine, alice.ID()) })
	if r := again.rememberedNeighbours(); len(r) != 1 || r[0].ID != alice.ID() || r[0].Addr != alice.Addr() {
		t.Fatalf("remembered %+v, want alice at %s", r, alice.Addr())
	}

	// Alice comes back on another port and calls: the remembered address moves.
	alice.stop(t)
	moved := start(t, Options{DataDir: aliceOpts.DataDir, Name: "Alice", Listen: "127.0.0.1:0", DownloadDir: aliceOpts.DownloadDir,
		Discovery: newBus().join, probes: fastProbes})
	if _, err := moved.AddPeer(context.Background(), again.Addr()); err != nil {
		t.Fatal(err)
	}
	if !wait.For(20*time.Second, func() bool {
		r := again.rememberedNeighbours()
		return len(r) == 1 && r[0].Addr == moved.Addr()
	}) {
		t.Fatalf("remembered %+v, peers %+v; alice now at %s", again.rememberedNeighbours(), again.Peers(), moved.Addr())
	}
}

// sameIDNewKey starts an engine with the id of the one made with opts, from a
// fresh data folder, so with another key: a reinstalled machine, or one
// pretending to be it.
func sameIDNewKey(t *testing.T, b *bus, opts Options, name string) *runner {
	t.Helper()
	id, err := os.ReadFile(filepath.Join(opts.DataDir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	again := testOptions(t, b, name)
	if err := os.WriteFile(filepath.Join(again.DataDir, "identity.json"), id, 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, again)
}
