package peer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/peer/wire"
)

// fakeClock is a clock that moves only when told to. mu guards it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	return ch, func() {}
}

// Advance moves the clock on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
}

// offerEngine is an engine that is not running, for deciding offers.
func offerEngine(t *testing.T, opts Options) (*Engine, *fakeClock) {
	t.Helper()
	opts.DataDir = t.TempDir()
	opts.Listen = "127.0.0.1:0"
	opts.Discovery = newBus().join
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := newFakeClock()
	e.offers.clock = c
	return e, c
}

func sampleOffer(from string, trusted bool) Offer {
	return Offer{
		From:  OfferSender{ID: from, Name: "Alice", Kind: SenderPorch, Fingerprint: "fp-" + from, Trusted: trusted},
		Items: []OfferItem{{Name: "notes.txt", Size: 10}, {Name: "album", Size: 300, Dir: true, Files: 3}},
	}
}

// offerEvents collects OfferUpdated events.
func offerEvents(e *Engine) (<-chan Offer, func()) {
	ch := make(chan Offer, 1024)
	cancel := e.Subscribe(func(ev Event) {
		if ev.Kind == OfferUpdated {
			ch <- ev.Offer
		}
	})
	return ch, cancel
}

func waitPending(t *testing.T, ch <-chan Offer) Offer {
	t.Helper()
	for {
		select {
		case o := <-ch:
			if o.State == OfferPending {
				return o
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no pending offer was shown")
		}
	}
}

// Every policy decides every sender as the table says; ask waits only where
// a window can answer.
func TestOfferPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  AcceptPolicy
		prompt  bool
		trusted bool
		want    OfferState
	}{
		{AcceptNone, false, true, OfferDeclined},
		{AcceptNone, true, false, OfferDeclined},
		{AcceptAll, false, false, OfferAccepted},
		{AcceptAll, false, true, OfferAccepted},
		{AcceptTrusted, false, true, OfferAccepted},
		{AcceptTrusted, false, false, OfferDeclined},
		{AcceptAsk, false, true, OfferDeclined}, // nobody to ask
	} {
		name := string(tc.policy)
		if tc.prompt {
			name += "/window"
		}
		if tc.trusted {
			name += "/trusted"
		}
		t.Run(name, func(t *testing.T) {
			e, _ := offerEngine(t, Options{Accept: tc.policy, Prompt: tc.prompt})
			o := sampleOffer("a", tc.trusted)
			ok, err := e.decideOffer(context.Background(), &o, "t1")
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tc.want == OfferAccepted) || o.State != tc.want {
				t.Fatalf("decided %v, state %s (%s); want %s", ok, o.State, o.Reason, tc.want)
			}
			if o.Files != 4 || o.Bytes != 310 {
				t.Errorf("totals %d files, %d bytes; want 4, 310", o.Files, o.Bytes)
			}
			got := e.Offers()
			if len(got) != 1 || got[0].ID != o.ID || got[0].State != tc.want {
				t.Errorf("Offers() = %+v", got)
			}
		})
	}
}

// The default policy is ask in the window and none elsewhere; a saved policy
// outlives a restart and Options.Accept wins for one run.
func TestOfferPolicyDefaultsAndSettings(t *testing.T) {
	e, _ := offerEngine(t, Options{})
	if p := e.AcceptPolicy(); p != AcceptNone {
		t.Errorf("without a window the policy is %s, want none", p)
	}
	w, _ := offerEngine(t, Options{Prompt: true})
	if p := w.AcceptPolicy(); p != AcceptAsk {
		t.Errorf("in the window the policy is %s, want ask", p)
	}
	s := w.Settings()
	s.Accept = "sometimes"
	if err := w.SetSettings(s); !errors.Is(err, ErrSettings) {
		t.Errorf("SetSettings with policy %q: %v, want ErrSettings", s.Accept, err)
	}
	for _, in := range []string{"ask", "Trusted", " all ", "none"} {
		if _, err := ParseAcceptPolicy(in); err != nil {
			t.Errorf("ParseAcceptPolicy(%q): %v", in, err)
		}
	}
	if _, err := ParseAcceptPolicy("yes"); err == nil {
		t.Error("ParseAcceptPolicy(yes) succeeded")
	}

	dir := t.TempDir()
	b := newBus()
	e1, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join})
	if err != nil {
		t.Fatal(err)
	}
	s = e1.Settings()
	s.Accept = AcceptTrusted
	if err := e1.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	e1.Close()
	e2, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join})
	if err != nil {
		t.Fatal(err)
	}
	if p := e2.AcceptPolicy(); p != AcceptTrusted {
		t.Errorf("after a restart the policy is %s, want the saved trusted", p)
	}
	e2.Close()
	e3, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join, Accept: AcceptAll})
	if err != nil {
		t.Fatal(err)
	}
	if p := e3.AcceptPolicy(); p != AcceptAll {
		t.Errorf("with Options.Accept all the policy is %s", p)
	}
	e3.Close()
}

// Under ask the user's answer decides; a second answer is refused.
func TestOfferAskAnswered(t *testing.T) {
	for _, yes := range []bool{true, false} {
		e, _ := offerEngine(t, Options{Prompt: true})
		events, cancel := offerEvents(e)
		defer cancel()
		type result struct {
			ok  bool
			err error
			o   Offer
		}
		done := make(chan result, 1)
		go func() {
			o := sampleOffer("a", false)
			ok, err := e.decideOffer(context.Background(), &o, "t1")
			done <- result{ok, err, o}
		}()
		p := waitPending(t, events)
		if p.From.Name != "Alice" || len(p.Items) != 2 || p.Bytes != 310 {
			t.Errorf("the pending offer shows %+v", p)
		}
		answer := e.DeclineOffer
		if yes {
			answer = e.AcceptOffer
		}
		if err := answer(p.ID); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.ok != yes {
			t.Fatalf("answered %v: decided %v, %v", yes, r.ok, r.err)
		}
		if err := e.AcceptOffer(p.ID); !errors.Is(err, ErrOfferDecided) {
			t.Errorf("a second answer: %v, want ErrOfferDecided", err)
		}
	}
	e, _ := offerEngine(t, Options{Prompt: true})
	if err := e.AcceptOffer("nope"); !errors.Is(err, ErrNoOffer) {
		t.Errorf("answering an unknown offer: %v", err)
	}
}

// An offer nobody answers expires after OfferTTL on the engine's clock, not
// a moment before.
func TestOfferExpires(t *testing.T) {
	e, c := offerEngine(t, Options{Prompt: true})
	events, cancel := offerEvents(e)
	defer cancel()
	done := make(chan Offer, 1)
	go func() {
		o := sampleOffer("a", true)
		if ok, err := e.decideOffer(context.Background(), &o, "t1"); ok || err != nil {
			t.Errorf("an unanswered offer: decided %v, %v", ok, err)
		}
		done <- o
	}()
	p := waitPending(t, events)
	if !p.Expires.Equal(p.Received.Add(OfferTTL)) {
		t.Errorf("expires %v, received %v", p.Expires, p.Received)
	}
	c.Advance(OfferTTL - time.Second)
	select {
	case o := <-done:
		t.Fatalf("the offer ended before its time: %s", o.State)
	default:
	}
	if got := e.Offers(); got[0].State != OfferPending {
		t.Fatalf("a second before expiry the offer is %s", got[0].State)
	}
	c.Advance(time.Second)
	o := <-done
	if o.State != OfferExpired {
		t.Fatalf("after OfferTTL the offer is %s (%s)", o.State, o.Reason)
	}
	if err := e.AcceptOffer(o.ID); !errors.Is(err, ErrOfferDecided) {
		t.Errorf("accepting an expired offer: %v", err)
	}
}

// The sender withdrawing (its context ending) cancels a pending offer.
func TestOfferCancelledBySender(t *testing.T) {
	e, _ := offerEngine(t, Options{Prompt: true})
	events, cancelEv := offerEvents(e)
	defer cancelEv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		o := sampleOffer("a", true)
		_, err := e.decideOffer(ctx, &o, "t1")
		done <- err
	}()
	p := waitPending(t, events)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("decideOffer after the sender withdrew: %v", err)
	}
	if got := e.Offers(); got[0].ID != p.ID || got[0].State != OfferCancelled {
		t.Errorf("after the sender withdrew: %+v", got[0])
	}
}

// Offers over the bounds are refused before anyone is asked: bad names,
// duplicates, sizes, too many items, and too many pending offers in all and
// from one sender.
func TestOfferBounds(t *testing.T) {
	e, _ := offerEngine(t, Options{Prompt: true})
	many := make([]OfferItem, wire.MaxOfferItems+1)
	for i := range many {
		many[i] = OfferItem{Name: "f" + strings.Repeat("x", i%200) + string(rune('a'+i%26)) + time.Duration(i).String()}
	}
	for name, items := range map[string][]OfferItem{
		"nothing":        nil,
		"a path":         {{Name: "../etc/passwd", Size: 1}},
		"a separator":    {{Name: "a/b", Size: 1}},
		"a control char": {{Name: "a\x07b", Size: 1}},
		"a partial":      {{Name: "x.partial", Size: 1}},
		"twice":          {{Name: "Notes.txt", Size: 1}, {Name: "notes.TXT", Size: 2}},
		"twice in NFC":   {{Name: "caf\u00e9", Size: 1}, {Name: "cafe\u0301", Size: 2}},
		"negative":       {{Name: "a", Size: -1}},
		"huge":           {{Name: "a", Size: wire.MaxOfferBytes + 1}},
		"sum too big":    {{Name: "a", Size: wire.MaxOfferBytes}, {Name: "b", Size: 1}},
		"too many files": {{Name: "a", Dir: true, Files: wire.MaxOfferFiles + 1}},
		"too many items": many,
	} {
		o := Offer{From: OfferSender{ID: "x", Name: "X", Kind: SenderPorch}, Items: items}
		if _, err := e.decideOffer(context.Background(), &o, "t"); !errors.Is(err, ErrBadOffer) {
			t.Errorf("%s: %v, want ErrBadOffer", name, err)
		}
	}
	if n := len(e.Offers()); n != 0 {
		t.Fatalf("%d refused offers were kept", n)
	}

	events, cancelEv := offerEvents(e)
	defer cancelEv()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	pend := func(from string) {
		wg.Go(func() {
			o := sampleOffer(from, false)
			e.decideOffer(ctx, &o, "t")
		})
		waitPending(t, events)
	}
	for range maxPendingPerSender {
		pend("a")
	}
	o := sampleOffer("a", false)
	if _, err := e.decideOffer(ctx, &o, "t"); !errors.Is(err, ErrOfferBusy) {
		t.Errorf("offer %d from one sender: %v, want ErrOfferBusy", maxPendingPerSender+1, err)
	}
	for i := maxPendingPerSender; i < maxPendingOffers; i++ {
		pend(string(rune('b' + i)))
	}
	o = sampleOffer("z", false)
	if _, err := e.decideOffer(ctx, &o, "t"); !errors.Is(err, ErrOfferBusy) {
		t.Errorf("offer %d in all: %v, want ErrOfferBusy", maxPendingOffers+1, err)
	}
}

// A sender's name is made fit for a dialog.
func TestCleanSenderName(t *testing.T) {
	for in, want := range map[string]string{
		"Alice's laptop":        "Alice's laptop",
		"  a\x1b[31mred\n ":     "a[31mred",
		"":                      "unnamed sender",
		strings.Repeat("é", 99): strings.Repeat("é", 64) + "…",
		"bad\xffutf8":           "bad\uFFFDutf8",
	} {
		if got := cleanSenderName(in); got != want {
			t.Errorf("cleanSenderName(%q) = %q, want %q", in, got, want)
		}
	}
}
