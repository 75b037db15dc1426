// Package peer is Porch's embedded engine: it ties this machine's share
// library, discovery, the table of neighbours and their liveness, downloads,
// the transfer list and the settings together behind one [Engine].
//
// The engine follows one lifecycle: [New] creates everything it uses (the
// library, the transfer list, the server and its listener, discovery),
// [Engine.Run] runs it until its context ends and releases it all before
// returning, and [Engine.Close] releases an engine that never ran. All state
// lives in the data folder, the settings included.
//
// Discovery comes in through the small [Discoverer] interface
// (Options.Discovery); by default it is mDNS through peer/discovery, and the
// tests run several engines in one process over an in-memory one. The
// protocol itself (server, client, formats, limits) lives in peer/wire,
// identities and trust in peer/identity, and the multi-source block fetcher
// in peer/swarm.
//
// Offers (offers.go) are files another machine wants to send here: every
// receiver, Porch's own or LocalSend's, files them through one decision
// (decideOffer) under one accept policy (Settings.Accept: ask, trusted, all,
// none), and the user answers pending ones with AcceptOffer and
// DeclineOffer; OfferUpdated events report them.
//
// LocalSend (localsend.go, with the protocol in peer/localsend) runs beside
// Porch's own protocol when Options.LocalSend is set: LocalSend devices are
// listed (LocalSendDevices, DevicesChanged events), sent to (SendToDevice),
// fetched from (FetchFromDevice), and what they send is an offer like any
// other; text messages come as MessageReceived events. Its settings
// (LocalSendSettings: off, PIN) are kept apart from Settings.
//
// The package knows nothing of any GUI: the window and the command line are
// two faces over the same Engine methods and events.
package peer
