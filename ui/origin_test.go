package ui

import (
	"testing"

	"porch/peer"
)

// The downloads panel says who sent each file, for finished transfers too
// (those the engine reads back after a restart), and while it arrives from
// one neighbour.
func TestDownloadsSayWhoSentThem(t *testing.T) {
	f := newFakeEngine()
	f.transfers = []Transfer{
		{ID: "t1", Name: "notes.pdf", PeerID: alice.ID, PeerName: "alice", Path: "notes.pdf", State: peer.TransferDone,
			Done: 200_000, Total: 200_000, FinalPath: "/home/me/Downloads/notes.pdf"},
		{ID: "t2", Name: "song.flac", PeerID: alice.ID, PeerName: "alice", Path: "song.flac", State: peer.TransferRunning,
			Done: 1_000_000, Total: 4_000_000, Rate: 1_000_000, Sources: 1},
	}
	w := newTestWindow(t, f)
	if got, want := rowNamed(t, w, "notes.pdf").detail.Text, "Done · 200 KB from alice"; got != want {
		t.Errorf("finished: %q, want %q", got, want)
	}
	if got, want := rowNamed(t, w, "song.flac").detail.Text, "1.0 MB of 4.0 MB · 1.0 MB/s · 3 s left · from alice"; got != want {
		t.Errorf("running: %q, want %q", got, want)
	}
}
