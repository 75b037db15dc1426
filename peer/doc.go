// Package peer is Porch's embedded engine: it ties this machine's share
// library, discovery, the table of neighbours and their liveness, downloads
// and the transfer list together behind one [Engine] with a Run/Close
// lifecycle. The protocol itself (server, client, formats, limits) lives in
// peer/wire, identities and trust in peer/identity, mDNS in peer/discovery
// and the multi-source block fetcher in peer/swarm.
//
// The package knows nothing of any GUI: the window and the command line are
// two faces over the same Engine methods and events.
package peer
