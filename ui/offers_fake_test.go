package ui

import (
	"context"

	"porch/peer"
)

// sendCall is one Send the window made.
type sendCall struct {
	peerID string
	paths  []string
}

// offerFake is the offers part of fakeEngine: Send reports pending and then
// sendSteps, and returns sendErr; the answers to offers are recorded.
type offerFake struct {
	sends    []sendCall
	sendErr  error
	accepted []string
	declined []string
}

func (f *fakeEngine) Send(ctx context.Context, peerID string, paths []string, progress func(peer.SendProgress)) error {
	f.mu.Lock()
	f.offers.sends = append(f.offers.sends, sendCall{peerID, paths})
	err := f.offers.sendErr
	f.mu.Unlock()
	if progress != nil {
		progress(peer.SendProgress{State: peer.OfferPending, Total: 100})
		if err == nil {
			progress(peer.SendProgress{State: peer.OfferAccepted, Done: 50, Total: 100})
			progress(peer.SendProgress{State: peer.OfferDone, Done: 100, Total: 100})
		}
	}
	return err
}

func (f *fakeEngine) AcceptOffer(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offers.accepted = append(f.offers.accepted, id)
	return nil
}

func (f *fakeEngine) DeclineOffer(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offers.declined = append(f.offers.declined, id)
	return nil
}
