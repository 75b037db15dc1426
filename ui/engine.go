// Package ui is Porch's main window: the neighbours list, "My shares" with
// its drop zone and leak guard, browsing and searching neighbours, the
// downloads panel, settings, keyboard shortcuts, notifications and the
// system tray menu.
//
// [Run] creates the Fyne app, the window and, when a session bus answers, the
// tray, and runs the engine beside them. The views themselves know only the
// small [Engine] interface: [Adapter] presents the real *peer.Engine through
// it, and the tests pass a fake. Every widget change that starts from an
// engine callback or a background goroutine goes through fyne.Do. The
// command line, the other face of the same engine, is package ui/cli;
// both word sizes and speeds through package ui/human.
package ui

import (
	"context"

	"porch/peer"
	"porch/share"
)

// Engine is what the window needs from Porch's peer engine. Methods may be
// called from the UI goroutine and from goroutines the window starts; an
// implementation must be safe for concurrent use. Calls that may wait on the
// network (List, Search, AddPeer) take a context and are never made on the
// UI goroutine; the others should return promptly.
type Engine interface {
	// Self describes this computer as neighbours see it.
	Self() Peer
	// Peers lists known neighbours, this computer excluded.
	Peers() []Peer
	// Subscribe calls fn for every event until cancel is called. fn may be
	// called from any goroutine and must not block.
	Subscribe(fn func(Event)) (cancel func())

	// List returns the entries directly inside path ("" is the top) of a
	// neighbour's shared tree.
	List(ctx context.Context, peerID, path string) ([]share.Entry, error)
	// Search asks every neighbour at once, one result per distinct file.
	// update, when not nil, gets the results so far each time a neighbour
	// answers (from any goroutine, one call at a time); Search returns the
	// final results once every neighbour answered or gave up.
	Search(ctx context.Context, text string, update func([]SearchResult)) ([]SearchResult, error)
	// AddPeer connects to a neighbour by "host:port" that discovery missed.
	AddPeer(ctx context.Context, addr string) (Peer, error)

	// PairingCode is the six-digit code this computer and the neighbour
	// both show for each other.
	PairingCode(peerID string) (string, error)
	// RequestPairing asks the neighbour to show its user the code too.
	RequestPairing(ctx context.Context, peerID string) error
	// Trust trusts the neighbour with the key it presents now; Untrust
	// ends it.
	Trust(peerID string) error
	Untrust(peerID string) error
	// ForgetKey forgets the old key of a neighbour refused for a changed
	// key, so that its new key is accepted.
	ForgetKey(peerID string) error

	// Shares lists this computer's shared items.
	Shares() []ShareItem
	// AddShares shares local files or folders; secrets found in them are
	// excluded.
	AddShares(paths ...string) ([]ShareItem, error)
	// RemoveShare stops sharing an item, given by its path or name.
	RemoveShare(pathOrName string) error
	// SetShareVisibility changes who may see a shared item, given by its
	// path or name.
	SetShareVisibility(pathOrName string, v share.Visibility) error
	// ChosenPeer pins an online neighbour, by the key it presents now, for
	// a share kept for chosen neighbours.
	ChosenPeer(peerID string) (share.ChosenPeer, error)
	// RescanShares looks through every shared item again for changes the
	// system did not report; it may take a while on a large share.
	RescanShares() error
	// FindSecrets lists files under path that look like secrets (keys,
	// password stores, .env files) and would be excluded from sharing.
	// It may walk a large folder; the window calls it off the UI goroutine.
	FindSecrets(path string) []string
	// Secrets lists the shared files whose content looks like a secret:
	// held back until reviewed, kept private, or released. It is one small
	// query of the database.
	Secrets() []share.SecretFile
	// DecideSecret releases a file Secrets lists (it is shared after all)
	// or keeps it private (not shared, not asked about again), by its
	// shared path. It rescans the shares; the window calls it off the UI
	// goroutine.
	DecideSecret(path string, release bool) error

	// Download starts fetching a neighbour's file or folder into the
	// download folder and returns the transfer's id.
	Download(peerID, path string) (transferID string, err error)
	// Transfers lists current and finished transfers, oldest first.
	Transfers() []Transfer
	// Pause, Resume and Cancel control one transfer.
	Pause(id string) error
	Resume(id string) error
	Cancel(id string) error

	// Settings returns the current settings; SetSettings applies and saves
	// them.
	Settings() Settings
	SetSettings(Settings) error

	// Send offers local files and folders to a neighbour and returns once
	// it has them all, or with why not (declined, expired, failed, or ctx
	// ended: withdrawn). progress, when not nil, hears how it goes, from
	// any goroutine.
	Send(ctx context.Context, peerID string, paths []string, progress func(peer.SendProgress)) error
	// AcceptOffer and DeclineOffer answer an offer a neighbour made.
	AcceptOffer(id string) error
	DeclineOffer(id string) error

	// Fetch downloads what a LocalSend device (a Peer with LocalSend set
	// and Download true) offers for download into the download folder,
	// and returns the number of files and bytes kept.
	Fetch(ctx context.Context, peerID string) (files int, bytes int64, err error)
	// SetDevicePIN sets the PIN Send and Fetch give a LocalSend device
	// that asks for one ("" for none), until the window closes.
	SetDevicePIN(peerID, pin string)
}

// Peer is one computer on the network as the window shows it.
type Peer struct {
	ID         string
	Name       string
	Online     bool
	Files      int   // files it shares
	Bytes      int64 // bytes it shares
	Addrs      []string
	KeyChanged bool   // its key differs from the one seen before
	Index      uint64 // version of its index: what it lists may differ only when this changes (0: not told)
	Trusted    bool   // paired with, and still presenting the key it had then

	// A LocalSend device (its ID is "localsend:" and its fingerprint):
	// it can be sent to, not browsed.
	LocalSend   bool
	DeviceType  string // mobile, desktop, web, headless or server
	DeviceModel string
	Download    bool // it offers files for download (Fetch)
}

// EventKind says what an [Event] is about.
type EventKind int

// Kinds of events.
const (
	PeerAdded       EventKind = iota + 1 // Event.Peer appeared
	PeerUpdated                          // Event.Peer changed (name, online, counts)
	PeerRemoved                          // Event.Peer is gone; only its ID is needed
	SharesChanged                        // Shares() changed: items added, removed, hashing progressed
	TransferUpdated                      // Event.Transfer changed state or progressed
	SettingsChanged                      // Settings() or Self() changed
	PairRequested                        // Event.Peer asks to compare the pairing code
	OfferUpdated                         // Event.Offer arrived, was decided, progressed or ended
	MessageReceived                      // Event.Message is a text message from a LocalSend device
	DevicesChanged                       // the LocalSend devices among Peers() changed
)

// Event is one change reported by the engine.
type Event struct {
	Kind     EventKind
	Peer     Peer
	Transfer Transfer
	Offer    peer.Offer   // for OfferUpdated
	Message  peer.Message // for MessageReceived
}

// SearchResult is one file found on one or more neighbours.
type SearchResult struct {
	Entry share.Entry
	Peers []Peer // the neighbours that have it; Entry.Path is its path on the first
}

// ShareItem is one file or folder this computer shares.
type ShareItem struct {
	Name        string
	Path        string // local path
	Dir         bool
	Files       int
	Bytes       int64
	HashedBytes int64            // hashing progress; equal to Bytes when done
	Secrets     []string         // files excluded by the leak guard
	Held        int              // files held back because their content looks like a secret
	Err         string           // why the item cannot be shared, if it cannot
	Unwatched   string           // why changes to it are found only by periodic rescans, if so
	To          share.Visibility // which neighbours may see it
}

// Transfer is one download.
type Transfer struct {
	ID        string
	Name      string // file or folder name
	Folder    bool   // a folder download (known once it has started)
	PeerID    string // the neighbour it was started from
	PeerName  string
	Path      string // path on that neighbour
	FinalPath string // local path, once known
	Done      int64
	Total     int64
	Rate      float64 // bytes per second, recent average
	Sources   int     // neighbours currently sending
	State     peer.TransferState
	Err       string // why it failed, in plain words
}

// Settings are the user's choices.
type Settings struct {
	Name        string // display name on the network
	DownloadDir string
	Visible     bool              // announce this computer on the network
	MaxUpload   int64             // bytes per second; 0 means unlimited
	Accept      peer.AcceptPolicy // which offers from neighbours are taken without asking

	LocalSendOff bool   // do not speak LocalSend
	LocalSendPIN string // PIN LocalSend senders must give; "" for none
}
