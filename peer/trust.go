package peer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
	"porch/share"
)

// pairEvery is how often one neighbour may ask this machine's user to pair;
// more often is refused as busy, so no neighbour can flood the window with
// dialogs.
const pairEvery = 10 * time.Second

// ErrNotTrusted is returned by Untrust for a peer that is not trusted.
var ErrNotTrusted = errors.New("not a trusted neighbour")

// TrustedPeer is a neighbour the user paired with.
type TrustedPeer struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`        // as seen now, or when trusted if it is away
	Fingerprint string    `json:"fingerprint"` // the key it had when trusted
	Since       time.Time `json:"since"`
	Online      bool      `json:"online"`
	KeyChanged  bool      `json:"key_changed,omitempty"` // it presents another key now: the trust does not hold
}

// pairLimit remembers when each neighbour last asked to pair; mu guards it.
type pairLimit struct {
	mu   sync.Mutex
	last map[string]time.Time // by peer id
}

// PairingCode returns the six-digit code that this machine and the
// neighbour both show for each other (PROTOCOL.md, "Pairing code"): the
// users compare them to know that each sees the other's real key.
func (e *Engine) PairingCode(peerID string) (string, error) {
	p, ok := e.peers.get(peerID)
	if !ok || !p.Online {
		return "", fmt.Errorf("%w with id %s", ErrNoPeer, peerID)
	}
	return identity.PairingCode(e.id.Fingerprint, p.Fingerprint), nil
}

// RequestPairing asks an online neighbour to show its user the pairing code
// too, so both users can compare and confirm.
func (e *Engine) RequestPairing(ctx context.Context, peerID string) error {
	c, info, err := e.peers.client(peerID)
	if err != nil {
		return err
	}
	if err := c.Pair(ctx); err != nil {
		return friendly(info, err)
	}
	return nil
}

// pair handles a neighbour's pairing request: only a verified, online
// neighbour may ask, at most every pairEvery; the request reaches the
// subscribers as a PairRequested event.
func (e *Engine) pair(fp string) error {
	var asker *PeerInfo
	for _, p := range e.peers.list() {
		if p.Online && p.Fingerprint == fp {
			asker = &p
			break
		}
	}
	if asker == nil {
		return share.ErrNotFound
	}
	e.pairs.mu.Lock()
	if e.pairs.last == nil {
		e.pairs.last = map[string]time.Time{}
	}
	if time.Since(e.pairs.last[asker.ID]) < pairEvery {
		e.pairs.mu.Unlock()
		return fmt.Errorf("%w: asked to pair less than %v ago", wire.ErrBusy, pairEvery)
	}
	e.pairs.last[asker.ID] = time.Now()
	e.pairs.mu.Unlock()
	e.log.Info("neighbour asks to pair", "id", asker.ID, "name", asker.Name)
	e.emit(Event{Kind: PairRequested, Peer: *asker})
	return nil
}

// Trust trusts an online neighbour with the key it presents now. Call it
// once the user has compared the pairing codes. If the neighbour's key ever
// changes, the trust no longer holds.
func (e *Engine) Trust(peerID string) error {
	p, ok := e.peers.get(peerID)
	if !ok || !p.Online {
		return fmt.Errorf("%w with id %s: a neighbour must be on the network to be trusted", ErrNoPeer, peerID)
	}
	if err := e.db.Trust(p.ID, p.Fingerprint, p.Name, time.Now()); err != nil {
		return err
	}
	e.log.Info("neighbour trusted", "id", p.ID, "name", p.Name)
	e.trustChanged()
	p.Trusted = true
	e.emit(Event{Kind: PeerUpdated, Peer: p})
	return nil
}

// Untrust ends the trust in a neighbour, named by id or id prefix among the
// trusted ones, or by the name of an online one; it works while the
// neighbour is away too.
func (e *Engine) Untrust(ref string) (TrustedPeer, error) {
	t, err := e.findTrusted(ref)
	if err != nil {
		return TrustedPeer{}, err
	}
	if err := e.db.Untrust(t.ID); err != nil {
		return TrustedPeer{}, err
	}
	e.log.Info("neighbour no longer trusted", "id", t.ID, "name", t.Name)
	e.trustChanged()
	if p, ok := e.peers.get(t.ID); ok {
		e.emit(Event{Kind: PeerUpdated, Peer: p})
	}
	return t, nil
}

// findTrusted resolves ref among the trusted peers.
func (e *Engine) findTrusted(ref string) (TrustedPeer, error) {
	all, err := e.TrustedPeers()
	if err != nil {
		return TrustedPeer{}, err
	}
	var found []TrustedPeer
	for _, t := range all {
		if t.ID == ref || (len(ref) >= minIDPrefix && strings.HasPrefix(t.ID, strings.ToLower(ref))) ||
			strings.EqualFold(t.Name, ref) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return TrustedPeer{}, fmt.Errorf("%w called %q (see 'porch trust ls')", ErrNotTrusted, ref)
	case 1:
		return found[0], nil
	}
	return TrustedPeer{}, fmt.Errorf("%w %q: %d trusted neighbours match; name one by its id", ErrAmbiguous, ref, len(found))
}

// TrustedPeers lists the trusted neighbours, oldest trust first, with what
// the peer table knows of them now.
func (e *Engine) TrustedPeers() ([]TrustedPeer, error) {
	recs, err := e.db.Trusted()
	if err != nil {
		return nil, err
	}
	out := make([]TrustedPeer, 0, len(recs))
	for _, r := range recs {
		t := TrustedPeer{ID: r.ID, Name: r.Name, Fingerprint: r.Fingerprint, Since: r.Since}
		if p, ok := e.peers.get(r.ID); ok {
			t.Name, t.Online = p.Name, p.Online
			t.KeyChanged = p.KeyChanged || (p.Fingerprint != "" && p.Fingerprint != r.Fingerprint)
		}
		out = append(out, t)
	}
	return out, nil
}

// IsTrusted reports whether peer id is trusted with key fp.
func (e *Engine) IsTrusted(id, fp string) bool {
	recs, err := e.db.Trusted()
	if err != nil {
		e.log.Warn("reading trusted peers", "err", err)
		return false
	}
	for _, r := range recs {
		if r.ID == id {
			return r.Fingerprint == fp
		}
	}
	return false
}

// ForgetKey forgets the key remembered for a neighbour refused because its
// key changed (named by name or id prefix, as Resolve takes it), and any
// trust given to its old key, so that the key it presents next is accepted
// and remembered anew. Do it only when the neighbour is known to have been
// reinstalled or to have lost its data folder: otherwise a changed key means
// someone else answers in its name.
func (e *Engine) ForgetKey(ref string) (PeerInfo, error) {
	var match []PeerInfo
	for _, p := range e.peers.list() {
		if p.KeyChanged && (strings.EqualFold(p.Name, ref) || p.ID == ref ||
			(len(ref) >= minIDPrefix && strings.HasPrefix(p.ID, strings.ToLower(ref)))) {
			match = append(match, p)
		}
	}
	switch len(match) {
	case 0:
		return PeerInfo{}, fmt.Errorf("%w refused for a changed key called %q (see 'porch peers')", ErrNoPeer, ref)
	case 1:
	default:
		return PeerInfo{}, fmt.Errorf("%w %q: %d neighbours with changed keys match; name one by its id", ErrAmbiguous, ref, len(match))
	}
	p := match[0]
	if err := e.known.Forget(p.ID); err != nil {
		return PeerInfo{}, err
	}
	if err := e.db.Untrust(p.ID); err != nil {
		return PeerInfo{}, err
	}
	e.trustChanged()
	e.log.Warn("forgot a neighbour's old key; its new key will be accepted", "id", p.ID, "name", p.Name)
	// Verify it again at once, learning the key it presents now.
	a := discovery.Announcement{ID: p.ID, Name: p.Name, Fingerprint: p.Fingerprint, Port: p.Port}
	for _, s := range p.Addrs {
		if ip, err := netip.ParseAddr(s); err == nil {
			a.Addrs = append(a.Addrs, ip)
		}
	}
	e.found(a)
	return p, nil
}
