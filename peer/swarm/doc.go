// Package swarm downloads one file's blocks from several peers at once.
//
// It is a pull scheduler over range reads: missing blocks wait in a queue in
// file order (sequential, so the disk sees mostly forward writes); every
// source keeps a small window of requests in flight, which grows while a
// larger window still buys throughput and halves on errors and stalls, so a
// fast source ends up carrying more of the file than a slow one. Every block
// is checked against its hash by the sink as it is stored (on the goroutine
// that fetched it, so on every core), and a source whose block the sink
// refuses is identified and dropped at once. Near the end, sources
// that have gone idle duplicate the blocks still in flight elsewhere; the
// first verified copy wins and the others are cancelled.
//
// The package knows nothing of the network: a Source is anything that can
// fill a byte range of a content id, and a Sink is anything that stores
// blocks and reports which ones it still lacks (share.Partial is one). It
// never touches the disk itself, and its memory use is bounded by the number
// of requests in flight, not by the size of the file.
package swarm
