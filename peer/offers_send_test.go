package peer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/peer/wire"
	"porch/share"
)

// sendItems writes a file and a folder (small files and one of several
// blocks) and returns their paths and contents by destination path.
func sendItems(t *testing.T) ([]string, map[string][]byte) {
	t.Helper()
	src := t.TempDir()
	big := make([]byte, 3*share.BlockSize+77)
	rand.NewChaCha8([32]byte{7}).Read(big)
	want := map[string][]byte{
		"notes.txt":            []byte("remember the milk\n"),
		"album/01.txt":         []byte("one"),
		"album/cd2/02.txt":     []byte("two"),
		"album/cd2/film.bin":   big,
		"album/cd2/empty.file": {},
	}
	for p, data := range want {
		writeFile(t, src, p, data)
	}
	return []string{filepath.Join(src, "notes.txt"), filepath.Join(src, "album")}, want
}

// checkReceived fails unless dir holds exactly want.
func checkReceived(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		got[filepath.ToSlash(rel)] = b
		return nil
	})
	if len(got) != len(want) {
		names := []string{}
		for n := range got {
			names = append(names, n)
		}
		t.Fatalf("received %d files (%s), want %d", len(got), strings.Join(names, ", "), len(want))
	}
	for p, data := range want {
		if !bytes.Equal(got[p], data) {
			t.Errorf("%s: received %d bytes that differ from the %d sent", p, len(got[p]), len(data))
		}
	}
}

// pair starts a sender and a receiver that see each other; the receiver's
// options are changed by recv first.
func pairOfEngines(t *testing.T, b *bus, sendOpts func(*Options), recv func(*Options)) (alice, bob *runner) {
	t.Helper()
	ao := testOptions(t, b, "Alice")
	if sendOpts != nil {
		sendOpts(&ao)
	}
	bo := testOptions(t, b, "Bob")
	if recv != nil {
		recv(&bo)
	}
	alice, bob = start(t, ao), start(t, bo)
	waitFor(t, "both online", func() bool {
		return online(alice.Engine, bob.ID()) && (ao.ClientOnly || online(bob.Engine, alice.ID()))
	})
	return alice, bob
}

// An accepted offer arrives whole and verified in the receiver's download
// folder, from a serving engine and from a browse-only one (the command
// line) alike; both sides report it done.
func TestSendAcceptedArrives(t *testing.T) {
	for _, clientOnly := range []bool{false, true} {
		name := "serving"
		if clientOnly {
			name = "browse-only"
		}
		t.Run(name, func(t *testing.T) {
			b := newBus()
			alice, bob := pairOfEngines(t, b, func(o *Options) { o.ClientOnly = clientOnly },
				func(o *Options) { o.Accept = AcceptAll })
			paths, want := sendItems(t)
			var states []OfferState
			res, err := alice.Send(context.Background(), bob.ID(), paths, func(p SendProgress) {
				if len(states) == 0 || states[len(states)-1] != p.State {
					states = append(states, p.State)
				}
			})
			if err != nil {
				t.Fatalf("Send: %v (states %v)", err, states)
			}
			if res.Items != 2 || res.Files != 5 || res.Peer != "Bob" {
				t.Errorf("result %+v", res)
			}
			if states[len(states)-1] != OfferDone {
				t.Errorf("states seen %v, want them to end with done", states)
			}
			checkReceived(t, bob.Settings().DownloadDir, want)
			offers := bob.Offers()
			if len(offers) != 1 || offers[0].State != OfferDone || offers[0].From.Name != "Alice" || offers[0].Done != offers[0].Bytes {
				t.Errorf("bob's offers: %+v", offers)
			}
			if entries, _ := os.ReadDir(filepath.Join(alice.opts.DataDir, outgoingDir)); len(entries) != 0 {
				t.Errorf("the sender kept %d outgoing libraries", len(entries))
			}
		})
	}
}

// Declined, not trusted, or nobody to ask: nothing arrives and Send says
// why.
func TestSendRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy AcceptPolicy
		want   string
	}{
		{"none", AcceptNone, "accepts no offers"},
		{"trusted, untrusted sender", AcceptTrusted, "trusted neighbours only"},
		{"ask without a window", AcceptAsk, "nobody is at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus()
			alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Accept = tc.policy })
			paths, _ := sendItems(t)
			_, err := alice.Send(context.Background(), bob.ID(), paths, nil)
			if !errors.Is(err, ErrOfferRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send: %v, want refused with %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(bob.Settings().DownloadDir); len(entries) != 0 {
				t.Errorf("%d entries arrived anyway", len(entries))
			}
		})
	}
}

// Under "trusted", a sender the receiver trusts is accepted.
func TestSendTrustedAccepted(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Accept = AcceptTrusted })
	if err := bob.Trust(alice.ID()); err != nil {
		t.Fatal(err)
	}
	paths, want := sendItems(t)
	if _, err := alice.Send(context.Background(), bob.ID(), paths, nil); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, bob.Settings().DownloadDir, want)
	if o := bob.Offers()[0]; !o.From.Trusted {
		t.Errorf("the offer says the sender is not trusted: %+v", o.From)
	}
}

// pendingOffer starts sending paths from alice to bob, whose window asks,
// and returns the offer as bob sees it, its token, and the channel Send's
// error arrives on.
func pendingOffer(t *testing.T, alice, bob *runner, ctx context.Context, paths []string) (Offer, string, <-chan error) {
	t.Helper()
	events, cancel := offerEvents(bob.Engine)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := alice.Send(ctx, bob.ID(), paths, nil)
		done <- err
	}()
	var o Offer
	select {
	case o = <-events:
	case err := <-done:
		t.Fatalf("Send ended before the offer was shown: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the offer was never shown")
	}
	if o.State != OfferPending {
		t.Fatalf("the offer is %s", o.State)
	}
	bob.offers.mu.Lock()
	tok := bob.offers.byID[o.ID].token
	bob.offers.mu.Unlock()
	return o, tok, done
}

// The window's user sees who offers what and how big, and accepts.
func TestSendAskAccepted(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Prompt = true })
	paths, want := sendItems(t)
	o, _, done := pendingOffer(t, alice, bob, context.Background(), paths)
	if o.From.Name != "Alice" || o.From.ID != alice.ID() || len(o.Items) != 2 || o.Files != 5 || o.Bytes != 3*share.BlockSize+77+18+3+3 {
		t.Errorf("the offer shows %+v", o)
	}
	if err := bob.AcceptOffer(o.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkReceived(t, bob.Settings().DownloadDir, want)
}

// What is offered is served to the receiver only, under the offer's scope
// only, while the offer lives: not in the sender's listing or search for
// anyone, not to a third neighbour, and nothing beyond the offered items.
func TestSendGrantScope(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Prompt = true })
	shareFile(t, alice.Engine, "public.txt", []byte("everyone may read this"))
	carol := start(t, testOptions(t, b, "Carol"))
	waitFor(t, "carol sees alice", func() bool { return online(carol.Engine, alice.ID()) && hashed(alice.Engine) })
	paths, _ := sendItems(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, tok, done := pendingOffer(t, alice, bob, ctx, paths)

	for _, who := range []*runner{bob, carol} {
		top, err := who.List(ctx, alice.ID(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 1 || top[0].Name != "public.txt" {
			t.Errorf("%s lists alice's top as %+v, want public.txt alone", who.Name(), top)
		}
		if _, err := who.List(ctx, alice.ID(), "album"); err == nil {
			t.Errorf("%s can list the offered album among alice's shares", who.Name())
		}
		found, err := who.Search(ctx, "album")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 0 {
			t.Errorf("%s finds %+v on alice", who.Name(), found)
		}
	}

	scoped := func(e *runner) *wire.Client {
		return wire.NewClient(e.id, nil, wire.Remote{ID: alice.ID(), Fingerprint: alice.id.Fingerprint,
			Addrs: []string{alice.Addr()}, Scope: wire.OfferedScope(tok)})
	}
	var offered []share.Entry
	if err := scoped(bob).Tree(ctx, "album", func(en share.Entry) error { offered = append(offered, en); return nil }); err != nil {
		t.Fatalf("bob cannot list the offer: %v", err)
	}
	if len(offered) != 6 {
		t.Errorf("the offered album lists %d entries, want 6", len(offered))
	}
	public, err := bob.List(ctx, alice.ID(), "public.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scoped(bob).Hashes(ctx, public[0].ContentID); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("bob fetches a file that is not in the offer under its scope: %v", err)
	}
	if _, err := scoped(bob).List(ctx, "public.txt"); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("bob lists a file that is not in the offer under its scope: %v", err)
	}
	// A file on alice's disk, next to what she offers, neither shared nor offered.
	secret := []byte("alice's diary, shared with nobody")
	writeFile(t, filepath.Dir(paths[0]), "diary.txt", secret)
	h, err := share.HashReader(bytes.NewReader(secret), make([]byte, share.BlockSize))
	if err != nil {
		t.Fatal(err)
	}
	if err := scoped(bob).ReadRange(ctx, h.ContentID(), 0, make([]byte, 5)); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("bob reads an unshared file beside the offer: %v", err)
	}
	if _, err := scoped(bob).List(ctx, "album/../diary.txt"); !errors.Is(err, wire.ErrBadRequest) {
		t.Errorf("bob lists a path out of the offer: %v", err)
	}
	if err := scoped(carol).Tree(ctx, "album", func(share.Entry) error { return nil }); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("carol lists the offer made to bob: %v", err)
	}
	var bigCID string
	for _, en := range offered {
		if en.Name == "film.bin" {
			bigCID = en.ContentID
		}
	}
	if err := scoped(carol).ReadRange(ctx, bigCID, 0, make([]byte, 10)); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("carol reads offered bytes: %v", err)
	}
	if has, _ := alice.clientFor(t, carol).Has(ctx, []string{bigCID}); len(has) != 0 {
		t.Errorf("alice says she holds offered content to carol: %v", has)
	}

	// The sender withdraws: the receiver's prompt goes and the grant ends.
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Send after its context ended: %v", err)
	}
	waitFor(t, "bob's offer cancelled", func() bool { return bob.Offers()[0].State == OfferCancelled })
	if err := bob.AcceptOffer(o.ID); !errors.Is(err, ErrOfferDecided) {
		t.Errorf("accepting a withdrawn offer: %v", err)
	}
	if err := scoped(bob).Tree(context.Background(), "album", func(share.Entry) error { return nil }); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("bob lists the offer after it was withdrawn: %v", err)
	}
}

// clientFor is a plain client from who to e.
func (e *runner) clientFor(t *testing.T, who *runner) *wire.Client {
	t.Helper()
	return wire.NewClient(who.id, nil, wire.Remote{ID: e.ID(), Fingerprint: e.id.Fingerprint, Addrs: []string{e.Addr()}})
}

// An offer nobody answers expires on the receiver's clock; the sender hears
// so.
func TestSendExpires(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Prompt = true })
	c := newFakeClock()
	bob.offers.clock = c
	paths, _ := sendItems(t)
	_, _, done := pendingOffer(t, alice, bob, context.Background(), paths)
	c.Advance(OfferTTL)
	err := <-done
	if !errors.Is(err, ErrOfferRefused) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Send of an unanswered offer: %v", err)
	}
}

// The offer wire refuses what a hostile sender might claim.
func TestOfferRequestChecked(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Accept = AcceptAll })
	c := bob.clientFor(t, alice)
	good := func() wire.OfferRequest {
		return wire.OfferRequest{ID: newOfferID(), From: wire.Info{ID: alice.ID(), Name: "Alice", Fingerprint: alice.id.Fingerprint, Port: 1},
			Items: []wire.OfferItem{{Name: "a.txt", Size: 3}}, Files: 1, Bytes: 3}
	}
	for name, f := range map[string]func(*wire.OfferRequest){
		"bad token":       func(r *wire.OfferRequest) { r.ID = "../../x" },
		"someone's fp":    func(r *wire.OfferRequest) { r.From.Fingerprint = bob.id.Fingerprint },
		"bad id":          func(r *wire.OfferRequest) { r.From.ID = "alice" },
		"no port":         func(r *wire.OfferRequest) { r.From.Port = 0 },
		"no items":        func(r *wire.OfferRequest) { r.Items, r.Files, r.Bytes = nil, 0, 0 },
		"a path":          func(r *wire.OfferRequest) { r.Items[0].Name = "../a.txt" },
		"lying totals":    func(r *wire.OfferRequest) { r.Bytes = 1 },
		"negative":        func(r *wire.OfferRequest) { r.Items[0].Size, r.Bytes = -3, -3 },
		"file of 2 files": func(r *wire.OfferRequest) { r.Items[0].Files, r.Files = 2, 2 },
		"twice": func(r *wire.OfferRequest) {
			r.Items = append(r.Items, wire.OfferItem{Name: "A.TXT", Size: 3})
			r.Files, r.Bytes = 2, 6
		},
	} {
		req := good()
		f(&req)
		if _, err := c.Offer(context.Background(), req); !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
	if n := len(bob.Offers()); n != 0 {
		t.Errorf("%d bad offers were filed", n)
	}
	// A good offer whose sender serves nothing: accepted, then failed.
	st, err := c.Offer(context.Background(), good())
	if err != nil || st.State != "pending" && st.State != "accepted" && st.State != "failed" {
		t.Fatalf("a good offer: %+v, %v", st, err)
	}
	waitFor(t, "the offer failed", func() bool { o := bob.Offers(); return len(o) == 1 && o[0].State == OfferFailed })
	if entries, _ := os.ReadDir(bob.Settings().DownloadDir); len(entries) != 0 {
		t.Errorf("%d entries arrived", len(entries))
	}
}

// An accepted offer is drawn from every neighbour that holds the same
// content too, not from the sender alone.
func TestSendDrawsFromEveryHolder(t *testing.T) {
	b := newBus()
	data := make([]byte, 8*share.BlockSize+99)
	rand.NewChaCha8([32]byte{9}).Read(data)
	src := writeFile(t, t.TempDir(), "film.bin", data)
	// Slow uploads leave time for the second holder to join in.
	alice, bob := pairOfEngines(t, b, func(o *Options) { o.MaxUpload = 4 << 20 }, func(o *Options) { o.Accept = AcceptAll })
	co := testOptions(t, b, "Carol")
	co.MaxUpload = 4 << 20
	ce := mustNew(t, co)
	shareFile(t, ce, "copy.bin", data)
	carol := run(t, ce)
	waitFor(t, "bob sees carol's copy", func() bool { return hashed(carol.Engine) && online(bob.Engine, carol.ID()) })
	if _, err := alice.Send(context.Background(), bob.ID(), []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, bob.Settings().DownloadDir, map[string][]byte{"film.bin": data})
	if o := bob.Offers()[0]; o.Sources < 2 {
		t.Errorf("drawn from %d sources, want 2 (alice and carol)", o.Sources)
	}
}

// The same items sent again are recognised as present: nothing is fetched
// twice and nothing gets a "(1)" copy.
func TestSendTwiceKeepsOneCopy(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Accept = AcceptAll })
	paths, want := sendItems(t)
	for range 2 {
		if _, err := alice.Send(context.Background(), bob.ID(), paths, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkReceived(t, bob.Settings().DownloadDir, want)
	if o := bob.Offers(); len(o) != 2 || o[1].State != OfferDone || o[1].Done != o[1].Bytes {
		t.Errorf("the second offer: %+v", o)
	}
}

// A receiver with offers waiting from this sender already says it is busy,
// and Send says so.
func TestSendToBusyReceiver(t *testing.T) {
	b := newBus()
	alice, bob := pairOfEngines(t, b, nil, func(o *Options) { o.Prompt = true })
	paths, _ := sendItems(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dones []<-chan error
	for range maxPendingPerSender {
		_, _, done := pendingOffer(t, alice, bob, ctx, paths)
		dones = append(dones, done)
	}
	_, err := alice.Send(context.Background(), bob.ID(), paths, nil)
	if !errors.Is(err, ErrOfferRefused) || !strings.Contains(err.Error(), "too many offers") {
		t.Errorf("offer %d while %d wait: %v", maxPendingPerSender+1, maxPendingPerSender, err)
	}
	cancel()
	for _, d := range dones {
		<-d
	}
}

// A send withdrawn while the receiver fetches leaves its verified part; the
// same file sent again resumes from there and arrives whole.
func TestSendResumesAfterWithdrawal(t *testing.T) {
	b := newBus()
	data := make([]byte, 12*share.BlockSize+5)
	rand.NewChaCha8([32]byte{5}).Read(data)
	src := writeFile(t, t.TempDir(), "film.bin", data)
	// A slow upload leaves time to withdraw in the middle.
	alice, bob := pairOfEngines(t, b, func(o *Options) { o.MaxUpload = 4 << 20 }, func(o *Options) { o.Accept = AcceptAll })
	events, cancelEv := offerEvents(bob.Engine)
	defer cancelEv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := alice.Send(ctx, bob.ID(), []string{src}, nil); done <- err }()
	var first Offer
	for first.Done < 3*share.BlockSize {
		first = <-events
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the withdrawn send: %v", err)
	}
	waitFor(t, "bob's fetch stopped", func() bool { return bob.Offers()[0].State == OfferCancelled })
	if _, err := os.Stat(filepath.Join(bob.Settings().DownloadDir, "film.bin")); err == nil {
		t.Fatal("a withdrawn file got its final name")
	}

	resumedAt := int64(-1)
	go func() { _, err := alice.Send(context.Background(), bob.ID(), []string{src}, nil); done <- err }()
	for {
		o := <-events
		if o.ID == first.ID {
			continue
		}
		if resumedAt < 0 && o.State == OfferAccepted && o.Done > 0 {
			resumedAt = o.Done
		}
		if o.State.Final() {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkReceived(t, bob.Settings().DownloadDir, map[string][]byte{"film.bin": data})
	if resumedAt < 2*share.BlockSize {
		t.Errorf("the second send started at %d bytes, want the %d verified before", resumedAt, 2*share.BlockSize)
	}
}
