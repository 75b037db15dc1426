package ui

import (
	"context"

	"porch/peer"
	"porch/share"
)

// Adapter presents a *peer.Engine as the window's [Engine]. It holds no
// state of its own but the PINs given for LocalSend devices: settings live
// in the engine, under its data folder. It is safe for concurrent use.
type Adapter struct {
	e    *peer.Engine
	pins devicePINs // the PINs LocalSend devices asked for, given in the window
}

// NewAdapter wraps an engine.
func NewAdapter(e *peer.Engine) *Adapter {
	return &Adapter{e: e, pins: devicePINs{m: map[string]string{}}}
}

func peerOf(p peer.PeerInfo) Peer {
	return Peer{ID: p.ID, Name: p.Name, Online: p.Online, Files: p.Files, Bytes: p.Bytes, Addrs: p.Addrs, KeyChanged: p.KeyChanged, Index: p.Index, Trusted: p.Trusted}
}

func transferOf(t peer.TransferInfo) Transfer {
	return Transfer{ID: t.ID, Name: t.Name, Folder: t.Folder, PeerID: t.PeerID, PeerName: t.PeerName, Path: t.Path,
		FinalPath: t.FinalPath, Done: t.Done, Total: t.Total, Rate: t.Rate, Sources: t.Sources, State: t.State, Err: t.Err}
}

func shareOf(s peer.ShareInfo) ShareItem {
	return ShareItem{Name: s.Name, Path: s.Path, Dir: s.Dir, Files: s.Files, Bytes: s.Bytes,
		HashedBytes: s.HashedBytes, Secrets: s.Secrets, Held: s.Held, Err: s.Err, Unwatched: s.Unwatched, To: s.To}
}

// Self implements Engine.
func (a *Adapter) Self() Peer {
	p := Peer{ID: a.e.ID(), Name: a.e.Name(), Online: true}
	p.Files, p.Bytes = a.e.Totals()
	return p
}

// Peers implements Engine.
func (a *Adapter) Peers() []Peer {
	var out []Peer
	for _, p := range a.e.Peers() {
		out = append(out, peerOf(p))
	}
	return append(out, a.devices()...)
}

// Subscribe implements Engine.
func (a *Adapter) Subscribe(fn func(Event)) func() {
	return a.e.Subscribe(func(ev peer.Event) {
		switch ev.Kind {
		case peer.PeerAdded:
			fn(Event{Kind: PeerAdded, Peer: peerOf(ev.Peer)})
		case peer.PeerUpdated:
			fn(Event{Kind: PeerUpdated, Peer: peerOf(ev.Peer)})
		case peer.PeerRemoved:
			fn(Event{Kind: PeerRemoved, Peer: peerOf(ev.Peer)})
		case peer.SharesChanged:
			fn(Event{Kind: SharesChanged})
		case peer.TransferUpdated:
			fn(Event{Kind: TransferUpdated, Transfer: transferOf(ev.Transfer)})
		case peer.SettingsChanged:
			fn(Event{Kind: SettingsChanged})
		case peer.PairRequested:
			fn(Event{Kind: PairRequested, Peer: peerOf(ev.Peer)})
		case peer.OfferUpdated:
			fn(Event{Kind: OfferUpdated, Offer: ev.Offer})
		case peer.MessageReceived:
			fn(Event{Kind: MessageReceived, Message: ev.Message})
		case peer.DevicesChanged:
			fn(Event{Kind: DevicesChanged})
		}
	})
}

// List implements Engine.
func (a *Adapter) List(ctx context.Context, peerID, path string) ([]share.Entry, error) {
	return a.e.List(ctx, peerID, path)
}

// Search implements Engine.
func (a *Adapter) Search(ctx context.Context, text string, update func([]SearchResult)) ([]SearchResult, error) {
	var each func([]peer.SearchResult, int, int)
	if update != nil {
		each = func(res []peer.SearchResult, _, _ int) { update(searchResultsOf(res)) }
	}
	res, err := a.e.SearchEach(ctx, text, each)
	return searchResultsOf(res), err
}

func searchResultsOf(res []peer.SearchResult) []SearchResult {
	out := make([]SearchResult, 0, len(res))
	for _, r := range res {
		sr := SearchResult{Entry: r.Entry}
		for _, p := range r.Peers {
			sr.Peers = append(sr.Peers, Peer{ID: p.ID, Name: p.Name, Online: true})
		}
		out = append(out, sr)
	}
	return out
}

// AddPeer implements Engine.
func (a *Adapter) AddPeer(ctx context.Context, addr string) (Peer, error) {
	p, err := a.e.AddPeer(ctx, addr)
	return peerOf(p), err
}

// Shares implements Engine.
func (a *Adapter) Shares() []ShareItem {
	var out []ShareItem
	for _, s := range a.e.Shares() {
		out = append(out, shareOf(s))
	}
	return out
}

// AddShares implements Engine.
func (a *Adapter) AddShares(paths ...string) ([]ShareItem, error) {
	added, err := a.e.AddShares(paths...)
	if err != nil {
		return nil, err
	}
	var out []ShareItem
	for _, s := range added {
		out = append(out, shareOf(s))
	}
	return out, nil
}

// PairingCode implements Engine.
func (a *Adapter) PairingCode(peerID string) (string, error) { return a.e.PairingCode(peerID) }

// RequestPairing implements Engine.
func (a *Adapter) RequestPairing(ctx context.Context, peerID string) error {
	return a.e.RequestPairing(ctx, peerID)
}

// Trust implements Engine.
func (a *Adapter) Trust(peerID string) error { return a.e.Trust(peerID) }

// Untrust implements Engine.
func (a *Adapter) Untrust(peerID string) error {
	_, err := a.e.Untrust(peerID)
	return err
}

// ForgetKey implements Engine.
func (a *Adapter) ForgetKey(peerID string) error {
	_, err := a.e.ForgetKey(peerID)
	return err
}

// RescanShares implements Engine.
func (a *Adapter) RescanShares() error { return a.e.RescanShares() }

// RemoveShare implements Engine.
func (a *Adapter) RemoveShare(pathOrName string) error { return a.e.RemoveShare(pathOrName) }

// SetShareVisibility implements Engine.
func (a *Adapter) SetShareVisibility(pathOrName string, v share.Visibility) error {
	_, err := a.e.SetShareVisibility(pathOrName, v)
	return err
}

// ChosenPeer implements Engine.
func (a *Adapter) ChosenPeer(peerID string) (share.ChosenPeer, error) { return a.e.ChosenPeer(peerID) }

// FindSecrets implements Engine.
func (a *Adapter) FindSecrets(path string) []string {
	found, _ := share.FindSecrets(path, 50)
	return found
}

// Download implements Engine: into the download folder of the settings.
func (a *Adapter) Download(peerID, path string) (string, error) {
	t, err := a.e.Download(peerID, path, "")
	return t.ID, err
}

// Transfers implements Engine.
func (a *Adapter) Transfers() []Transfer {
	var out []Transfer
	for _, t := range a.e.Transfers() {
		out = append(out, transferOf(t))
	}
	return out
}

// Pause implements Engine.
func (a *Adapter) Pause(id string) error { return a.e.PauseTransfer(id) }

// Resume implements Engine.
func (a *Adapter) Resume(id string) error { return a.e.ResumeTransfer(id) }

// Cancel implements Engine.
func (a *Adapter) Cancel(id string) error { return a.e.CancelTransfer(id) }

// Settings implements Engine.
func (a *Adapter) Settings() Settings {
	s := a.e.Settings()
	ls := a.e.LocalSendSettings()
	return Settings{Name: s.Name, DownloadDir: s.DownloadDir, Visible: s.Visible, MaxUpload: s.MaxUpload, Accept: s.Accept,
		LocalSendOff: ls.Off, LocalSendPIN: ls.PIN}
}

// SetSettings implements Engine.
func (a *Adapter) SetSettings(s Settings) error {
	if err := a.e.SetSettings(peer.Settings{Name: s.Name, DownloadDir: s.DownloadDir, Visible: s.Visible, MaxUpload: s.MaxUpload, Accept: s.Accept}); err != nil {
		return err
	}
	if ls := (peer.LocalSendSettings{Off: s.LocalSendOff, PIN: s.LocalSendPIN}); ls != a.e.LocalSendSettings() {
		return a.e.SetLocalSendSettings(ls)
	}
	return nil
}

// Send implements Engine.
func (a *Adapter) Send(ctx context.Context, peerID string, paths []string, progress func(peer.SendProgress)) error {
	if d, ok := a.device(peerID); ok {
		return a.sendToDevice(ctx, d, paths, progress)
	}
	_, err := a.e.Send(ctx, peerID, paths, progress)
	return err
}

// AcceptOffer implements Engine.
func (a *Adapter) AcceptOffer(id string) error { return a.e.AcceptOffer(id) }

// DeclineOffer implements Engine.
func (a *Adapter) DeclineOffer(id string) error { return a.e.DeclineOffer(id) }
