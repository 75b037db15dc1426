// Package wire is Porch's protocol between peers, version 1 (PROTOCOL.md): the
// HTTPS Server that serves what a [Library] lists, the [Client] that talks to
// one remote peer, the message formats, and the limits both sides keep. It
// carries offers too (offers.go): a sender describes what it offers, the
// receiver's status comes back, and the offered items are served under an
// offer's own prefix to the receiver only, through hooks the engine sets.
//
// The server validates every path and content id from the wire before it
// touches the library, bounds connections, request sizes and time, and shares
// upload slots fairly between peers. Each request is answered from the
// Library as its caller may see it (ServerOptions.ViewFor, keyed by the
// caller's certificate fingerprint): what it may not see is answered exactly
// as what does not exist. The client treats every response as
// hostile input: sizes, names, pages and bodies are checked and bounded.
//
// The package knows nothing of the engine that uses it: no peer table, no
// discovery, no downloads spanning several peers (see package peer), and
// nothing of any GUI.
package wire
