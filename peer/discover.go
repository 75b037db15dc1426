package peer

import (
	"context"

	"porch/peer/discovery"
)

// Discoverer announces this peer and reports the neighbours it sees. The
// engine calls Run once, from Run, and the other methods at any time (before
// Run too), from any goroutine; they must not block. *discovery.Discovery is
// the real one; tests pass one of their own through Options.Discovery.
type Discoverer interface {
	// Run announces (when asked to) and reports neighbours until ctx ends,
	// then returns nil. found is called from one goroutine at a time with
	// the latest announcement of another peer; a call means "seen now".
	// asked is called with the id of a neighbour someone asked the network
	// about (another peer's Check). Departures are not reported: the engine
	// learns of them from goodbyes and failed probes.
	Run(ctx context.Context, found func(discovery.Announcement), asked func(id string)) error
	// SetName changes the announced display name.
	SetName(name string)
	// SetAnnounce starts (true) or stops (false) announcing this peer.
	SetAnnounce(on bool)
	// SetIndex changes the announced version of this peer's index; the
	// Discoverer may announce it later, coalescing changes.
	SetIndex(v uint64)
	// Check asks the network whether neighbour id is still there; a live
	// one answers every peer (a found call), and the others hear the
	// question (an asked call).
	Check(id string)
	// Forget tells the Discoverer that the engine dropped neighbour id, so
	// that it is reported again when it is next heard.
	Forget(id string)
}

// mdns is the default Options.Discovery: DNS-SD over multicast on the
// configured interfaces.
func (e *Engine) mdns(self discovery.Announcement, announce bool) (Discoverer, error) {
	return discovery.New(discovery.Options{
		Self:     self,
		Ifaces:   e.opts.Ifaces,
		Announce: announce,
		Logger:   e.log,
	})
}
