package peer

import (
	"context"

	"porch/peer/discovery"
)

// Discoverer announces this peer and reports the neighbours it sees. The
// engine calls Run once, from Run, and SetName and SetAnnounce at any time
// (before Run too); those two must not block. *discovery.Discovery is the
// real one; tests pass one of their own through Options.Discovery.
type Discoverer interface {
	// Run announces (when asked to) and reports neighbours until ctx ends,
	// then returns nil. found is called from one goroutine at a time with
	// the latest announcement of another peer; a call means "seen now".
	// Departures are not reported: the engine learns of them from
	// goodbyes and failed probes.
	Run(ctx context.Context, found func(discovery.Announcement)) error
	// SetName changes the announced display name.
	SetName(name string)
	// SetAnnounce starts (true) or stops (false) announcing this peer.
	SetAnnounce(on bool)
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
