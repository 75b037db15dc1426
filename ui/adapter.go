package ui

import (
	"context"

	"fyne.io/fyne/v2"

	"porch/peer"
	"porch/share"
)

// Preference keys of the settings the window stores.
const (
	prefName        = "name"
	prefDownloadDir = "downloadDir"
	prefVisible     = "visible"
	prefMaxUpload   = "maxUpload"
)

// Adapter presents a *peer.Engine as the window's [Engine] and keeps the
// settings in Fyne preferences. It is safe for concurrent use.
type Adapter struct {
	e     *peer.Engine
	prefs fyne.Preferences
}

// NewAdapter wraps an engine and applies the settings saved in prefs to it.
// A name given on the command line (nameFlag) wins over the saved one.
func NewAdapter(e *peer.Engine, prefs fyne.Preferences, nameFlag string) *Adapter {
	a := &Adapter{e: e, prefs: prefs}
	s := a.Settings()
	if nameFlag != "" {
		s.Name = nameFlag
	}
	a.apply(s)
	return a
}

func peerOf(p peer.PeerInfo) Peer {
	return Peer{ID: p.ID, Name: p.Name, Online: p.Online, Files: p.Files, Bytes: p.Bytes, Addrs: p.Addrs, KeyChanged: p.KeyChanged}
}

func transferOf(t peer.TransferInfo) Transfer {
	return Transfer{ID: t.ID, Name: t.Name, Folder: t.Folder, PeerID: t.PeerID, PeerName: t.PeerName, Path: t.Path,
		FinalPath: t.FinalPath, Done: t.Done, Total: t.Total, Rate: t.Rate, Sources: t.Sources, State: t.State, Err: t.Err}
}

// Self implements Engine.
func (a *Adapter) Self() Peer {
	p := Peer{ID: a.e.ID(), Name: a.e.Name(), Online: true}
	if lib := a.e.Library(); lib != nil {
		p.Files, p.Bytes = lib.Totals()
	}
	return p
}

// Peers implements Engine.
func (a *Adapter) Peers() []Peer {
	var out []Peer
	for _, p := range a.e.Peers() {
		out = append(out, peerOf(p))
	}
	return out
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
		}
	})
}

// List implements Engine.
func (a *Adapter) List(ctx context.Context, peerID, path string) ([]share.Entry, error) {
	return a.e.List(ctx, peerID, path)
}

// Search implements Engine.
func (a *Adapter) Search(ctx context.Context, text string) ([]SearchResult, error) {
	res, err := a.e.Search(ctx, text)
	out := make([]SearchResult, 0, len(res))
	for _, r := range res {
		sr := SearchResult{Entry: r.Entry}
		for _, p := range r.Peers {
			sr.Peers = append(sr.Peers, Peer{ID: p.ID, Name: p.Name, Online: true})
		}
		out = append(out, sr)
	}
	return out, err
}

// AddPeer implements Engine.
func (a *Adapter) AddPeer(ctx context.Context, addr string) (Peer, error) {
	p, err := a.e.AddPeer(ctx, addr)
	return peerOf(p), err
}

// Shares implements Engine.
func (a *Adapter) Shares() []ShareItem {
	lib := a.e.Library()
	if lib == nil {
		return nil
	}
	var out []ShareItem
	for _, it := range lib.Items() {
		top, _ := lib.Stat(it.Name)
		out = append(out, ShareItem{Name: it.Name, Path: it.Path, Dir: top.Dir, Files: it.Files, Bytes: it.Bytes,
			HashedBytes: it.HashedBytes, Secrets: it.Secrets, Err: it.Err})
	}
	return out
}

// AddShares implements Engine.
func (a *Adapter) AddShares(paths ...string) ([]ShareItem, error) {
	added, err := a.e.Library().Add(paths...)
	if err != nil {
		return nil, err
	}
	var out []ShareItem
	for _, s := range a.Shares() {
		for _, it := range added {
			if it.Path == s.Path {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// RemoveShare implements Engine.
func (a *Adapter) RemoveShare(pathOrName string) error { return a.e.Library().Remove(pathOrName) }

// FindSecrets implements Engine.
func (a *Adapter) FindSecrets(path string) []string {
	found, _ := share.FindSecrets(path, 50)
	return found
}

// Download implements Engine.
func (a *Adapter) Download(peerID, path string) (string, error) {
	t, err := a.e.Transfers().Start(peerID, path, a.Settings().DownloadDir)
	return t.ID, err
}

// Transfers implements Engine.
func (a *Adapter) Transfers() []Transfer {
	var out []Transfer
	for _, t := range a.e.Transfers().List() {
		out = append(out, transferOf(t))
	}
	return out
}

// Pause implements Engine.
func (a *Adapter) Pause(id string) error { return a.e.Transfers().Pause(id) }

// Resume implements Engine.
func (a *Adapter) Resume(id string) error { return a.e.Transfers().Resume(id) }

// Cancel implements Engine.
func (a *Adapter) Cancel(id string) error { return a.e.Transfers().Cancel(id) }

// Settings implements Engine.
func (a *Adapter) Settings() Settings {
	return Settings{
		Name:        a.prefs.StringWithFallback(prefName, a.e.Name()),
		DownloadDir: a.prefs.StringWithFallback(prefDownloadDir, a.e.DownloadDir()),
		Visible:     a.prefs.BoolWithFallback(prefVisible, true),
		MaxUpload:   int64(a.prefs.IntWithFallback(prefMaxUpload, 0)),
	}
}

// SetSettings implements Engine.
func (a *Adapter) SetSettings(s Settings) error {
	a.prefs.SetString(prefName, s.Name)
	a.prefs.SetString(prefDownloadDir, s.DownloadDir)
	a.prefs.SetBool(prefVisible, s.Visible)
	a.prefs.SetInt(prefMaxUpload, int(s.MaxUpload))
	a.apply(s)
	return nil
}

// apply hands the settings to the engine.
func (a *Adapter) apply(s Settings) {
	if s.Name != "" {
		a.e.SetName(s.Name)
	}
	a.e.SetHidden(!s.Visible)
	a.e.SetMaxUpload(s.MaxUpload)
}
