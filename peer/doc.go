// Package peer is Porch's network side: the HTTPS transport between peers
// (Server and Client, protocol v1, described in PROTOCOL.md) and the engine
// that ties discovery, the peer table and downloads together. Identities and
// trust live in peer/identity, mDNS in peer/discovery and the multi-source
// block fetcher in peer/swarm.
//
// The transport serves only what a Library lists, validates every path and
// content id from the wire before it touches the library, bounds connections,
// request sizes and time, shares upload slots fairly between peers, and
// treats every response from another peer as hostile input.
//
// The package knows nothing of any GUI.
package peer
