// Package localsend speaks LocalSend's protocol (2.1 and 2.2) so that
// LocalSend phones and desktops can see Porch, send to it and receive from
// it: the JSON messages with their bounds (dto.go), the persistent
// certificate LocalSend fingerprints (cert.go), discovery by multicast on
// 224.0.0.167:53317 on chosen interfaces (multicast.go), the HTTPS server
// that answers register, info, prepare-upload, upload and cancel and writes
// what arrives into the download store (server.go, receive.go), and the
// client that registers, uploads to a device and fetches what a device
// offers for download (client.go).
//
// Everything a remote device sends is hostile until checked: bodies are
// bounded in bytes and time, names are validated component by component
// with package share's rules, files are written only through share.Store
// (os.Root, ".partial" then rename, never overwriting, no execute bits), and
// a sha256 a sender gives is checked before a file is kept.
//
// It does not decide whether an offer is accepted (Options.Decide does),
// keep a list of devices beyond what the caller gives it (Options.Seen
// reports each sign of life), speak IPv6 multicast, serve a download
// (prepare-download) of its own, or use LocalSend's unused v3 routes.
package localsend
