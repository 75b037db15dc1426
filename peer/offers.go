package peer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"porch/peer/wire"
	"porch/share"
)

// Offers are files and folders another machine wants to send to this one:
// a Porch neighbour (see offers_recv.go) or a LocalSend sender. Whatever
// brings an offer in, it is decided here, by one policy and one prompt.

// OfferTTL is how long an offer waits for the user's answer before it
// expires (and is declined).
const OfferTTL = 10 * time.Minute

// Bounds on the offers this machine holds. An offer over a bound is refused
// before anyone is asked.
const (
	maxPendingOffers    = 16 // waiting for an answer, from every sender together
	maxPendingPerSender = 3  // waiting for an answer, from one sender
	maxKeptOffers       = 64 // decided offers kept for Offers() and the senders' status questions
	maxOfferNameBytes   = 128
)

// Offer errors.
var (
	// ErrNoOffer is returned for an offer id this machine does not hold.
	ErrNoOffer = errors.New("no such offer")
	// ErrOfferDecided is returned when answering an offer that is no longer
	// waiting for an answer.
	ErrOfferDecided = errors.New("the offer was already decided")
	// ErrBadOffer is wrapped by the error for an offer that breaks the
	// bounds on items, names, counts or sizes.
	ErrBadOffer = errors.New("bad offer")
	// ErrOfferBusy is wrapped by the error for an offer refused because too
	// many are waiting for an answer; it is wire.ErrBusy, 503 on the wire.
	ErrOfferBusy = wire.ErrBusy
)

// AcceptPolicy says which offers this machine takes without asking.
type AcceptPolicy string

// The accept policies.
const (
	AcceptAsk     AcceptPolicy = "ask"     // ask the user in the window (no window: decline)
	AcceptTrusted AcceptPolicy = "trusted" // accept from trusted neighbours, decline the rest
	AcceptAll     AcceptPolicy = "all"     // accept every offer
	AcceptNone    AcceptPolicy = "none"    // decline every offer
)

// ParseAcceptPolicy parses "ask", "trusted", "all" or "none".
func ParseAcceptPolicy(s string) (AcceptPolicy, error) {
	switch p := AcceptPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case AcceptAsk, AcceptTrusted, AcceptAll, AcceptNone:
		return p, nil
	}
	return "", fmt.Errorf("%w: accept policy %q: say ask, trusted, all or none", ErrSettings, s)
}

// String returns the policy's name.
func (p AcceptPolicy) String() string { return string(p) }

// SenderKind says which protocol an offer came over.
type SenderKind string

// The kinds of sender.
const (
	SenderPorch     SenderKind = "porch"
	SenderLocalSend SenderKind = "localsend"
)

// OfferSender is who makes an offer.
type OfferSender struct {
	ID          string     // a Porch peer id; for LocalSend, the sender's own id (its fingerprint)
	Name        string     // display name, as the sender gave it (or as this machine knows it)
	Fingerprint string     // the certificate fingerprint the offer came with, if any
	Kind        SenderKind // porch or localsend
	Trusted     bool       // a trusted neighbour with that key; never true for LocalSend, which has no pairing
	Addr        string     // the address the offer came from
}

// OfferItem is one top-level file or folder of an offer.
type OfferItem struct {
	Name  string // a valid name (share.ValidateName), unique in the offer
	Size  int64  // bytes; a folder's total
	Dir   bool
	Files int // a folder's number of files; 1 for a file
}

// OfferState is where an offer is in its life.
type OfferState string

// The states of an offer.
const (
	OfferPending   OfferState = "pending"   // waiting for the user's answer
	OfferAccepted  OfferState = "accepted"  // accepted; the items are being received
	OfferDeclined  OfferState = "declined"  // declined by the user or the policy
	OfferExpired   OfferState = "expired"   // nobody answered within OfferTTL
	OfferCancelled OfferState = "cancelled" // the sender withdrew it, or this machine stopped
	OfferDone      OfferState = "done"      // every item arrived, verified
	OfferFailed    OfferState = "failed"    // receiving stopped on an error
)

// Final reports whether s is an end state.
func (s OfferState) Final() bool {
	return s != OfferPending && s != OfferAccepted
}

// Offer is files and folders a sender wants this machine to receive.
type Offer struct {
	ID       string // this machine's id for the offer
	From     OfferSender
	Items    []OfferItem
	Files    int   // files in all items
	Bytes    int64 // bytes in all items
	Received time.Time
	Expires  time.Time // when a pending offer expires
	State    OfferState
	Reason   string // why it was declined or failed, in words for the user
	Done     int64  // bytes received so far
	Sources  int    // most peers one file was drawn from so far (the sender and others holding the same content)
	Dir      string // the folder accepted items land in
}

// clock is the time source of offer expiry; tests inject a fake one.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a stop
	// function that releases it.
	Timer(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// offerRec is an offer with what deciding it needs.
type offerRec struct {
	Offer
	key    string    // the sender, for the per-sender bound
	answer chan bool // one answer from the user (AcceptOffer, DeclineOffer)
	token  string    // the sender's id for the offer (the Porch wire token)
}

// offerBook holds the offers: the pending ones and the last decided ones.
// mu guards everything in it.
type offerBook struct {
	mu    sync.Mutex
	clock clock
	ttl   time.Duration // OfferTTL, but in a test-only build (fault_porchfault.go)
	byID  map[string]*offerRec
	order []string // ids, oldest first
}

func newOfferBook() *offerBook {
	return &offerBook{clock: realClock{}, ttl: faultOfferTTL(OfferTTL), byID: map[string]*offerRec{}}
}

// newOfferID returns a random id of 32 hex digits.
func newOfferID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// add files o as pending, within the bounds, and returns its record.
func (b *offerBook) add(o Offer, key, token string) (*offerRec, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pending, fromKey := 0, 0
	for _, r := range b.byID {
		if r.State == OfferPending {
			pending++
			if r.key == key {
				fromKey++
			}
		}
	}
	switch {
	case pending >= maxPendingOffers:
		return nil, fmt.Errorf("%w: %d offers are waiting for an answer already", ErrOfferBusy, pending)
	case fromKey >= maxPendingPerSender:
		return nil, fmt.Errorf("%w: %d offers from this sender are waiting for an answer already", ErrOfferBusy, fromKey)
	}
	now := b.clock.Now()
	o.ID, o.Received, o.Expires, o.State = newOfferID(), now, now.Add(b.ttl), OfferPending
	r := &offerRec{Offer: o, key: key, answer: make(chan bool, 1), token: token}
	b.byID[o.ID] = r
	b.order = append(b.order, o.ID)
	b.trimLocked()
	return r, nil
}

// trimLocked forgets the oldest decided offers beyond maxKeptOffers.
func (b *offerBook) trimLocked() {
	decided := 0
	for _, id := range b.order {
		if b.byID[id].State != OfferPending {
			decided++
		}
	}
	keep := b.order[:0]
	for _, id := range b.order {
		if decided > maxKeptOffers && b.byID[id].State.Final() {
			delete(b.byID, id)
			decided--
			continue
		}
		keep = append(keep, id)
	}
	b.order = keep
}

// update changes the record of id under the lock and returns a copy of the
// offer; ok is false when id is gone.
func (b *offerBook) update(id string, f func(r *offerRec)) (o Offer, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.byID[id]
	if !ok {
		return Offer{}, false
	}
	f(r)
	b.trimLocked()
	return r.copy(), true
}

// copyLocked returns a copy of the offer, taking b's lock.
func (r *offerRec) copyLocked(b *offerBook) Offer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return r.copy()
}

func (r *offerRec) copy() Offer {
	o := r.Offer
	o.Items = append([]OfferItem(nil), r.Items...)
	return o
}

// findToken returns a copy of the offer a sender of kind, with certificate
// fingerprint fp, made under its token.
func (b *offerBook) findToken(kind SenderKind, fp, token string) (Offer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.byID {
		if r.From.Kind == kind && r.From.Fingerprint == fp && r.token == token {
			return r.copy(), true
		}
	}
	return Offer{}, false
}

// Offers returns the offers this machine holds, the pending ones and the
// last decided ones, oldest first.
func (e *Engine) Offers() []Offer {
	b := e.offers
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Offer, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, b.byID[id].copy())
	}
	return out
}

// AcceptOffer accepts a pending offer: its items are received into the
// download folder.
func (e *Engine) AcceptOffer(id string) error { return e.answerOffer(id, true) }

// DeclineOffer declines a pending offer.
func (e *Engine) DeclineOffer(id string) error { return e.answerOffer(id, false) }

func (e *Engine) answerOffer(id string, yes bool) error {
	e.offers.mu.Lock()
	defer e.offers.mu.Unlock()
	r, ok := e.offers.byID[id]
	if !ok {
		return fmt.Errorf("%w with id %s", ErrNoOffer, id)
	}
	if r.State != OfferPending {
		return fmt.Errorf("%w (%s)", ErrOfferDecided, r.State)
	}
	select {
	case r.answer <- yes:
		return nil
	default:
		return fmt.Errorf("%w (answered already)", ErrOfferDecided)
	}
}

// AcceptPolicy returns the accept policy in force.
func (e *Engine) AcceptPolicy() AcceptPolicy {
	return e.Settings().Accept
}

// defaultAccept is the policy when none was chosen: ask where a window can
// ask, none elsewhere.
func (e *Engine) defaultAccept() AcceptPolicy {
	if e.opts.Prompt {
		return AcceptAsk
	}
	return AcceptNone
}

// validOffer checks an offer's items against the bounds and fills in its
// totals; it is what every receiver calls on what a sender claims.
func validOffer(o *Offer) error {
	if len(o.Items) == 0 {
		return fmt.Errorf("%w: nothing offered", ErrBadOffer)
	}
	if len(o.Items) > wire.MaxOfferItems {
		return fmt.Errorf("%w: %d items, at most %d", ErrBadOffer, len(o.Items), wire.MaxOfferItems)
	}
	seen := make(map[string]bool, len(o.Items))
	files, bytes := 0, int64(0)
	for i := range o.Items {
		it := &o.Items[i]
		if err := share.ValidateName(it.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOffer, err)
		}
		k := strings.ToLower(norm.NFC.String(it.Name))
		if seen[k] {
			return fmt.Errorf("%w: two items named %s", ErrBadOffer, wire.Quote(it.Name))
		}
		seen[k] = true
		if !it.Dir {
			it.Files = 1
		}
		if it.Size < 0 || it.Files < 0 || it.Size > wire.MaxOfferBytes || it.Files > wire.MaxOfferFiles {
			return fmt.Errorf("%w: %s has an impossible size", ErrBadOffer, wire.Quote(it.Name))
		}
		files += it.Files
		bytes += it.Size
		if files > wire.MaxOfferFiles || bytes > wire.MaxOfferBytes {
			return fmt.Errorf("%w: more than %d files or %d bytes", ErrBadOffer, wire.MaxOfferFiles, int64(wire.MaxOfferBytes))
		}
	}
	o.Files, o.Bytes = files, bytes
	o.From.Name = cleanSenderName(o.From.Name)
	return nil
}

// cleanSenderName makes a name a sender gave fit for a dialog: valid UTF-8,
// no control characters, at most maxOfferNameBytes.
func cleanSenderName(s string) string {
	s = strings.ToValidUTF8(s, "�")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxOfferNameBytes {
		cut := maxOfferNameBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		s = "unnamed sender"
	}
	return s
}

// decideOffer files an offer and decides it by the accept policy: it
// returns true once the offer is accepted, false once it is declined (by
// the policy or the user) or expired. Under "ask" it waits for the user's
// answer (AcceptOffer, DeclineOffer) until the offer expires; without a
// window to ask it declines. It returns an error, and files nothing, for an
// offer over the bounds (wrapping ErrBadOffer or ErrOfferBusy); when ctx
// ends or the engine stops first the offer is cancelled and the error is
// the context's.
//
// o is filled in: its ID, times, totals and state. After true, the receiver
// reports with offerProgress and offerEnded. token is the sender's own id
// for the offer. A receiver that must answer its sender before the decision
// calls fileOffer and then decide instead.
func (e *Engine) decideOffer(ctx context.Context, o *Offer, token string) (bool, error) {
	r, err := e.fileOffer(o, token)
	if err != nil {
		return false, err
	}
	return e.decide(ctx, r, o)
}

// fileOffer validates o and files it as pending (the first half of
// decideOffer); o is filled in.
func (e *Engine) fileOffer(o *Offer, token string) (*offerRec, error) {
	if err := validOffer(o); err != nil {
		return nil, err
	}
	key := string(o.From.Kind) + ":" + o.From.ID + ":" + o.From.Fingerprint
	if o.Dir == "" {
		o.Dir = e.Settings().DownloadDir
	}
	r, err := e.offers.add(*o, key, token)
	if err != nil {
		return nil, err
	}
	*o = r.copy()
	return r, nil
}

// decide applies the policy to a filed offer (the second half of
// decideOffer); o receives the offer as decided.
func (e *Engine) decide(ctx context.Context, r *offerRec, o *Offer) (bool, error) {
	*o = r.copyLocked(e.offers)
	policy := e.AcceptPolicy()
	e.log.Info("offer received", "from", o.From.Name, "kind", o.From.Kind, "items", len(o.Items),
		"files", o.Files, "bytes", o.Bytes, "policy", policy)
	decide := func(st OfferState, why string) bool {
		*o, _ = e.offers.update(o.ID, func(r *offerRec) {
			if r.State == OfferPending {
				r.State, r.Reason = st, why
			}
		})
		e.emit(Event{Kind: OfferUpdated, Offer: *o})
		return o.State == OfferAccepted
	}
	switch policy {
	case AcceptAll:
		return decide(OfferAccepted, "accepted: this computer accepts every offer"), nil
	case AcceptTrusted:
		if o.From.Trusted {
			return decide(OfferAccepted, "accepted: the sender is a trusted neighbour"), nil
		}
		return decide(OfferDeclined, "declined: this computer accepts offers from trusted neighbours only"), nil
	case AcceptAsk:
		if !e.opts.Prompt {
			return decide(OfferDeclined, "declined: nobody is at this computer's window to answer"), nil
		}
	default:
		return decide(OfferDeclined, "declined: this computer accepts no offers"), nil
	}
	// The timer is set before the offer is shown, so that whoever sees it
	// pending sees it expire.
	expired, stop := e.offers.clock.Timer(o.Expires.Sub(e.offers.clock.Now()))
	defer stop()
	e.emit(Event{Kind: OfferUpdated, Offer: *o})
	select {
	case yes := <-r.answer:
		if yes {
			return decide(OfferAccepted, "accepted"), nil
		}
		return decide(OfferDeclined, "declined"), nil
	case <-expired:
		return decide(OfferExpired, "expired: nobody answered"), nil
	case <-ctx.Done():
		decide(OfferCancelled, "cancelled by the sender")
		return false, ctx.Err()
	case <-e.life.Done():
		decide(OfferCancelled, "cancelled: Porch stopped")
		return false, e.life.Err()
	}
}

// offerProgress records how many bytes of an accepted offer have arrived,
// and from how many sources the current file is drawn.
func (e *Engine) offerProgress(id string, done int64, sources int) {
	o, ok := e.offers.update(id, func(r *offerRec) {
		if r.State == OfferAccepted {
			r.Done, r.Sources = done, max(r.Sources, sources)
		}
	})
	if ok {
		e.emit(Event{Kind: OfferUpdated, Offer: o})
	}
}

// offerEnded records the end of receiving an accepted offer: done when err
// is nil, failed (or cancelled, when the context ended) otherwise.
func (e *Engine) offerEnded(id string, err error) {
	o, ok := e.offers.update(id, func(r *offerRec) {
		if r.State.Final() {
			return
		}
		switch {
		case err == nil:
			r.State, r.Reason, r.Done = OfferDone, "received", r.Bytes
		case errors.Is(err, context.Canceled):
			r.State, r.Reason = OfferCancelled, "cancelled"
		default:
			r.State, r.Reason = OfferFailed, err.Error()
		}
	})
	if ok {
		e.log.Info("offer ended", "from", o.From.Name, "state", o.State, "reason", o.Reason)
		e.emit(Event{Kind: OfferUpdated, Offer: o})
	}
}
