package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"porch/peer/identity"
	"porch/peer/wire"
	"porch/share"
)

// Receiving an offer from a Porch peer (PROTOCOL.md, "Offers"): the sender
// POSTs what it offers; the offer is decided like any other (decide); once
// accepted, its items are fetched from the sender under the offer's scope
// (/v1/offered/TOKEN/), with the download of Get, and from any other
// neighbour that holds the same content.

// recvCancels holds the cancel function of every Porch offer being decided
// or received, by offer id, so that the sender can withdraw it; mu guards it.
type recvCancels struct {
	mu sync.Mutex
	m  map[string]context.CancelFunc
}

// offerIn is the server's Offer hook: an offer from the caller with
// certificate fp, reached at remote.
func (e *Engine) offerIn(fp string, remote netip.Addr, req wire.OfferRequest) (wire.OfferStatus, error) {
	if o, ok := e.offers.findToken(SenderPorch, fp, req.ID); ok {
		return statusOf(o), nil // the same offer again: idempotent
	}
	// Nothing is remembered of a sender before its offer is accepted (the
	// download pins its key then); a key that differs from the one
	// remembered for its id is refused.
	if old, ok := e.known.Lookup(req.From.ID); ok && old != fp {
		return wire.OfferStatus{}, fmt.Errorf("%w: %w: %s presents another key than before", wire.ErrBadRequest, identity.ErrKeyChanged, req.From.ID)
	}
	name := req.From.Name
	for _, p := range e.peers.list() {
		if p.ID == req.From.ID && p.Fingerprint == fp && p.Name != "" {
			name = p.Name // as this machine knows it
		}
	}
	addr := net.JoinHostPort(remote.String(), strconv.Itoa(req.From.Port))
	o := Offer{
		From: OfferSender{ID: req.From.ID, Name: name, Fingerprint: fp, Kind: SenderPorch,
			Trusted: e.IsTrusted(req.From.ID, fp), Addr: addr},
		Items: make([]OfferItem, len(req.Items)),
	}
	for i, it := range req.Items {
		o.Items[i] = OfferItem{Name: it.Name, Size: it.Size, Dir: it.Dir, Files: it.Files}
	}
	r, err := e.fileOffer(&o, req.ID)
	if err != nil {
		if errors.Is(err, ErrBadOffer) {
			err = fmt.Errorf("%w: %w", wire.ErrBadRequest, err)
		}
		return wire.OfferStatus{}, err
	}
	ctx, cancel := context.WithCancel(e.life)
	e.recv.mu.Lock()
	if e.recv.m == nil {
		e.recv.m = map[string]context.CancelFunc{}
	}
	e.recv.m[o.ID] = cancel
	e.recv.mu.Unlock()
	started := e.spawn(func(context.Context) {
		defer func() {
			e.recv.mu.Lock()
			delete(e.recv.m, o.ID)
			e.recv.mu.Unlock()
			cancel()
		}()
		d := o
		ok, err := e.decide(ctx, r, &d)
		if err != nil || !ok {
			return
		}
		e.offerEnded(d.ID, e.receiveOffer(ctx, d, req.ID, addr))
	})
	if !started {
		cancel()
		e.offerEnded(o.ID, context.Canceled)
		return wire.OfferStatus{}, fmt.Errorf("%w: shutting down", wire.ErrBusy)
	}
	return statusOf(o), nil
}

// receiveOffer fetches every item of an accepted offer from its sender at
// addr into the offer's folder.
func (e *Engine) receiveOffer(ctx context.Context, o Offer, token, addr string) error {
	c := wire.NewClient(e.id, e.known, wire.Remote{ID: o.From.ID, Name: o.From.Name, Fingerprint: o.From.Fingerprint,
		Addrs: []string{addr}, Scope: wire.OfferedScope(token)})
	defer c.Close()
	info := PeerInfo{ID: o.From.ID, Name: o.From.Name, Fingerprint: o.From.Fingerprint}
	var before int64 // bytes of the items done
	for i := range o.Items {
		it := o.Items[i]
		j := &getJob{e: e, origin: c, info: info, bound: &it, onProg: func(p GetProgress) {
			e.offerProgress(o.ID, before+p.Done, p.Sources)
		}}
		res, err := e.getFrom(ctx, j, it.Name, o.Dir)
		if err != nil {
			return fmt.Errorf("%s: %w", it.Name, err)
		}
		before += res.Bytes + res.SkippedBytes
		e.offerProgress(o.ID, before, res.Sources)
		e.log.Info("offered item received", "from", o.From.Name, "item", res.Target, "files", res.Files, "bytes", res.Bytes)
	}
	return nil
}

// offerStatusIn is the server's OfferStatus hook.
func (e *Engine) offerStatusIn(fp, token string) (wire.OfferStatus, error) {
	o, ok := e.offers.findToken(SenderPorch, fp, token)
	if !ok {
		return wire.OfferStatus{}, fmt.Errorf("%w: no such offer", share.ErrNotFound)
	}
	return statusOf(o), nil
}

// offerCancelIn is the server's OfferCancel hook: the sender withdraws an
// offer, pending or being received.
func (e *Engine) offerCancelIn(fp, token string) error {
	o, ok := e.offers.findToken(SenderPorch, fp, token)
	if !ok {
		return fmt.Errorf("%w: no such offer", share.ErrNotFound)
	}
	e.recv.mu.Lock()
	cancel := e.recv.m[o.ID]
	e.recv.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// statusOf is what the wire says of an offer.
func statusOf(o Offer) wire.OfferStatus {
	return wire.OfferStatus{State: string(o.State), Done: o.Done, Total: o.Bytes, Expires: o.Expires, Reason: o.Reason}
}
